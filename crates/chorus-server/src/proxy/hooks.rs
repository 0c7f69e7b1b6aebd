//! Installing the proxies as engine hooks, and mapping engine events to proxy
//! requests and backend answers to hook replies.
//!
//! Channel proxies are chosen per namespace (`subscribe_proxy_enabled` /
//! `subscribe_proxy_name`, …); a channel whose namespace does not use the proxy
//! gets a "not handled" reply, so the engine applies the `allow_*` options.
//! RPC methods are routed the same way by `rpc.namespaces`.

use super::headers::Forwarded;
use super::{CallError, Proxy, Request, Response, pb};
use crate::config::{DEFAULT_PROXY_NAME, ProxyOptions, ServerConfig};
use bytes::Bytes;
use chorus_node::{
    ChannelRules, ClientContext, ClientError, ConnectGrant, Disconnect, HandlerError, NodeBuilder,
    PublishReply, RefreshReply, ServerSubscription, SubRefreshReply, SubscribeOverride,
    SubscribeReply,
};
use chorus_protocol::Protocol;
use std::collections::HashMap;
use std::sync::Arc;

/// Why the proxies cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyBuildError {
    /// The endpoint is not a usable URL.
    #[error("proxy endpoint {0:?}: {1}")]
    Endpoint(String, String),
    /// The HTTP client could not be built.
    #[error("cannot build the proxy HTTP client: {0}")]
    Client(String),
    /// A `*_proxy_name` names no entry of `proxies`.
    #[error("unknown proxy {0:?}")]
    UnknownProxy(String),
}

/// Proxies by name, built once each; `default` resolves to the section's own
/// proxy (`channel.proxy.subscribe`, `rpc.proxy`, …).
struct Registry<'a> {
    config: &'a ServerConfig,
    named: HashMap<String, Arc<Proxy>>,
}

impl<'a> Registry<'a> {
    fn new(config: &'a ServerConfig) -> Self {
        Self {
            config,
            named: HashMap::new(),
        }
    }

    fn get(&mut self, name: &str, default: &ProxyOptions) -> Result<Arc<Proxy>, ProxyBuildError> {
        let key = if name.is_empty() || name == DEFAULT_PROXY_NAME {
            // Defaults of different sections are different proxies.
            format!("\0default:{default:p}")
        } else {
            name.to_owned()
        };
        if let Some(p) = self.named.get(&key) {
            return Ok(Arc::clone(p));
        }
        let options = if key.starts_with('\0') {
            default
        } else {
            &self
                .config
                .proxies
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| ProxyBuildError::UnknownProxy(name.to_owned()))?
                .options
        };
        let proxy = Arc::new(Proxy::new(options)?);
        self.named.insert(key, Arc::clone(&proxy));
        Ok(proxy)
    }
}

/// Proxies of one channel event by namespace (`""` = without namespace).
type Routes = HashMap<String, Arc<Proxy>>;

struct Channels {
    rules: ChannelRules,
    subscribe: Routes,
    publish: Routes,
    sub_refresh: Routes,
}

impl Channels {
    fn route<'r>(&self, routes: &'r Routes, channel: &str) -> Option<&'r Arc<Proxy>> {
        let ns = self.rules.resolve(channel).ok()?.namespace;
        routes.get(&ns)
    }
}

struct Rpc {
    boundary: String,
    without_namespace: Option<Arc<Proxy>>,
    namespaces: HashMap<String, Option<Arc<Proxy>>>,
    ping: Option<String>,
}

impl Rpc {
    fn route(&self, method: &str) -> Option<&Arc<Proxy>> {
        match method.split_once(self.boundary.as_str()) {
            Some((ns, _)) if !self.boundary.is_empty() => self.namespaces.get(ns)?.as_ref(),
            _ => self.without_namespace.as_ref(),
        }
    }
}

