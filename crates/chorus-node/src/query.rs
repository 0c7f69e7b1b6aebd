//! Query-string lookups shared by the transports and [`UpgradeRequest`](crate::UpgradeRequest),
//! decoded as `application/x-www-form-urlencoded` by the `form_urlencoded` crate
//! (`+` is a space, `%XX` a byte, malformed escapes kept as they are).

/// The first value of the parameter `name` in a raw query string.
pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::query_param;

    #[test]
    fn values_are_form_decoded() {
        let q = "a=a+b%21&b=100%&c=%zz%4&d=%41%42&%65=encoded+key&a=second";
        assert_eq!(query_param(q, "a").as_deref(), Some("a b!"));
        assert_eq!(query_param(q, "b").as_deref(), Some("100%"));
        assert_eq!(query_param(q, "c").as_deref(), Some("%zz%4"));
        assert_eq!(query_param(q, "d").as_deref(), Some("AB"));
        assert_eq!(query_param(q, "e").as_deref(), Some("encoded key"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param("flag", "flag").as_deref(), Some(""));
    }
}
