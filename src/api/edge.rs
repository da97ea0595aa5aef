//! The generic socket route of edge mode, `/socket?ch=NAME`: a handler whose logic lives in
//! the backend.
//!
//! Built-in commands (besides `heartbeat` and `refresh`, which the core answers itself):
//! `join-room {room}` (through the subscribe proxy when there is one, else the channel
//! policy) and `leave-room {room}`. Every other command goes to the command proxy; with no
//! command proxy, `publish` sends its param to every member of the message's channel
//! (`{"from","channel","cmd":"publish","param"}`) when the channel policy lets the
//! connection publish there, and anything else is `unknown-command`.
//!
//! Runs on the event loop: it queues proxy calls and never waits for them.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::service::proxy::{CommandEvent, ProxyEvent, ProxyRequest, SubscribeEvent};
use crate::service::{Connection, Context, Handler, HandlerError, HandlerResult};
use crate::wire::channel::valid_channel_name;

/// The path of the edge route.
pub const PATH: &str = "/socket";

/// The edge route's handler.
#[derive(Debug, Default, Clone, Copy)]
pub struct Edge;

#[derive(Deserialize)]
struct Room {
    room: String,
}

impl Handler for Edge {
    fn on_message(
        &self,
        ctx: &mut Context<'_>,
        conn: &Connection,
        channel: &str,
        cmd: &str,
        param: &RawValue,
    ) -> HandlerResult {
        match cmd {
            "join-room" => join(ctx, conn, room(cmd, param)?),
            "leave-room" => {
                ctx.leave(conn.id, &room(cmd, param)?);
                Ok(())
            }
            _ if ctx.proxies(conn.id, ProxyEvent::Command) => {
                let event = CommandEvent {
                    conn: conn.id,
                    user: conn.profile.id.clone(),
                    channel: channel.to_string(),
                    cmd: cmd.to_string(),
                    param: param.to_owned(),
                };
                ctx.proxy(conn.id, ProxyRequest::Command(event));
                Ok(())
            }
            "publish" => ctx.write_channel("publish", param, channel).map_err(|e| HandlerError::other(e.to_string())),
            other => Err(HandlerError::UnknownCommand(other.to_string())),
        }
    }
}

fn room(cmd: &str, param: &RawValue) -> Result<String, HandlerError> {
    let Room { room } = serde_json::from_str(param.get())
        .map_err(|e| HandlerError::BadParam { cmd: cmd.into(), detail: e.to_string() })?;
    if !valid_channel_name(&room) {
        return Err(HandlerError::BadParam { cmd: cmd.into(), detail: "invalid room name".into() });
    }
    Ok(room)
}

/// Joins through the subscribe proxy, or straight away under the channel policy.
fn join(ctx: &mut Context<'_>, conn: &Connection, room: String) -> HandlerResult {
    if ctx.proxies(conn.id, ProxyEvent::Subscribe) {
        let event = SubscribeEvent { conn: conn.id, user: conn.profile.id.clone(), channel: room };
        ctx.proxy(conn.id, ProxyRequest::Subscribe(event));
    } else {
        ctx.join(conn.id, &room);
    }
    Ok(())
}