/// Installs the configured proxies as hooks of `builder`;
/// `rules` are the node's channel rules (namespaces), which route channel
/// proxies.
///
/// # Errors
/// An endpoint that is not a URL, an unknown proxy name (validation catches both
/// first), or an HTTP client that cannot be built.
pub fn install(
    mut builder: NodeBuilder,
    config: &ServerConfig,
    rules: ChannelRules,
) -> Result<NodeBuilder, ProxyBuildError> {
    let mut registry = Registry::new(config);
    let client = &config.client.proxy;
    if client.connect.enabled {
        let proxy = Arc::new(Proxy::new(&client.connect.options)?);
        builder = builder.on_connecting(move |event| {
            let proxy = Arc::clone(&proxy);
            async move { connect(&proxy, event).await }
        });
    }
    if client.refresh.enabled {
        let proxy = Arc::new(Proxy::new(&client.refresh.options)?);
        builder = builder.on_refresh(move |event| {
            let proxy = Arc::clone(&proxy);
            async move { refresh(&proxy, &event.client).await }
        });
    }

    let ch = &config.channel;
    let mut spaces = vec![(String::new(), &ch.without_namespace)];
    spaces.extend(
        ch.namespaces
            .iter()
            .map(|ns| (ns.name.clone(), &ns.options)),
    );
    let mut channels = Channels {
        rules,
        subscribe: Routes::new(),
        publish: Routes::new(),
        sub_refresh: Routes::new(),
    };
    for (ns, o) in spaces {
        if o.subscribe_proxy_enabled {
            let p = registry.get(&o.subscribe_proxy_name, &ch.proxy.subscribe)?;
            channels.subscribe.insert(ns.clone(), p);
        }
        if o.publish_proxy_enabled {
            let p = registry.get(&o.publish_proxy_name, &ch.proxy.publish)?;
            channels.publish.insert(ns.clone(), p);
        }
        if o.sub_refresh_proxy_enabled {
            let p = registry.get(&o.sub_refresh_proxy_name, &ch.proxy.sub_refresh)?;
            channels.sub_refresh.insert(ns, p);
        }
    }
    let channels = Arc::new(channels);
    if !channels.subscribe.is_empty() {
        let channels = Arc::clone(&channels);
        builder = builder.on_subscribe(move |event| {
            let channels = Arc::clone(&channels);
            async move {
                let Some(proxy) = channels.route(&channels.subscribe, &event.channel) else {
                    return Ok(SubscribeReply::not_handled());
                };
                let server_refresh = channels
                    .route(&channels.sub_refresh, &event.channel)
                    .is_some();
                let mut reply = subscribe(proxy, &event.client, event.channel, event.data).await?;
                reply.server_refresh = server_refresh && reply.expire_at.is_some();
                Ok(reply)
            }
        });
    }
    if !channels.publish.is_empty() {
        let channels = Arc::clone(&channels);
        builder = builder.on_publish(move |event| {
            let channels = Arc::clone(&channels);
            async move {
                let Some(proxy) = channels.route(&channels.publish, &event.channel) else {
                    return Ok(PublishReply::not_handled());
                };
                publish(proxy, &event.client, event.channel, event.data).await
            }
        });
    }
    if !channels.sub_refresh.is_empty() {
        let channels = Arc::clone(&channels);
        builder = builder.on_sub_refresh(move |event| {
            let channels = Arc::clone(&channels);
            async move {
                let Some(proxy) = channels.route(&channels.sub_refresh, &event.channel) else {
                    return Ok(SubRefreshReply::not_handled());
                };
                sub_refresh(proxy, &event.client, event.channel).await
            }
        });
    }

    let r = &config.rpc;
    let mut rpc = Rpc {
        boundary: r.namespace_boundary.clone(),
        without_namespace: None,
        namespaces: HashMap::new(),
        ping: r.ping.enabled.then(|| r.ping.method.clone()),
    };
    if r.without_namespace.proxy_enabled {
        rpc.without_namespace = Some(registry.get(&r.without_namespace.proxy_name, &r.proxy)?);
    }
    for ns in &r.namespaces {
        let proxy = if ns.options.proxy_enabled {
            Some(registry.get(&ns.options.proxy_name, &r.proxy)?)
        } else {
            None
        };
        rpc.namespaces.insert(ns.name.clone(), proxy);
    }
    if rpc.ping.is_some()
        || rpc.without_namespace.is_some()
        || rpc.namespaces.values().any(Option::is_some)
    {
        let rpc = Arc::new(rpc);
        builder = builder.on_rpc(move |event| {
            let rpc = Arc::clone(&rpc);
            async move {
                if rpc.ping.as_deref() == Some(event.method.as_str()) {
                    return Ok(Bytes::new());
                }
                let Some(proxy) = rpc.route(&event.method) else {
                    return Err(ClientError::MethodNotFound.into());
                };
                call_rpc(proxy, &event.client, event.method, event.data).await
            }
        });
    }
    Ok(builder)
}

/// The four fields every request starts with.
struct Common {
    client: String,
    transport: String,
    protocol: String,
    encoding: String,
}

