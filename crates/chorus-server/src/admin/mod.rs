//! The admin web UI and its endpoints (`admin.enabled`), mounted under
//! `admin.handler_prefix` (`""`: the UI is at `/`):
//!
//! | Route | What |
//! | --- | --- |
//! | `GET {prefix}/` (and `app.js`, `app.css`) | the UI: plain HTML/JS/CSS embedded in the binary |
//! | `GET {prefix}/admin/init` | `{"insecure": bool, "edition": "oss"}`: whether the UI must log in |
//! | `POST {prefix}/admin/auth` | `{"password": "…"}` → `{"token": "…"}` (HS256 JWT signed with `admin.secret`, 24 h), 400 on a wrong password, 429 after 10 wrong ones from one address within a minute |
//! | `POST {prefix}/admin/api` | `{"method": "publish", "params": {…}}` → `{"result": …}` or `{"error": …}`, with `Authorization: token <token>` |
//! | `GET {prefix}/admin/stats` | this node's live figures for the nodes page (same authorization) |
//!
//! `admin.insecure` skips authentication (development only). API methods run on
//! the HTTP API's [`ApiExecutor`], so results are exactly
//! those of `POST /api/<method>`.

mod auth;
mod stats;
mod throttle;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::{ApiExecutor, ApiMethod, CallError, ErrorBody, call_json};
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");

/// Shared by the admin handlers.
#[derive(Clone)]
struct AdminState {
    app: AppState,
    executor: ApiExecutor,
    auth: auth::AdminAuth,
    login_throttle: throttle::LoginThrottle,
}

/// The admin routes (UI, `/admin/init`, `/admin/auth`, `/admin/api`, `/admin/stats`).
pub fn router(state: &AppState) -> Router {
    let cfg = &state.config.admin;
    let prefix = cfg.handler_prefix.trim_end_matches('/').to_owned();
    let admin = AdminState {
        app: state.clone(),
        executor: ApiExecutor::new(state.node.clone()),
        auth: auth::AdminAuth::new(&cfg.password, &cfg.secret, cfg.insecure),
        login_throttle: throttle::LoginThrottle::default(),
    };
    let root = if prefix.is_empty() {
        "/".to_owned()
    } else {
        format!("{prefix}/")
    };
    let mut router = Router::new()
        .route(&root, get(index))
        .route(&format!("{prefix}/app.js"), get(app_js))
        .route(&format!("{prefix}/app.css"), get(app_css))
        .route(&format!("{prefix}/admin/init"), get(init))
        .route(&format!("{prefix}/admin/auth"), post(login))
        .route(&format!("{prefix}/admin/api"), post(api))
        .route(&format!("{prefix}/admin/stats"), get(stats));
    if !prefix.is_empty() {
        // Relative asset and endpoint URLs need the trailing slash.
        let to = root;
        router = router.route(
            &prefix,
            get(move || async move { axum::response::Redirect::permanent(&to) }),
        );
    }
    router.with_state(admin)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn init(State(s): State<AdminState>) -> Response {
    axum::Json(serde_json::json!({
        "insecure": s.auth.insecure(),
        "edition": "oss",
    }))
    .into_response()
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    password: String,
}

async fn login(
    State(s): State<AdminState>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    body: Bytes,
) -> Response {
    let addr = peer.map(|Extension(ConnectInfo(a))| a.ip());
    if !s.login_throttle.allows(addr) {
        tracing::info!(?addr, "admin login refused: too many failed attempts");
        let retry = throttle::WINDOW.as_secs().to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry)],
            "too many failed logins\n",
        )
            .into_response();
    }
    // JSON body, or a form (`password=…`) as Centrifugo's UI sends.
    let password = serde_json::from_slice::<Login>(&body).map_or_else(
        |_| url_form_password(&body).unwrap_or_default(),
        |l| l.password,
    );
    match s.auth.login(&password) {
        Some(token) => axum::Json(serde_json::json!({ "token": token })).into_response(),
        None => {
            s.login_throttle.failed(addr);
            tracing::info!(?addr, "admin login refused: wrong password");
            (StatusCode::BAD_REQUEST, "wrong password\n").into_response()
        }
    }
}

fn url_form_password(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.into_owned())
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, "unauthorized\n").into_response()
}

#[derive(Deserialize)]
struct AdminCommand {
    method: String,
    #[serde(default)]
    params: Option<Box<RawValue>>,
}

async fn api(State(s): State<AdminState>, headers: HeaderMap, body: Bytes) -> Response {
    if !s.auth.authorized(&headers) {
        return unauthorized();
    }
    let Ok(cmd) = serde_json::from_slice::<AdminCommand>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad request\n").into_response();
    };
    let Some(method) = ApiMethod::from_name(&cmd.method) else {
        let body = ErrorBody::from(&chorus_node::ApiError::NotFound);
        return axum::Json(serde_json::json!({ "error": body })).into_response();
    };
    let params = cmd.params.as_ref().map_or("{}", |p| p.get());
    let reply = match call_json(&s.executor, method, params.as_bytes()).await {
        Ok(raw) => format!(r#"{{"result":{}}}"#, raw.get()),
        Err(CallError::Api(e)) => serde_json::json!({ "error": ErrorBody::from(&e) }).to_string(),
        Err(CallError::Decode) => {
            let e = ErrorBody::from(&chorus_node::ApiError::BadRequest);
            serde_json::json!({ "error": e }).to_string()
        }
    };
    tracing::info!(method = %cmd.method, "admin API call");
    ([(header::CONTENT_TYPE, "application/json")], reply).into_response()
}

async fn stats(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    if !s.auth.authorized(&headers) {
        return unauthorized();
    }
    axum::Json(stats::node_stats(&s.app.node)).into_response()
}

#[cfg(test)]
mod tests {
    use super::url_form_password;

    #[test]
    fn login_form_password_is_decoded() {
        assert_eq!(
            url_form_password(b"user=a&password=p%40ss+word%2B%26").as_deref(),
            Some("p@ss word+&")
        );
        assert_eq!(url_form_password(b"password=").as_deref(), Some(""));
        assert_eq!(url_form_password(b"user=a"), None);
    }
}
