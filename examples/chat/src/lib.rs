//! The chat room behind `example-chat`: a page at `/`, a WebSocket at `/ws`, rooms
//! chosen with `?room=`, and "joined" / "left" notices.
//!
//! Each session keeps its name and room as key-value state; the room is a hub room,
//! so a message costs the size of the room, not of the whole hub.

use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use chorus_hub::{Config, Hub, HubUpgrade, OriginPolicy, Session};

const PAGE: &str = include_str!("../static/index.html");
const MAX_NAME: usize = 32;

fn name_of(s: &Session) -> String {
    s.get::<String>("name").unwrap_or_default()
}

fn room_of(s: &Session) -> String {
    s.get::<String>("room").unwrap_or_default()
}

/// Builds the chat hub.
pub fn hub() -> Hub {
    Hub::builder()
        .config(
            Config::default()
                .max_message_size(4 * 1024)
                .allowed_origins(OriginPolicy::SameHost),
        )
        .on_connect(|s| {
            let mut name = s
                .query_param("name")
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| format!("guest-{}", s.id()));
            name.truncate(
                name.char_indices()
                    .nth(MAX_NAME)
                    .map_or(name.len(), |(i, _)| i),
            );
            let room = s
                .query_param("room")
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "lobby".into());
            s.set("name", name.clone());
            s.set("room", room.clone());
            s.join(&room);
            s.hub()
                .broadcast_to_room(&room, format!("{name} joined the room"));
        })
        .on_message(|s, text| {
            let line = format!("{}: {}", name_of(s), text.trim());
            s.hub().broadcast_to_room(&room_of(s), line);
        })
        .on_disconnect(|s, _| {
            // The session has already left its room: only the others hear this.
            s.hub()
                .broadcast_to_room(&room_of(s), format!("{} left the room", name_of(s)));
        })
        .build()
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn ws(State(hub): State<Hub>, upgrade: HubUpgrade) -> impl IntoResponse {
    upgrade.accept(&hub)
}

/// The app: `/` serves the page, `/ws` the WebSocket.
pub fn app(hub: Hub) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ws", get(ws))
        .with_state(hub)
}