fn common(proxy: &Proxy, ctx: &ClientContext) -> Common {
    Common {
        client: ctx.client.clone(),
        transport: ctx.transport.to_owned(),
        protocol: match ctx.protocol {
            Protocol::Json => "json",
            Protocol::Protobuf => "protobuf",
        }
        .to_owned(),
        encoding: if proxy.binary() { "binary" } else { "json" }.to_owned(),
    }
}

fn meta(proxy: &Proxy, ctx: &ClientContext) -> Bytes {
    if proxy.options.include_connection_meta {
        ctx.meta.clone()
    } else {
        Bytes::new()
    }
}

fn forwarded(ctx: &ClientContext) -> Forwarded<'_> {
    Forwarded {
        transport: ctx.request.as_deref().map(|r| &r.headers),
        emulated: &ctx.headers,
    }
}

/// A backend failure as the client sees it: a transform's error or disconnect,
/// else 100 (temporary).
fn failed(e: CallError) -> HandlerError {
    match e {
        CallError::Transformed(h) => h,
        other => {
            tracing::warn!(error = %other, "proxy call failed");
            ClientError::Internal.into()
        }
    }
}

/// The backend's own error or disconnect, if it sent one.
fn refused(error: Option<pb::Error>, disconnect: Option<pb::Disconnect>) -> Option<HandlerError> {
    if let Some(d) = disconnect {
        return Some(Disconnect::new(d.code, d.reason).into());
    }
    error.map(|e| {
        ClientError::Custom {
            code: e.code,
            message: e.message,
            temporary: e.temporary,
        }
        .into()
    })
}

fn mismatched() -> HandlerError {
    failed(CallError::Decode("response of another event".into()))
}

fn expire(at: i64) -> Option<i64> {
    (at > 0).then_some(at)
}

fn overrides(o: Option<pb::SubscribeOptionOverride>) -> SubscribeOverride {
    let mut out = SubscribeOverride::default();
    if let Some(o) = o {
        let v = |b: Option<pb::BoolValue>| b.map(|b| b.value);
        out.presence = v(o.presence);
        out.join_leave = v(o.join_leave);
        out.force_recovery = v(o.force_recovery);
        out.force_positioning = v(o.force_positioning);
        out.force_push_join_leave = v(o.force_push_join_leave);
    }
    out
}

