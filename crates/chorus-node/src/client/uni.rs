//! How replies look on the wire for transports without a reply channel:
//! unidirectional clients get bare pushes, and emulated and unidirectional ones
//! a disconnect push before the end (spec §1.3, §1.4).

use crate::error::Disconnect;
use bytes::Bytes;
use chorus_protocol::{ConnectRequest, Protocol, Push, Reply};

/// A unidirectional client's connect request that is not a JSON `ConnectRequest`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConnectRequest(String);

/// Parses the JSON `ConnectRequest` a unidirectional client sends (first
/// message, request body or URL parameter); an empty or blank payload is an
/// empty request (the connecting hook may still authenticate by headers).
///
/// # Errors
/// [`InvalidConnectRequest`] when the payload is not a JSON `ConnectRequest`.
pub fn parse_uni_connect(payload: &[u8]) -> Result<ConnectRequest, InvalidConnectRequest> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(ConnectRequest::default());
    }
    serde_json::from_slice(payload).map_err(|e| InvalidConnectRequest(e.to_string()))
}

/// The disconnect code a unidirectional client gets instead of a connect error
/// reply (spec §1.4, Centrifugo's default `connect_code_to_unidirectional_disconnect`).
pub fn uni_connect_error_disconnect(error_code: u32) -> Disconnect {
    match error_code {
        109 | 110 => Disconnect::EXPIRED,
        111 => Disconnect::TOO_MANY_REQUESTS,
        103 => Disconnect::PERMISSION_DENIED,
        _ => Disconnect::SERVER_ERROR,
    }
}

/// The bare push a unidirectional client gets for a reply: pushes unwrapped, the
/// connect result as a `connect` push, a ping as the empty push. `Ok(None)` for
/// replies that have no unidirectional form (results of commands, which uni
/// clients cannot send); an error reply becomes a disconnect.
pub(super) fn uni_push(reply: &Reply) -> Result<Option<Push>, Disconnect> {
    if let Some(e) = &reply.error {
        return Err(uni_connect_error_disconnect(e.code));
    }
    if let Some(push) = &reply.push {
        return Ok(Some(push.clone()));
    }
    if let Some(r) = &reply.connect {
        let connect = chorus_protocol::Connect {
            client: r.client.clone(),
            version: r.version.clone(),
            data: r.data.clone(),
            subs: r.subs.clone(),
            expires: r.expires,
            ttl: r.ttl,
            ping: r.ping,
            pong: r.pong,
            session: r.session.clone(),
            node: r.node.clone(),
            time: r.time,
        };
        return Ok(Some(Push {
            connect: Some(connect),
            ..Push::default()
        }));
    }
    if reply.is_ping() {
        return Ok(Some(Push::ping()));
    }
    Ok(None)
}

/// The encoded disconnect push for a transport that pushes disconnects, `None`
/// otherwise. Code 3000 (the peer went away) is never sent.
pub(crate) fn disconnect_frame(
    protocol: Protocol,
    unidirectional: bool,
    disconnect_push: bool,
    disconnect: &Disconnect,
) -> Option<Bytes> {
    if !disconnect_push || disconnect.code == Disconnect::CONNECTION_CLOSED.code {
        return None;
    }
    let push = disconnect.to_push();
    let encoded = if unidirectional {
        chorus_protocol::encode(protocol, &push)
    } else {
        chorus_protocol::encode(protocol, &Reply::from(push))
    };
    encoded.ok()
}
