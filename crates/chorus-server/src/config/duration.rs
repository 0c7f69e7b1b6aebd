//! Go-style durations (`"25s"`, `"1000ms"`, `"720h"`, `"1m30s"`, `"-1s"`).
//!
//! Centrifugo is written in Go and its configuration uses `time.Duration`, so
//! duration options are written with Go's `time.ParseDuration` syntax: an
//! optional sign followed by one or more `<number><unit>` groups, where the
//! number may have a fraction and the unit is one of `ns`, `us` (`µs`, `μs`),
//! `ms`, `s`, `m`, `h`. The bare string `"0"` is also accepted.
//!
//! **Integers.** Centrifugo decodes its configuration with `mapstructure`,
//! which turns a plain number given for a `time.Duration` field into that many
//! *nanoseconds*. We accept integers the same way (so a config that works in
//! Centrifugo means the same here), but the documented and recommended form
//! is always a string with a unit. Environment variables are strings and are
//! always parsed with the Go syntax.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_MICRO: i128 = 1_000;
const NANOS_PER_MILLI: i128 = 1_000_000;
const NANOS_PER_SEC: i128 = 1_000_000_000;
const NANOS_PER_MIN: i128 = 60 * NANOS_PER_SEC;
const NANOS_PER_HOUR: i128 = 60 * NANOS_PER_MIN;

/// A signed duration with nanosecond precision, written like Go's
/// `time.Duration` in configuration files.
///
/// Negative values exist because some options use them to mean "disabled"
/// (for example `client.ping_interval: "-1s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(i64);

impl GoDuration {
    /// The zero duration.
    pub const ZERO: GoDuration = GoDuration(0);

    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms * 1_000_000)
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs * 1_000_000_000)
    }

    /// A duration of `hours` hours.
    pub const fn from_hours(hours: i64) -> Self {
        Self(hours * 3_600_000_000_000)
    }

    /// The duration in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds (truncated toward zero).
    pub const fn as_secs(self) -> i64 {
        self.0 / 1_000_000_000
    }

    /// `true` for the zero duration.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `true` for negative durations (often meaning "disabled").
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The duration as [`std::time::Duration`], or `None` when negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// Why a duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationParseError {
    input: String,
    reason: &'static str,
}

impl std::str::FromStr for GoDuration {
    type Err = DurationParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_go_duration(s)
    }
}

/// Parses a duration in Go's `time.ParseDuration` syntax.
///
/// ```
/// use chorus_server::config::{parse_go_duration, GoDuration};
/// assert_eq!(parse_go_duration("1m30s").unwrap(), GoDuration::from_secs(90));
/// assert_eq!(parse_go_duration("1000ms").unwrap(), GoDuration::from_secs(1));
/// assert!(parse_go_duration("10").is_err());
/// ```
pub fn parse_go_duration(input: &str) -> Result<GoDuration, DurationParseError> {
    let err = |reason| DurationParseError {
        input: input.to_owned(),
        reason,
    };
    let mut rest = input;
    let negative = if let Some(r) = rest.strip_prefix('-') {
        rest = r;
        true
    } else {
        if let Some(r) = rest.strip_prefix('+') {
            rest = r;
        }
        false
    };
    if rest == "0" {
        return Ok(GoDuration::ZERO);
    }
    if rest.is_empty() {
        return Err(err("empty duration"));
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        // Integer part.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_str, after_int) = rest.split_at(int_len);
        // Optional fraction.
        let (frac_str, after_frac) = match after_int.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            None => ("", after_int),
        };
        if int_str.is_empty() && frac_str.is_empty() {
            return Err(err("expected a number"));
        }
        // Unit: everything up to the next digit or '.'.
        let unit_len = after_frac
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_frac.len(), |(i, _)| i);
        let (unit, after_unit) = after_frac.split_at(unit_len);
        let scale = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SEC,
            "m" => NANOS_PER_MIN,
            "h" => NANOS_PER_HOUR,
            "" => return Err(err("missing unit (use ns, us, ms, s, m or h)")),
            _ => return Err(err("unknown unit (use ns, us, ms, s, m or h)")),
        };
        let int_val: i128 = if int_str.is_empty() {
            0
        } else {
            int_str.parse().map_err(|_| err("number out of range"))?
        };
        let mut value = int_val
            .checked_mul(scale)
            .ok_or_else(|| err("duration out of range"))?;
        if !frac_str.is_empty() {
            // Keep at most 18 fractional digits; more cannot matter at ns scale.
            let digits = &frac_str[..frac_str.len().min(18)];
            let frac: i128 = digits.parse().map_err(|_| err("bad fraction"))?;
            let denom = 10_i128.pow(u32::try_from(digits.len()).unwrap_or(18));
            value += frac * scale / denom;
        }
        total = total
            .checked_add(value)
            .ok_or_else(|| err("duration out of range"))?;
        if total > i128::from(i64::MAX) {
            return Err(err("duration out of range"));
        }
        rest = after_unit;
    }
    let signed = if negative { -total } else { total };
    Ok(GoDuration(
        i64::try_from(signed).map_err(|_| err("duration out of range"))?,
    ))
}

