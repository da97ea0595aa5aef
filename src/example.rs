//! The example chat application: the handler behind `/example/socket`, written with `Router`
//! as an application would write its own, and the page at `/example`.
//!
//! Commands: `ping` → `pong {timestamp}` to the channel; `echo` → the same param back to the
//! sender; `chat {text}` → `chat {user, text, time}` to the channel; `join-room {room}` and
//! `leave-room {room}` join or leave the channel of that name.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::ChannelAction;
use crate::server::routes::valid_channel_name;
use crate::service::{HandlerError, Profile, Router};

/// The example page (uses the TypeScript client).
pub const PAGE: &str = include_str!("../assets/example.html");
/// The TypeScript client, built (`client/dist/switchyard.js`).
pub const CLIENT_JS: &str = include_str!("../client/dist/switchyard.js");

/// Longest chat text accepted.
const MAX_TEXT: usize = 4096;

#[derive(Deserialize)]
struct ChatIn {
    text: String,
}

#[derive(Serialize)]
struct ChatOut<'a> {
    user: &'a str,
    text: &'a str,
    time: u64,
}

#[derive(Deserialize)]
struct Room {
    room: String,
}

#[derive(Serialize)]
struct Pong {
    timestamp: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn failed(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::other(e.to_string())
}

/// The binary's channel policy: anyone may join and publish anywhere, except `admin-*`
/// channels, which need the `admin` role.
pub fn authorizer(profile: &Profile, channel: &str, _action: ChannelAction) -> bool {
    !channel.starts_with("admin-") || profile.has_role("admin")
}

/// The example handler.
pub fn handler() -> Router {
    Router::new()
        .route("ping", |ctx, _conn, channel, _: serde::de::IgnoredAny| {
            ctx.write_channel("pong", &Pong { timestamp: now_ms() }, channel).map_err(failed)
        })
        .route("echo", |ctx, conn, _channel, param: Box<RawValue>| {
            ctx.write_connection("echo", &param, conn.id).map(|_| ()).map_err(failed)
        })
        .route("chat", |ctx, conn, channel, chat: ChatIn| {
            if chat.text.len() > MAX_TEXT {
                return Err(HandlerError::BadParam {
                    cmd: "chat".into(),
                    detail: format!("text longer than {MAX_TEXT} bytes"),
                });
            }
            let message = ChatOut { user: &conn.profile.name, text: &chat.text, time: now_ms() };
            ctx.write_channel("chat", &message, channel).map_err(failed)
        })
        .route("join-room", |ctx, conn, _channel, room: Room| {
            if !valid_channel_name(&room.room) {
                return Err(HandlerError::BadParam { cmd: "join-room".into(), detail: "invalid room name".into() });
            }
            ctx.join(conn.id, &room.room);
            Ok(())
        })
        .route("leave-room", |ctx, conn, _channel, room: Room| {
            ctx.leave(conn.id, &room.room);
            Ok(())
        })
}
