//! Application hooks, for embedding the engine in an app (like Centrifuge's Go
//! library). Every hook is optional and async; a hook that is set takes the place
//! Centrifugo gives to its proxy for that event.
//!
//! Naming follows one pattern: `XxxEvent` in, `Result<XxxReply, HandlerError>` out.

use crate::auth::ConnectGrant;
use crate::error::{ClientError, Disconnect};
use bytes::Bytes;
use chorus_protocol::Protocol;
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a hook refuses: an error reply, or closing the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Reply with this error; the connection stays.
    #[error(transparent)]
    Error(#[from] ClientError),
    /// Close the connection.
    #[error(transparent)]
    Disconnect(#[from] Disconnect),
}

/// Who is asking: the connection a hook runs for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientContext {
    /// Connection id.
    pub client: String,
    /// User id (empty for anonymous, and before connect).
    pub user: String,
    /// Transport name (`websocket`, `sse`, …).
    pub transport: &'static str,
    /// Wire format.
    pub protocol: Protocol,
    /// Server-side metadata from the connect grant.
    pub meta: Bytes,
    /// The HTTP request that opened the connection (kept for the connection's life
    /// so hooks can forward its headers), when the transport has one.
    pub request: Option<Arc<crate::client::UpgradeRequest>>,
    /// Emulated headers the client sent in its connect request (empty before
    /// connect).
    pub headers: Arc<BTreeMap<String, String>>,
}

/// A client without a token is connecting.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectingEvent {
    /// The connection.
    pub client: ClientContext,
    /// `ConnectRequest.data`.
    pub data: Bytes,
    /// SDK name.
    pub name: String,
    /// SDK version.
    pub version: String,
    /// Channels the client knows positions of (`ConnectRequest.subs` keys).
    pub channels: Vec<String>,
    /// Emulated headers sent by the client.
    pub headers: BTreeMap<String, String>,
    /// The HTTP request that opened the connection (real transport headers, cookies,
    /// query), when the transport has one.
    pub request: Option<std::sync::Arc<crate::client::UpgradeRequest>>,
}

/// A client asks to subscribe (after token and user-limited checks).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubscribeEvent {
    /// The connection.
    pub client: ClientContext,
    /// Channel.
    pub channel: String,
    /// `SubscribeRequest.data`.
    pub data: Bytes,
}

/// What a subscribe hook grants.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SubscribeReply {
    /// Channel info (`chan_info`).
    pub info: Bytes,
    /// Data returned in `SubscribeResult.data`.
    pub data: Bytes,
    /// Unix time (s) when the subscription expires; `None`: never.
    pub expire_at: Option<i64>,
    /// Option overrides for this subscription.
    pub overrides: crate::auth::SubscribeOverride,
    /// The server refreshes this subscription (a sub_refresh hook handles the
    /// channel): the client is not told when it expires.
    pub server_refresh: bool,
    /// Set by [`SubscribeReply::not_handled`].
    pub(crate) not_handled: bool,
}

impl SubscribeReply {
    /// The hook does not decide this channel: the engine applies the channel's
    /// `allow_subscribe_*` options as if no hook were set (used when only some
    /// namespaces are proxied).
    pub fn not_handled() -> Self {
        Self {
            not_handled: true,
            ..Self::default()
        }
    }
}

/// A client publishes (replaces the `allow_publish_*` checks).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishEvent {
    /// The connection.
    pub client: ClientContext,
    /// Channel.
    pub channel: String,
    /// Payload.
    pub data: Bytes,
}

/// What a publish hook decides.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PublishReply {
    /// Replace the payload.
    pub data: Option<Bytes>,
    /// Do not keep the publication in history.
    pub skip_history: bool,
    /// Set by [`PublishReply::not_handled`].
    pub(crate) not_handled: bool,
}

