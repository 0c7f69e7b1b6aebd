//! The `connections` view of a node (as Centrifugo PRO's `connections` API
//! method): every connection on this node with its client name and version,
//! transport, protocol, user and subscribed channels.

use crate::node::Node;
use chorus_protocol::Protocol;
use std::collections::BTreeMap;

/// One connection on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Client name sent in the connect command (e.g. `js`).
    pub app_name: String,
    /// Client version sent in the connect command.
    pub app_version: String,
    /// Transport name (`websocket`, `sse`, …).
    pub transport: String,
    /// Wire format: `json` or `protobuf`.
    pub protocol: String,
    /// User id (empty for anonymous connections).
    pub user: String,
    /// Subscribed channels, sorted.
    pub channels: Vec<String>,
}

impl Node {
    /// Connections on this node by client id; only `user`'s when given (an
    /// empty `user` means every user).
    pub fn connections(&self, user: Option<&str>) -> BTreeMap<String, ConnectionInfo> {
        let registry = &self.inner.registry;
        let clients = match user.filter(|u| !u.is_empty()) {
            Some(u) => registry.user_clients(u),
            None => registry.all_clients(),
        };
        let mut channels = registry.client_channels();
        clients
            .into_iter()
            .map(|c| {
                let (app_name, app_version) = c.app.get().cloned().unwrap_or_default();
                let mut subs = channels.remove(&c.id).unwrap_or_default();
                subs.sort_unstable();
                let info = ConnectionInfo {
                    app_name,
                    app_version,
                    transport: c.transport.to_owned(),
                    protocol: match c.protocol {
                        Protocol::Json => "json",
                        Protocol::Protobuf => "protobuf",
                    }
                    .to_owned(),
                    user: c.user().to_owned(),
                    channels: subs,
                };
                (c.id.to_string(), info)
            })
            .collect()
    }
}
