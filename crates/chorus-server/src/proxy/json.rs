//! The HTTP proxy's JSON shape (Centrifugo's): requests built from the protobuf
//! messages, responses parsed back into them.
//!
//! Payloads (`data`, `info`, `meta`) travel as raw JSON, or as base64 strings in
//! the `b64*` fields when `binary_encoding` is on; in responses a non-empty
//! `b64*` field wins. After decoding, the protobuf messages always carry the
//! payload bytes in the plain field (the `b64*` fields are left empty).

use super::{CallError, Request, Response, pb};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Inserts a payload as raw JSON, or as base64 under `b64_key`.
fn put_payload(
    obj: &mut Map<String, Value>,
    key: &str,
    b64_key: &str,
    data: &[u8],
    binary: bool,
) -> Result<(), CallError> {
    if data.is_empty() {
        return Ok(());
    }
    if binary {
        obj.insert(b64_key.to_owned(), Value::String(B64.encode(data)));
        return Ok(());
    }
    let value: Value = serde_json::from_slice(data).map_err(|e| {
        CallError::Encode(format!("{key} is not JSON ({e}); enable binary_encoding"))
    })?;
    obj.insert(key.to_owned(), value);
    Ok(())
}

/// `meta` is always JSON (it comes from a token or a proxy as JSON).
fn put_meta(obj: &mut Map<String, Value>, meta: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<Value>(meta) {
        obj.insert("meta".to_owned(), v);
    }
}

fn common(client: &str, transport: &str, protocol: &str, encoding: &str) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("client".into(), client.into());
    obj.insert("transport".into(), transport.into());
    obj.insert("protocol".into(), protocol.into());
    obj.insert("encoding".into(), encoding.into());
    obj
}

fn put_str(obj: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        obj.insert(key.to_owned(), value.into());
    }
}

/// The JSON body of a request.
pub(crate) fn encode(request: &Request, binary: bool) -> Result<Value, CallError> {
    let obj = match request {
        Request::Connect(r) => {
            let mut o = common(&r.client, &r.transport, &r.protocol, &r.encoding);
            put_payload(&mut o, "data", "b64data", &r.data, binary)?;
            put_str(&mut o, "name", &r.name);
            put_str(&mut o, "version", &r.version);
            if !r.channels.is_empty() {
                o.insert("channels".into(), r.channels.clone().into());
            }
            o
        }
        Request::Refresh(r) => {
            let mut o = common(&r.client, &r.transport, &r.protocol, &r.encoding);
            put_str(&mut o, "user", &r.user);
            put_meta(&mut o, &r.meta);
            o
        }
        Request::Subscribe(r) => {
            let mut o = common(&r.client, &r.transport, &r.protocol, &r.encoding);
            put_str(&mut o, "user", &r.user);
            put_str(&mut o, "channel", &r.channel);
            put_str(&mut o, "token", &r.token);
            put_meta(&mut o, &r.meta);
            put_payload(&mut o, "data", "b64data", &r.data, binary)?;
            o
        }
        Request::Publish(r) => {
            let mut o = common(&r.client, &r.transport, &r.protocol, &r.encoding);
            put_str(&mut o, "user", &r.user);
            put_str(&mut o, "channel", &r.channel);
            put_payload(&mut o, "data", "b64data", &r.data, binary)?;
            put_meta(&mut o, &r.meta);
            o
        }
        Request::Rpc(r) => {
            let mut o = common(&r.client, &r.transport, &r.protocol, &r.encoding);
            put_str(&mut o, "user", &r.user);
            put_str(&mut o, "method", &r.method);
            put_payload(&mut o, "data", "b64data", &r.data, binary)?;
            put_meta(&mut o, &r.meta);
            o
        }
        Request::SubRefresh(r) => {
            let mut o = common(&r.client, &r.transport, &r.protocol, &r.encoding);
            put_str(&mut o, "user", &r.user);
            put_str(&mut o, "channel", &r.channel);
            put_meta(&mut o, &r.meta);
            o
        }
    };
    Ok(Value::Object(obj))
}

