//! `client.allowed_origins` (spec §1.2): with an empty list every request that
//! carries an `Origin` header is refused; requests without one pass; entries may use
//! `*` wildcards and `["*"]` allows all.

use http::HeaderMap;

/// Whether the request's origin is acceptable.
pub fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.to_ascii_lowercase();
    allowed
        .iter()
        .any(|p| chorus_node::glob_match(&p.to_ascii_lowercase(), &origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(http::header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn empty_list_refuses_browsers_only() {
        assert!(!origin_allowed(
            &[],
            &headers(Some("http://localhost:3000"))
        ));
        assert!(origin_allowed(&[], &headers(None)));
    }

    #[test]
    fn wildcards() {
        let allowed = vec![
            "https://*.example.com".to_owned(),
            "http://LOCALHOST:*".to_owned(),
        ];
        assert!(origin_allowed(
            &allowed,
            &headers(Some("https://app.example.com"))
        ));
        assert!(origin_allowed(
            &allowed,
            &headers(Some("http://localhost:8080"))
        ));
        assert!(!origin_allowed(
            &allowed,
            &headers(Some("https://evil.com"))
        ));
        assert!(origin_allowed(
            &["*".to_owned()],
            &headers(Some("https://any.where"))
        ));
    }
}