impl fmt::Display for GoDuration {
    /// Formats like Go's `time.Duration.String()`: `"25s"`, `"1.5s"`,
    /// `"720h0m0s"`, `"100ms"`, `"0s"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0;
        if nanos == 0 {
            return f.write_str("0s");
        }
        let sign = if nanos < 0 { "-" } else { "" };
        let abs = u128::from(nanos.unsigned_abs());
        if abs < 1_000_000_000 {
            let (unit, scale) = if abs < 1_000 {
                ("ns", 1)
            } else if abs < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{sign}{}{unit}", frac_str(abs, scale));
        }
        let hours = abs / 3_600_000_000_000;
        let rem = abs % 3_600_000_000_000;
        let minutes = rem / 60_000_000_000;
        let sec_nanos = rem % 60_000_000_000;
        let secs = frac_str(sec_nanos, 1_000_000_000);
        if hours > 0 {
            write!(f, "{sign}{hours}h{minutes}m{secs}s")
        } else if minutes > 0 {
            write!(f, "{sign}{minutes}m{secs}s")
        } else {
            write!(f, "{sign}{secs}s")
        }
    }
}

/// `value / scale` printed with the fraction's trailing zeros removed.
fn frac_str(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = GoDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Go duration string such as \"25s\", \"1000ms\" or \"1h30m\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
                parse_go_duration(v).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
                Ok(GoDuration::from_nanos(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
                i64::try_from(v)
                    .map(GoDuration::from_nanos)
                    .map_err(|_| E::custom("duration out of range"))
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        let cases = [
            ("0", 0),
            ("25s", 25 * 1_000_000_000),
            ("1000ms", 1_000_000_000),
            ("720h", 720 * 3_600 * 1_000_000_000),
            ("1m30s", 90 * 1_000_000_000),
            ("1.5s", 1_500_000_000),
            (".5s", 500_000_000),
            ("-1s", -1_000_000_000),
            ("+2h", 2 * 3_600 * 1_000_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("7ns", 7),
            ("1h2m3s4ms", 3_723_004_000_000),
        ];
        for (input, nanos) in cases {
            assert_eq!(
                parse_go_duration(input).unwrap().as_nanos(),
                nanos,
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_bad_input() {
        for input in ["", "10", "s", "1x", "1.s.", "-", "1h-2m", "9999999999h"] {
            assert!(parse_go_duration(input).is_err(), "{input} should fail");
        }
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (GoDuration::ZERO, "0s"),
            (GoDuration::from_secs(25), "25s"),
            (GoDuration::from_millis(1000), "1s"),
            (GoDuration::from_millis(1500), "1.5s"),
            (GoDuration::from_millis(100), "100ms"),
            (GoDuration::from_secs(90), "1m30s"),
            (GoDuration::from_hours(720), "720h0m0s"),
            (GoDuration::from_secs(-1), "-1s"),
            (GoDuration::from_nanos(1500), "1.5µs"),
        ];
        for (d, s) in cases {
            assert_eq!(d.to_string(), s);
            assert_eq!(parse_go_duration(s).unwrap(), d, "round trip {s}");
        }
    }

    #[test]
    fn serde_accepts_strings_and_nanosecond_integers() {
        let d: GoDuration = serde_json::from_str("\"25s\"").unwrap();
        assert_eq!(d, GoDuration::from_secs(25));
        let d: GoDuration = serde_json::from_str("1000000000").unwrap();
        assert_eq!(d, GoDuration::from_secs(1));
        assert!(serde_json::from_str::<GoDuration>("\"25\"").is_err());
        assert_eq!(
            serde_json::to_string(&GoDuration::from_secs(25)).unwrap(),
            "\"25s\""
        );
    }

    #[test]
    fn std_conversion() {
        assert_eq!(
            GoDuration::from_secs(2).to_std(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(GoDuration::from_secs(-1).to_std(), None);
    }
}