/// A payload from raw JSON or base64 (base64 wins when non-empty).
fn payload(raw: Option<&RawValue>, b64: &str) -> Result<Bytes, CallError> {
    if !b64.is_empty() {
        return B64
            .decode(b64)
            .map(Bytes::from)
            .map_err(|e| CallError::Decode(format!("bad base64: {e}")));
    }
    Ok(match raw {
        Some(r) if r.get() != "null" => Bytes::copy_from_slice(r.get().as_bytes()),
        _ => Bytes::new(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonError {
    code: u32,
    message: String,
    temporary: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonDisconnect {
    code: u32,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
struct Envelope<T> {
    #[serde(default)]
    result: Option<T>,
    #[serde(default)]
    error: Option<JsonError>,
    #[serde(default)]
    disconnect: Option<JsonDisconnect>,
}

impl<T> Envelope<T> {
    fn parts(self) -> Parts<T> {
        (
            self.result,
            self.error.map(|e| pb::Error {
                code: e.code,
                message: e.message,
                temporary: e.temporary,
            }),
            self.disconnect.map(|d| pb::Disconnect {
                code: d.code,
                reason: d.reason,
            }),
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonBool {
    value: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonOverride {
    presence: Option<JsonBool>,
    join_leave: Option<JsonBool>,
    force_recovery: Option<JsonBool>,
    force_positioning: Option<JsonBool>,
    force_push_join_leave: Option<JsonBool>,
}

impl From<JsonOverride> for pb::SubscribeOptionOverride {
    fn from(o: JsonOverride) -> Self {
        let b = |v: Option<JsonBool>| v.map(|v| pb::BoolValue { value: v.value });
        Self {
            presence: b(o.presence),
            join_leave: b(o.join_leave),
            force_recovery: b(o.force_recovery),
            force_positioning: b(o.force_positioning),
            force_push_join_leave: b(o.force_push_join_leave),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonSubOptions {
    expire_at: i64,
    info: Option<Box<RawValue>>,
    b64info: String,
    data: Option<Box<RawValue>>,
    b64data: String,
    #[serde(rename = "override")]
    overrides: Option<JsonOverride>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonConnectResult {
    user: String,
    expire_at: i64,
    info: Option<Box<RawValue>>,
    b64info: String,
    data: Option<Box<RawValue>>,
    b64data: String,
    channels: Vec<String>,
    subs: BTreeMap<String, JsonSubOptions>,
    meta: Option<Box<RawValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonRefreshResult {
    expired: bool,
    expire_at: i64,
    info: Option<Box<RawValue>>,
    b64info: String,
    meta: Option<Box<RawValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonPublishResult {
    data: Option<Box<RawValue>>,
    b64data: String,
    skip_history: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonRpcResult {
    data: Option<Box<RawValue>>,
    b64data: String,
}

/// A response's `result`, `error` and `disconnect`.
type Parts<T> = (Option<T>, Option<pb::Error>, Option<pb::Disconnect>);

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Parts<T>, CallError> {
    let env: Envelope<T> =
        serde_json::from_slice(body).map_err(|e| CallError::Decode(e.to_string()))?;
    Ok(env.parts())
}

/// Parses a response body for `request`'s event.
pub(crate) fn decode(request: &Request, body: &[u8]) -> Result<Response, CallError> {
    Ok(match request {
        Request::Connect(_) => {
            let (r, error, disconnect) = parse::<JsonConnectResult>(body)?;
            let result = match r {
                Some(r) => {
                    let mut subs = std::collections::HashMap::new();
                    for (channel, o) in r.subs {
                        subs.insert(
                            channel,
                            pb::SubscribeOptions {
                                expire_at: o.expire_at,
                                info: payload(o.info.as_deref(), &o.b64info)?,
                                b64info: String::new(),
                                data: payload(o.data.as_deref(), &o.b64data)?,
                                b64data: String::new(),
                                r#override: o.overrides.map(Into::into),
                            },
                        );
                    }
                    Some(pb::ConnectResult {
                        user: r.user,
                        expire_at: r.expire_at,
                        info: payload(r.info.as_deref(), &r.b64info)?,
                        b64info: String::new(),
                        data: payload(r.data.as_deref(), &r.b64data)?,
                        b64data: String::new(),
                        channels: r.channels,
                        subs,
                        meta: payload(r.meta.as_deref(), "")?,
                    })
                }
                None => None,
            };
            Response::Connect(pb::ConnectResponse {
                result,
                error,
                disconnect,
            })
        }
        Request::Refresh(_) => {
            let (r, error, disconnect) = parse::<JsonRefreshResult>(body)?;
            let result = match r {
                Some(r) => Some(pb::RefreshResult {
                    expired: r.expired,
                    expire_at: r.expire_at,
                    info: payload(r.info.as_deref(), &r.b64info)?,
                    b64info: String::new(),
                    meta: payload(r.meta.as_deref(), "")?,
                }),
                None => None,
            };
            Response::Refresh(pb::RefreshResponse {
                result,
                error,
                disconnect,
            })
        }
        Request::Subscribe(_) => {
            let (r, error, disconnect) = parse::<JsonSubOptions>(body)?;
            let result = match r {
                Some(r) => Some(pb::SubscribeResult {
                    expire_at: r.expire_at,
                    info: payload(r.info.as_deref(), &r.b64info)?,
                    b64info: String::new(),
                    data: payload(r.data.as_deref(), &r.b64data)?,
                    b64data: String::new(),
                    r#override: r.overrides.map(Into::into),
                }),
                None => None,
            };
            Response::Subscribe(pb::SubscribeResponse {
                result,
                error,
                disconnect,
            })
        }
        Request::Publish(_) => {
            let (r, error, disconnect) = parse::<JsonPublishResult>(body)?;
            let result = match r {
                Some(r) => Some(pb::PublishResult {
                    data: payload(r.data.as_deref(), &r.b64data)?,
                    b64data: String::new(),
                    skip_history: r.skip_history,
                }),
                None => None,
            };
            Response::Publish(pb::PublishResponse {
                result,
                error,
                disconnect,
            })
        }
        Request::Rpc(_) => {
            let (r, error, disconnect) = parse::<JsonRpcResult>(body)?;
            let result = match r {
                Some(r) => Some(pb::RpcResult {
                    data: payload(r.data.as_deref(), &r.b64data)?,
                    b64data: String::new(),
                }),
                None => None,
            };
            Response::Rpc(pb::RpcResponse {
                result,
                error,
                disconnect,
            })
        }
        Request::SubRefresh(_) => {
            let (r, error, disconnect) = parse::<JsonRefreshResult>(body)?;
            let result = match r {
                Some(r) => Some(pb::SubRefreshResult {
                    expired: r.expired,
                    expire_at: r.expire_at,
                    info: payload(r.info.as_deref(), &r.b64info)?,
                    b64info: String::new(),
                }),
                None => None,
            };
            Response::SubRefresh(pb::SubRefreshResponse {
                result,
                error,
                disconnect,
            })
        }
    })
}

/// Fills the plain payload fields from non-empty `b64*` fields of a gRPC
/// response (the backend may use either).
pub(crate) fn normalize_b64(response: &mut Response) -> Result<(), CallError> {
    fn fix(bytes: &mut Bytes, b64: &mut String) -> Result<(), CallError> {
        if !b64.is_empty() {
            *bytes = payload(None, b64)?;
            b64.clear();
        }
        Ok(())
    }
    match response {
        Response::Connect(r) => {
            if let Some(r) = &mut r.result {
                fix(&mut r.info, &mut r.b64info)?;
                fix(&mut r.data, &mut r.b64data)?;
                for s in r.subs.values_mut() {
                    fix(&mut s.info, &mut s.b64info)?;
                    fix(&mut s.data, &mut s.b64data)?;
                }
            }
        }
        Response::Refresh(r) => {
            if let Some(r) = &mut r.result {
                fix(&mut r.info, &mut r.b64info)?;
            }
        }
        Response::Subscribe(r) => {
            if let Some(r) = &mut r.result {
                fix(&mut r.info, &mut r.b64info)?;
                fix(&mut r.data, &mut r.b64data)?;
            }
        }
        Response::Publish(r) => {
            if let Some(r) = &mut r.result {
                fix(&mut r.data, &mut r.b64data)?;
            }
        }
        Response::Rpc(r) => {
            if let Some(r) = &mut r.result {
                fix(&mut r.data, &mut r.b64data)?;
            }
        }
        Response::SubRefresh(r) => {
            if let Some(r) = &mut r.result {
                fix(&mut r.info, &mut r.b64info)?;
            }
        }
    }
    Ok(())
}
