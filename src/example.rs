//! The example chat application: the handler behind `/example/socket`, written with `Router`
//! as an application would write its own, and the page at `/example`.
//!
//! Commands: `ping` → `pong {timestamp}` to the channel; `echo` → the same param back to the
//! sender; `chat {text, name?}` → `chat {user, name?, text, time}` to the channel (`name`: the
//! name an anonymous sender chose, unverified); `join-room {room}` and `leave-room {room}`
//! join or leave the channel of that name.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::auth::ChannelAction;
use crate::service::{HandlerError, Profile, Router};
use crate::wire::channel::{valid_channel_name, CHANNEL_NAME_RULE};

/// The example page (uses the TypeScript client).
pub const PAGE: &str = include_str!("../assets/example.html");
/// The icon the example and admin pages show (served at `/favicon.ico` and `/favicon.svg`).
pub const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");
/// The TypeScript client, built (`client/dist/switchyard.js`).
pub const CLIENT_JS: &str = include_str!("../client/dist/switchyard.js");

/// Longest chat text accepted, in bytes.
pub const MAX_TEXT: usize = 4096;
/// Longest self-chosen name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

#[derive(Deserialize)]
struct ChatIn {
    text: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize)]
struct ChatOut<'a> {
    /// The profile's name: verified for an authenticated user, `anonymous` otherwise.
    user: &'a str,
    /// The name an anonymous sender chose for itself (unverified); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    text: &'a str,
    time: u64,
}

#[derive(Deserialize)]
struct Room {
    room: String,
    /// With `epoch`: the offset of the last message seen (a re-join after a reconnect).
    #[serde(default)]
    since: Option<u64>,
    #[serde(default)]
    epoch: Option<String>,
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

fn bad(cmd: &str, detail: impl Into<String>) -> HandlerError {
    HandlerError::BadParam { cmd: cmd.into(), detail: detail.into() }
}

/// The checked chat text and, for an anonymous sender, its self-chosen name.
fn check_chat<'a>(chat: &'a ChatIn, profile: &Profile) -> Result<(&'a str, Option<&'a str>), HandlerError> {
    if chat.text.trim().is_empty() {
        return Err(bad("chat", "\"text\" must not be empty"));
    }
    if chat.text.len() > MAX_TEXT {
        return Err(bad("chat", format!("\"text\" is longer than {MAX_TEXT} bytes")));
    }
    let name = chat.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let Some(name) = name.filter(|_| profile.anonymous) else {
        return Ok((&chat.text, None)); // an authenticated user is known by its verified name
    };
    let printable = |c: char| !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if name.chars().count() > MAX_NAME_CHARS || !name.chars().all(printable) {
        let why = format!("\"name\" is at most {MAX_NAME_CHARS} characters, without control or bidi characters");
        return Err(bad("chat", why));
    }
    Ok((&chat.text, Some(name)))
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
        .route_raw("echo", |ctx, conn, _channel, param| {
            ctx.write_connection("echo", param, conn.id).map(|_| ()).map_err(failed)
        })
        .route("chat", |ctx, conn, channel, chat: ChatIn| {
            let (text, name) = check_chat(&chat, &conn.profile)?;
            let message = ChatOut { user: &conn.profile.name, name, text, time: now_ms() };
            ctx.write_channel("chat", &message, channel).map_err(failed)
        })
        .route("join-room", |ctx, conn, _channel, room: Room| {
            if !valid_channel_name(&room.room) {
                return Err(bad("join-room", format!("invalid room name: {CHANNEL_NAME_RULE}")));
            }
            match (room.since, &room.epoch) {
                (Some(since), Some(epoch)) => ctx.join_from(conn.id, &room.room, since, epoch),
                _ => ctx.join(conn.id, &room.room),
            };
            Ok(())
        })
        .route("leave-room", |ctx, conn, _channel, room: Room| {
            ctx.leave(conn.id, &room.room);
            Ok(())
        })
        .describe("chat", r#"{"text": string, "name"?: string}"#)
        .describe("join-room", r#"{"room": string, "since"?: number, "epoch"?: string}"#)
        .describe("leave-room", r#"{"room": string}"#)
}
