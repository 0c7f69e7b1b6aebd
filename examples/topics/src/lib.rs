//! Per-session state and broadcast filters.
//!
//! Each session keeps a name and a set of topics in its key-value state. Text
//! commands change the state; a message addressed to a topic goes, through
//! `broadcast_filter`, only to sessions whose state says they follow it:
//!
//! | send | effect |
//! | --- | --- |
//! | `/name alice` | sets your name |
//! | `/follow sports` | follows a topic |
//! | `/unfollow sports` | stops following it |
//! | `/topics` | lists what you follow |
//! | `#sports goal!` | sends `alice#sports: goal!` to every follower except you |
//! | anything else | sends `alice: …` to everyone except you |

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use chorus_hub::{Config, Hub, HubUpgrade, OriginPolicy, Session, Text};
use std::collections::BTreeSet;

type Topics = BTreeSet<String>;

fn handle(s: &Session, text: &Text) {
    let hub = s.hub();
    let name: String = s.get("name").unwrap_or_default();
    if let Some(new) = text.strip_prefix("/name ") {
        s.set("name", new.trim().to_owned());
        let _ = s.write(format!("you are {}", new.trim()));
    } else if let Some(topic) = text.strip_prefix("/follow ") {
        let mut topics: Topics = s.get("topics").unwrap_or_default();
        topics.insert(topic.trim().to_owned());
        s.set("topics", topics);
        let _ = s.write(format!("following {}", topic.trim()));
    } else if let Some(topic) = text.strip_prefix("/unfollow ") {
        let mut topics: Topics = s.get("topics").unwrap_or_default();
        topics.remove(topic.trim());
        s.set("topics", topics);
        let _ = s.write(format!("unfollowed {}", topic.trim()));
    } else if text.as_str() == "/topics" {
        let topics: Topics = s.get("topics").unwrap_or_default();
        let list: Vec<_> = topics.into_iter().collect();
        let _ = s.write(format!("topics: {}", list.join(", ")));
    } else if let Some(rest) = text.strip_prefix('#') {
        let (topic, body) = rest.split_once(' ').unwrap_or((rest, ""));
        let me = s.id();
        let d = hub.broadcast_filter(format!("{name}#{topic}: {body}"), |other| {
            other.id() != me
                && other
                    .with("topics", |t: &Topics| t.contains(topic))
                    .unwrap_or(false)
        });
        let _ = s.write(format!("delivered to {}", d.queued));
    } else {
        hub.broadcast_others(format!("{name}: {text}"), s);
    }
}

/// Builds the hub.
pub fn hub() -> Hub {
    Hub::builder()
        .config(Config::default().allowed_origins(OriginPolicy::Any))
        .on_connect(|s| s.set("name", format!("user-{}", s.id())))
        .on_message(|s, text| handle(s, &text))
        .build()
}

async fn ws(State(hub): State<Hub>, upgrade: HubUpgrade) -> impl IntoResponse {
    upgrade.accept(&hub)
}

/// The app: the WebSocket at `/ws`.
pub fn app(hub: Hub) -> Router {
    Router::new().route("/ws", get(ws)).with_state(hub)
}
