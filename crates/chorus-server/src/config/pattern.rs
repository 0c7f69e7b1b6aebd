//! Regular expressions in the configuration, compiled when the file is read.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A regular expression option (`""` = none), compiled once when the file
/// is read. A pattern that does not compile keeps its error, which
/// [`ServerConfig::validate`](super::ServerConfig::validate) reports under
/// the option's key.
#[derive(Clone, Default)]
pub struct Pattern {
    text: String,
    compiled: Option<Result<Regex, String>>,
}

impl Pattern {
    /// Compiles `text`; the empty text is no pattern.
    pub fn new(text: &str) -> Self {
        let compiled = (!text.is_empty()).then(|| Regex::new(text).map_err(|e| e.to_string()));
        Self {
            text: text.to_owned(),
            compiled,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The compiled expression; `None` when unset or invalid.
    pub fn regex(&self) -> Option<&Regex> {
        self.compiled.as_ref()?.as_ref().ok()
    }

    /// Why the pattern does not compile; `None` when unset or valid.
    pub fn error(&self) -> Option<&str> {
        self.compiled.as_ref()?.as_ref().err().map(String::as_str)
    }
}

impl From<&str> for Pattern {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Pattern {}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::new(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn compiles_once_and_keeps_errors() {
        assert!(Pattern::new("").regex().is_none() && Pattern::new("").error().is_none());
        assert!(Pattern::new("^[a-z]+$").regex().unwrap().is_match("abc"));
        let bad = Pattern::new("(");
        assert!(bad.regex().is_none());
        assert!(bad.error().is_some());
        assert_eq!(bad, Pattern::from("("));
        assert_eq!(serde_json::to_string(&bad).unwrap(), r#""(""#);
    }
}
