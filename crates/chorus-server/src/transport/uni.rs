//! The unidirectional HTTP transports (spec §1.4): `uni_http_stream` (`POST` with a
//! JSON `ConnectRequest` body; one JSON push per line) and `uni_sse` (the
//! `ConnectRequest` in the URL parameter `cf_connect` of a `GET`, or a JSON `POST`
//! body; `data: <push>\n\n` events). The server only sends bare pushes: the
//! `connect` push first, empty pushes as pings, a disconnect push at the end.
//! Connect errors become disconnect pushes (the HTTP status stays 200).

use super::stream::{Framing, Refused, StreamIo, check_origin, read_body};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chorus_node::TransportInfo;
use chorus_protocol::{ConnectRequest, Protocol};
use http::{HeaderMap, Method};

/// Parses a JSON `ConnectRequest`; an empty payload is an empty request (the
/// connecting hook may still authenticate by headers).
///
/// # Errors
/// [`Refused::BadRequest`] when the payload is not a JSON `ConnectRequest`.
pub fn parse_connect(payload: &[u8]) -> Result<ConnectRequest, Refused> {
    chorus_node::parse_uni_connect(payload).map_err(|e| Refused::BadRequest(e.to_string()))
}

fn start_uni(
    state: &AppState,
    name: &'static str,
    framing: Framing,
    connect: ConnectRequest,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Body {
    let preamble: &'static [u8] = if framing == Framing::Sse {
        b"\r\n"
    } else {
        b""
    };
    let (io, body) = StreamIo::new(framing, preamble, None, None);
    let transport = TransportInfo::unidirectional(name, Protocol::Json, connect)
        .with_request(super::stream::upgrade_request(headers, query));
    state.node.serve(transport, io);
    body
}

/// `POST /connection/uni_http_stream`.
pub async fn http_stream_handler(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cfg = &state.config;
    let connect = async {
        check_origin(&cfg.client.allowed_origins, &headers)?;
        let payload = read_body(body, cfg.uni_http_stream.max_request_body_size).await?;
        parse_connect(&payload)
    };
    match connect.await {
        Ok(connect) => {
            let body = start_uni(
                &state,
                "uni_http_stream",
                Framing::JsonLines,
                connect,
                &headers,
                query.as_deref(),
            );
            super::stream::streaming_response("application/json", body)
        }
        Err(refused) => refused.into_response(),
    }
}

/// `GET` (with `cf_connect`) or `POST` `/connection/uni_sse`.
pub async fn sse_handler(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cfg = &state.config;
    let limit = cfg.uni_sse.max_request_body_size;
    let connect = async {
        check_origin(&cfg.client.allowed_origins, &headers)?;
        if method == Method::POST {
            return parse_connect(&read_body(body, limit).await?);
        }
        let request = super::stream::upgrade_request(&HeaderMap::new(), query.as_deref());
        let payload = request.query_param("cf_connect").unwrap_or_default();
        if payload.len() > limit {
            return Err(Refused::TooLarge);
        }
        parse_connect(payload.as_bytes())
    };
    match connect.await {
        Ok(connect) => {
            let body = start_uni(
                &state,
                "uni_sse",
                Framing::Sse,
                connect,
                &headers,
                query.as_deref(),
            );
            super::stream::streaming_response("text/event-stream", body)
        }
        Err(refused) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_parsing() {
        assert_eq!(parse_connect(b"").unwrap(), ConnectRequest::default());
        let req =
            parse_connect(br#"{"token":"t","subs":{"a":{"recover":true,"offset":3,"epoch":"e"}}}"#)
                .unwrap();
        assert_eq!(req.token, "t");
        let sub = &req.subs["a"];
        assert!(sub.recover);
        assert_eq!((sub.offset, sub.epoch.as_str()), (3, "e"));
        assert!(matches!(parse_connect(b"{"), Err(Refused::BadRequest(_))));
    }
}
