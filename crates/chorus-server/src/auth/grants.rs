//! The server's JWT verifiers as the node's [`TokenVerifier`]: claims of a
//! verified token mapped to the grants the node acts on.

use super::{
    ConnectTokenClaims, JwtConfigError, JwtError, JwtVerifier, SubscribeOptionOverride,
    SubscribeTokenClaims,
};
use crate::config::ServerConfig;
use base64::Engine as _;
use bytes::Bytes;
use chorus_node::{
    ConnectGrant, ServerSubscription, SubscribeGrant, SubscribeOverride, TokenError, TokenVerifier,
};
use serde_json::value::RawValue;

/// Raw JSON, or base64-decoded bytes when only the `b64` form is present.
fn raw_or_b64(raw: Option<&RawValue>, b64: Option<&str>) -> Result<Bytes, TokenError> {
    if let Some(r) = raw {
        return Ok(Bytes::copy_from_slice(r.get().as_bytes()));
    }
    match b64 {
        Some(s) if !s.is_empty() => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Bytes::from)
            .map_err(|e| TokenError::Invalid(format!("bad base64: {e}"))),
        _ => Ok(Bytes::new()),
    }
}

fn overrides(o: Option<&SubscribeOptionOverride>) -> SubscribeOverride {
    let mut out = SubscribeOverride::default();
    if let Some(o) = o {
        out.presence = o.presence.map(|v| v.value);
        out.join_leave = o.join_leave.map(|v| v.value);
        out.force_push_join_leave = o.force_push_join_leave.map(|v| v.value);
        out.force_recovery = o.force_recovery.map(|v| v.value);
        out.force_positioning = o.force_positioning.map(|v| v.value);
    }
    out
}

fn map_err(e: JwtError) -> TokenError {
    if e.is_expired() {
        TokenError::Expired
    } else if matches!(e, JwtError::Unavailable(_)) {
        TokenError::Unavailable(e.to_string())
    } else {
        TokenError::Invalid(e.to_string())
    }
}

fn connect_grant(c: ConnectTokenClaims) -> Result<ConnectGrant, TokenError> {
    let mut grant = ConnectGrant::user(c.sub.clone());
    grant.expire_at = c.connection_expires_at();
    grant.info = raw_or_b64(c.info.as_deref(), c.b64info.as_deref())?;
    grant.meta = c
        .meta
        .as_deref()
        .map(|m| Bytes::copy_from_slice(m.get().as_bytes()))
        .unwrap_or_default();
    if c.subs.is_empty() {
        for channel in c.channels {
            grant.subs.insert(channel, ServerSubscription::default());
        }
    } else {
        for (channel, o) in c.subs {
            let mut sub = ServerSubscription::default();
            sub.info = raw_or_b64(o.info.as_deref(), o.b64info.as_deref())?;
            sub.data = raw_or_b64(o.data.as_deref(), o.b64data.as_deref())?;
            sub.overrides = overrides(o.overrides.as_ref());
            grant.subs.insert(channel, sub);
        }
    }
    Ok(grant)
}

fn subscribe_grant(c: SubscribeTokenClaims) -> Result<SubscribeGrant, TokenError> {
    let mut grant = SubscribeGrant::default();
    grant.expire_at = c.subscription_expires_at();
    grant.info = raw_or_b64(c.info.as_deref(), c.b64info.as_deref())?;
    grant.user = c.sub;
    grant.channel = c.channel;
    grant.client = c.client.unwrap_or_default();
    grant.overrides = overrides(c.overrides.as_ref());
    Ok(grant)
}

/// The server's JWT verifiers (connection, and optionally separate subscription
/// keys) as the engine's [`TokenVerifier`].
#[derive(Debug)]
pub struct JwtTokens {
    connect: JwtVerifier,
    subscribe: Option<JwtVerifier>,
}

impl JwtTokens {
    /// Builds the verifiers from the `client` section.
    ///
    /// # Errors
    /// A key or regex that cannot be used.
    pub fn from_config(cfg: &ServerConfig) -> Result<Self, JwtConfigError> {
        let skip = cfg.client.insecure_skip_token_signature_verify;
        let connect = JwtVerifier::new(&cfg.client.token)?.skip_signature_verification(skip);
        let sub_cfg = &cfg.client.subscription_token;
        let subscribe = if sub_cfg.enabled {
            Some(JwtVerifier::new(&sub_cfg.token)?.skip_signature_verification(skip))
        } else {
            None
        };
        Ok(Self { connect, subscribe })
    }
}

#[async_trait::async_trait]
impl TokenVerifier for JwtTokens {
    async fn verify_connect(&self, token: &str) -> Result<ConnectGrant, TokenError> {
        connect_grant(self.connect.verify_connect(token).await.map_err(map_err)?)
    }

    async fn verify_subscribe(&self, token: &str) -> Result<SubscribeGrant, TokenError> {
        let verifier = self.subscribe.as_ref().unwrap_or(&self.connect);
        subscribe_grant(verifier.verify_subscribe(token).await.map_err(map_err)?)
    }
}
