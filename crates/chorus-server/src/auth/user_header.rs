//! `client.user_id_http_header`: the user id of a connection without a token
//! taken from a header of the HTTP request that opened it (set by a trusted
//! reverse proxy that authenticated the user).
//!
//! Centrifugo's order is kept: a connection token, then the connect proxy,
//! then anonymous access (`allow_anonymous_connect_without_token` or
//! `insecure`, user `""`), and only then the header. A connection token is
//! verified before any hook runs, so it always wins; with a connect proxy
//! enabled the proxy decides and the header is not consulted.

use chorus_node::{ConnectGrant, Disconnect, HandlerError, NodeBuilder};

use crate::config::ServerConfig;

/// Installs the header check as the connecting hook when
/// `client.user_id_http_header` is set and no connect proxy is enabled.
pub(crate) fn install(builder: NodeBuilder, config: &ServerConfig) -> NodeBuilder {
    let client = &config.client;
    if client.user_id_http_header.is_empty() || client.proxy.connect.enabled {
        return builder;
    }
    let header = client.user_id_http_header.clone();
    let anonymous = client.allow_anonymous_connect_without_token || client.insecure;
    builder.on_connecting(move |event| {
        let user = event
            .request
            .as_ref()
            .and_then(|r| r.header(&header))
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        async move {
            if anonymous {
                return Ok(ConnectGrant::default());
            }
            match user {
                Some(user) => Ok(ConnectGrant::user(user)),
                // Nothing identifies the client, as without the option.
                None => Err(HandlerError::Disconnect(Disconnect::BAD_REQUEST)),
            }
        }
    })
}