impl PublishReply {
    /// The hook does not decide this channel: the engine applies the channel's
    /// `allow_publish_*` options as if no hook were set.
    pub fn not_handled() -> Self {
        Self {
            not_handled: true,
            ..Self::default()
        }
    }
}

/// A client calls an RPC method.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RpcEvent {
    /// The connection.
    pub client: ClientContext,
    /// Method name.
    pub method: String,
    /// Payload.
    pub data: Bytes,
}

/// A connection's expiry came: extend it (server-side refresh).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RefreshEvent {
    /// The connection.
    pub client: ClientContext,
}

/// What a refresh hook decides.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RefreshReply {
    /// Close the connection as expired (3005).
    pub expired: bool,
    /// New expiry (Unix seconds); `None`: never expires.
    pub expire_at: Option<i64>,
    /// New connection info.
    pub info: Option<Bytes>,
    /// New server-side metadata.
    pub meta: Option<Bytes>,
}

/// A client-side subscription's expiry came: extend it (server-side subscription
/// refresh). Server-side subscriptions are not refreshed (they end with 3006).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubRefreshEvent {
    /// The connection.
    pub client: ClientContext,
    /// Channel.
    pub channel: String,
}

/// What a sub_refresh hook decides.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SubRefreshReply {
    /// Unsubscribe the client as expired.
    pub expired: bool,
    /// New expiry (Unix seconds); `None`: never expires.
    pub expire_at: Option<i64>,
    /// New channel info.
    pub info: Option<Bytes>,
    /// Set by [`SubRefreshReply::not_handled`].
    pub(crate) not_handled: bool,
}

impl SubRefreshReply {
    /// The hook does not refresh this channel: the subscription expires as
    /// without a hook.
    pub fn not_handled() -> Self {
        Self {
            not_handled: true,
            ..Self::default()
        }
    }
}

/// A connection ended (notification).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DisconnectEvent {
    /// The connection.
    pub client: ClientContext,
    /// Why.
    pub disconnect: Disconnect,
}

/// A client sent an asynchronous message (`send`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MessageEvent {
    /// The connection.
    pub client: ClientContext,
    /// Payload.
    pub data: Bytes,
}

type Hook<E, R> = Arc<dyn Fn(E) -> BoxFuture<'static, Result<R, HandlerError>> + Send + Sync>;
type Notify<E> = Arc<dyn Fn(E) -> BoxFuture<'static, ()> + Send + Sync>;

#[derive(Default, Clone)]
pub(crate) struct Hooks {
    pub(crate) connecting: Option<Hook<ConnectingEvent, ConnectGrant>>,
    pub(crate) subscribe: Option<Hook<SubscribeEvent, SubscribeReply>>,
    pub(crate) publish: Option<Hook<PublishEvent, PublishReply>>,
    pub(crate) rpc: Option<Hook<RpcEvent, Bytes>>,
    pub(crate) refresh: Option<Hook<RefreshEvent, RefreshReply>>,
    pub(crate) sub_refresh: Option<Hook<SubRefreshEvent, SubRefreshReply>>,
    pub(crate) message: Option<Notify<MessageEvent>>,
    pub(crate) disconnect: Option<Notify<DisconnectEvent>>,
}

impl Hooks {
    /// Whether a hook that runs after connect is set (it may forward the
    /// connection's request headers).
    pub(crate) fn sees_requests_after_connect(&self) -> bool {
        self.subscribe.is_some()
            || self.publish.is_some()
            || self.rpc.is_some()
            || self.refresh.is_some()
            || self.sub_refresh.is_some()
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("connecting", &self.connecting.is_some())
            .field("subscribe", &self.subscribe.is_some())
            .field("publish", &self.publish.is_some())
            .field("rpc", &self.rpc.is_some())
            .field("refresh", &self.refresh.is_some())
            .field("sub_refresh", &self.sub_refresh.is_some())
            .field("message", &self.message.is_some())
            .field("disconnect", &self.disconnect.is_some())
            .finish()
    }
}
