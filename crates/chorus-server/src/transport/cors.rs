//! CORS for the connection endpoints and `/emulation`, as Centrifugo answers them.
//!
//! A browser page on another origin (an app on `:3000`, Chorus on `:8000`) reads
//! an HTTP-streaming or SSE response, and posts to `/emulation`, only when the
//! response allows its origin. For a request whose `Origin` passes
//! `client.allowed_origins` (see [`super::origin`]) every response gets
//! `Access-Control-Allow-Origin: <that origin>`, `Access-Control-Allow-Credentials:
//! true` and, when the request asks for headers (`Access-Control-Request-Headers`,
//! a preflight), `Access-Control-Allow-Headers` echoing them. Other origins get no
//! CORS headers (and the handlers refuse them with 403).

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::sync::Arc;

/// Adds the CORS headers to every response of `router` (see the module docs).
pub fn layer(router: Router, allowed_origins: &[String]) -> Router {
    let allowed: Arc<[String]> = allowed_origins.into();
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let allowed = Arc::clone(&allowed);
            async move {
                let grant = grant(&allowed, req.headers());
                let mut response = next.run(req).await;
                if let Some(grant) = grant {
                    grant.apply(response.headers_mut());
                }
                response
            }
        },
    ))
}

/// The CORS headers granted to one request.
#[derive(Debug)]
struct Grant {
    origin: HeaderValue,
    allow_headers: Option<HeaderValue>,
}

impl Grant {
    fn apply(self, headers: &mut HeaderMap) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, self.origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if let Some(allow) = self.allow_headers {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
        }
        // The answer depends on the request's Origin: caches must key on it.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn grant(allowed: &[String], headers: &HeaderMap) -> Option<Grant> {
    let origin = headers.get(header::ORIGIN)?;
    if !super::origin::origin_allowed(allowed, headers) {
        return None;
    }
    let allow_headers = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| !v.is_empty() && v.as_bytes() != b"null")
        .cloned();
    Some(Grant {
        origin: origin.clone(),
        allow_headers,
    })
}

/// `OPTIONS` on `/emulation`: 204, POST allowed, the preflight cached for 5 minutes
/// (what Centrifugo answers).
pub async fn emulation_preflight() -> (StatusCode, [(header::HeaderName, &'static str); 2]) {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
            (header::ACCESS_CONTROL_MAX_AGE, "300"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>, wants: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        if let Some(w) = wants {
            h.insert(header::ACCESS_CONTROL_REQUEST_HEADERS, w.parse().unwrap());
        }
        h
    }

    #[test]
    fn allowed_origin_is_echoed_with_requested_headers() {
        let allowed = ["http://*.app.test".to_owned()];
        let g = grant(
            &allowed,
            &request(Some("http://web.app.test"), Some("content-type")),
        )
        .unwrap();
        assert_eq!(g.origin, "http://web.app.test");
        assert_eq!(g.allow_headers.unwrap(), "content-type");
        let g = grant(
            &allowed,
            &request(Some("http://web.app.test"), Some("null")),
        )
        .unwrap();
        assert!(g.allow_headers.is_none());
    }

    #[test]
    fn no_grant_without_origin_or_for_a_foreign_one() {
        let allowed = ["*".to_owned()];
        assert!(grant(&allowed, &request(None, None)).is_none());
        assert!(grant(&[], &request(Some("http://x.test"), None)).is_none());
        assert!(grant(&allowed, &request(Some("http://x.test"), None)).is_some());
    }
}