async fn connect(
    proxy: &Proxy,
    event: chorus_node::ConnectingEvent,
) -> Result<ConnectGrant, HandlerError> {
    let c = common(proxy, &event.client);
    let request = Request::Connect(pb::ConnectRequest {
        client: c.client,
        transport: c.transport,
        protocol: c.protocol,
        encoding: c.encoding,
        data: event.data.clone(),
        b64data: String::new(),
        name: event.name.clone(),
        version: event.version.clone(),
        channels: event.channels.clone(),
    });
    let headers = Forwarded {
        transport: event.request.as_deref().map(|r| &r.headers),
        emulated: &event.headers,
    };
    let Response::Connect(r) = proxy.call(request, &headers).await.map_err(failed)? else {
        return Err(mismatched());
    };
    if let Some(refusal) = refused(r.error, r.disconnect) {
        return Err(refusal);
    }
    // No result, error or disconnect: no credentials, as without a hook.
    let Some(res) = r.result else {
        return Err(Disconnect::BAD_REQUEST.into());
    };
    let mut grant = ConnectGrant::default();
    grant.user = res.user;
    grant.expire_at = expire(res.expire_at);
    grant.info = res.info;
    grant.data = res.data;
    grant.meta = res.meta;
    for channel in res.channels {
        grant.subs.insert(channel, ServerSubscription::default());
    }
    for (channel, o) in res.subs {
        let mut sub = ServerSubscription::default();
        sub.info = o.info;
        sub.data = o.data;
        sub.expire_at = expire(o.expire_at);
        sub.overrides = overrides(o.r#override);
        grant.subs.insert(channel, sub);
    }
    Ok(grant)
}

async fn refresh(proxy: &Proxy, ctx: &ClientContext) -> Result<RefreshReply, HandlerError> {
    let c = common(proxy, ctx);
    let request = Request::Refresh(pb::RefreshRequest {
        client: c.client,
        transport: c.transport,
        protocol: c.protocol,
        encoding: c.encoding,
        user: ctx.user.clone(),
        meta: meta(proxy, ctx),
    });
    let Response::Refresh(r) = proxy.call(request, &forwarded(ctx)).await.map_err(failed)? else {
        return Err(mismatched());
    };
    if let Some(refusal) = refused(r.error, r.disconnect) {
        return Err(refusal);
    }
    let mut reply = RefreshReply::default();
    let Some(res) = r.result else {
        reply.expired = true;
        return Ok(reply);
    };
    reply.expired = res.expired;
    reply.expire_at = expire(res.expire_at);
    reply.info = (!res.info.is_empty()).then_some(res.info);
    reply.meta = (!res.meta.is_empty()).then_some(res.meta);
    Ok(reply)
}

async fn subscribe(
    proxy: &Proxy,
    ctx: &ClientContext,
    channel: String,
    data: Bytes,
) -> Result<SubscribeReply, HandlerError> {
    let c = common(proxy, ctx);
    let request = Request::Subscribe(pb::SubscribeRequest {
        client: c.client,
        transport: c.transport,
        protocol: c.protocol,
        encoding: c.encoding,
        user: ctx.user.clone(),
        channel,
        token: String::new(),
        meta: meta(proxy, ctx),
        data,
        b64data: String::new(),
    });
    let Response::Subscribe(r) = proxy.call(request, &forwarded(ctx)).await.map_err(failed)? else {
        return Err(mismatched());
    };
    if let Some(refusal) = refused(r.error, r.disconnect) {
        return Err(refusal);
    }
    let mut reply = SubscribeReply::default();
    if let Some(res) = r.result {
        reply.info = res.info;
        reply.data = res.data;
        reply.expire_at = expire(res.expire_at);
        reply.overrides = overrides(res.r#override);
    }
    Ok(reply)
}

async fn publish(
    proxy: &Proxy,
    ctx: &ClientContext,
    channel: String,
    data: Bytes,
) -> Result<PublishReply, HandlerError> {
    let c = common(proxy, ctx);
    let request = Request::Publish(pb::PublishRequest {
        client: c.client,
        transport: c.transport,
        protocol: c.protocol,
        encoding: c.encoding,
        user: ctx.user.clone(),
        channel,
        data,
        b64data: String::new(),
        meta: meta(proxy, ctx),
    });
    let Response::Publish(r) = proxy.call(request, &forwarded(ctx)).await.map_err(failed)? else {
        return Err(mismatched());
    };
    if let Some(refusal) = refused(r.error, r.disconnect) {
        return Err(refusal);
    }
    let mut reply = PublishReply::default();
    if let Some(res) = r.result {
        reply.data = (!res.data.is_empty()).then_some(res.data);
        reply.skip_history = res.skip_history;
    }
    Ok(reply)
}

async fn call_rpc(
    proxy: &Proxy,
    ctx: &ClientContext,
    method: String,
    data: Bytes,
) -> Result<Bytes, HandlerError> {
    let c = common(proxy, ctx);
    let request = Request::Rpc(pb::RpcRequest {
        client: c.client,
        transport: c.transport,
        protocol: c.protocol,
        encoding: c.encoding,
        user: ctx.user.clone(),
        method,
        data,
        b64data: String::new(),
        meta: meta(proxy, ctx),
    });
    let Response::Rpc(r) = proxy.call(request, &forwarded(ctx)).await.map_err(failed)? else {
        return Err(mismatched());
    };
    if let Some(refusal) = refused(r.error, r.disconnect) {
        return Err(refusal);
    }
    Ok(r.result.map(|r| r.data).unwrap_or_default())
}

async fn sub_refresh(
    proxy: &Proxy,
    ctx: &ClientContext,
    channel: String,
) -> Result<SubRefreshReply, HandlerError> {
    let c = common(proxy, ctx);
    let request = Request::SubRefresh(pb::SubRefreshRequest {
        client: c.client,
        transport: c.transport,
        protocol: c.protocol,
        encoding: c.encoding,
        user: ctx.user.clone(),
        channel,
        meta: meta(proxy, ctx),
    });
    let Response::SubRefresh(r) = proxy.call(request, &forwarded(ctx)).await.map_err(failed)?
    else {
        return Err(mismatched());
    };
    if let Some(refusal) = refused(r.error, r.disconnect) {
        return Err(refusal);
    }
    let mut reply = SubRefreshReply::default();
    let Some(res) = r.result else {
        reply.expired = true;
        return Ok(reply);
    };
    reply.expired = res.expired;
    reply.expire_at = expire(res.expire_at);
    reply.info = (!res.info.is_empty()).then_some(res.info);
    Ok(reply)
}
