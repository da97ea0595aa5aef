//! The server API's write calls (`publish`, `broadcast`, `user`, `all`, `disconnect`,
//! `subscribe`, `unsubscribe`): their JSON bodies, checked in full before anything runs, and
//! their execution as a thin layer over the `Service` API (publishing reaches other nodes
//! through the backplane, as every `Service` write does).
//!
//! Owns parsing and running one call; it must not route requests or check access (that is
//! `mod.rs` and `auth.rs`). A param is passed on as raw JSON, never parsed.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::service::message::null;
use crate::service::{ConnId, Service};
use crate::wire::channel::valid_channel_name;

/// Longest `cmd` accepted.
const MAX_CMD: usize = 128;

/// A call, parsed and checked, ready to run.
pub enum Call {
    /// `publish`: one channel.
    Publish(Publish),
    /// `broadcast`: several channels.
    Broadcast(Broadcast),
    /// `user`: every connection of a user.
    User(ToUser),
    /// `all`: every connection.
    All(ToAll),
    /// `disconnect`: a user's connections, or one.
    Disconnect(Disconnect),
    /// `subscribe`: join a channel, server-side.
    Subscribe(Membership),
    /// `unsubscribe`: leave a channel, server-side.
    Unsubscribe(Membership),
}

/// The body of `publish`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    channel: String,
    cmd: String,
    param: Option<Box<RawValue>>,
    #[serde(default, rename = "op")]
    _op: Option<IgnoredAny>,
}

/// The body of `broadcast`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broadcast {
    channels: Vec<String>,
    cmd: String,
    param: Option<Box<RawValue>>,
    #[serde(default, rename = "op")]
    _op: Option<IgnoredAny>,
}

/// The body of `user`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToUser {
    user: String,
    cmd: String,
    param: Option<Box<RawValue>>,
    #[serde(default, rename = "op")]
    _op: Option<IgnoredAny>,
}

/// The body of `all`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToAll {
    cmd: String,
    param: Option<Box<RawValue>>,
    #[serde(default, rename = "op")]
    _op: Option<IgnoredAny>,
}

/// The body of `disconnect`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disconnect {
    user: Option<String>,
    connection: Option<String>,
    #[serde(default)]
    close_connection: bool,
    #[serde(default, rename = "op")]
    _op: Option<IgnoredAny>,
}

/// The body of `subscribe` and `unsubscribe`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    user: Option<String>,
    connection: Option<String>,
    channel: String,
    #[serde(default, rename = "op")]
    _op: Option<IgnoredAny>,
}

/// Whom a disconnect or membership call is about.
enum Who {
    User(String),
    Connection(ConnId),
}

impl Call {
    /// Parses the body of call `op`; the error says what is wrong.
    pub fn parse(op: &str, body: &str) -> Result<Call, String> {
        let call = match op {
            "publish" => Call::Publish(from_json(body)?),
            "broadcast" => Call::Broadcast(from_json(body)?),
            "user" => Call::User(from_json(body)?),
            "all" => Call::All(from_json(body)?),
            "disconnect" => Call::Disconnect(from_json(body)?),
            "subscribe" => Call::Subscribe(from_json(body)?),
            "unsubscribe" => Call::Unsubscribe(from_json(body)?),
            other => return Err(format!("unknown op '{other}'")),
        };
        call.check()?;
        Ok(call)
    }

    /// The checks serde cannot make: names, and exactly one target.
    fn check(&self) -> Result<(), String> {
        match self {
            Call::Publish(p) => check_cmd(&p.cmd).and(check_channel(&p.channel)),
            Call::Broadcast(b) => {
                check_cmd(&b.cmd)?;
                if b.channels.is_empty() {
                    return Err("'channels' must not be empty".into());
                }
                b.channels.iter().try_for_each(|c| check_channel(c))
            }
            Call::User(u) => check_cmd(&u.cmd).and(check_user(&u.user)),
            Call::All(a) => check_cmd(&a.cmd),
            Call::Disconnect(d) => who(&d.user, &d.connection).map(|_| ()),
            Call::Subscribe(m) | Call::Unsubscribe(m) => {
                check_channel(&m.channel).and(who(&m.user, &m.connection).map(|_| ()))
            }
        }
    }

    /// Runs the call; the answer is `{"ok": true, ...}` or `{"ok": false, "error"}` when the
    /// server could not do it.
    pub fn run(&self, service: &Service) -> Value {
        let outcome = match self {
            Call::Publish(p) => service.write_channel(&p.cmd, param(&p.param), &p.channel).map(|_| json!({"ok": true})),
            Call::Broadcast(b) => {
                b.channels.iter().try_for_each(|c| service.write_channel(&b.cmd, param(&b.param), c)).map(|_| ok())
            }
            Call::User(u) => service.write_user(&u.cmd, param(&u.param), &u.user).map(|_| ok()),
            Call::All(a) => service.write_all(&a.cmd, param(&a.param)).map(|_| ok()),
            Call::Disconnect(d) => Ok(disconnect(service, d)),
            Call::Subscribe(m) => Ok(membership(service, m, true)),
            Call::Unsubscribe(m) => Ok(membership(service, m, false)),
        };
        outcome.unwrap_or_else(|e| json!({"ok": false, "error": e.to_string()}))
    }
}

fn ok() -> Value {
    json!({"ok": true})
}

fn param(param: &Option<Box<RawValue>>) -> &RawValue {
    match param {
        Some(raw) => raw,
        None => null(),
    }
}

fn from_json<T: DeserializeOwned>(body: &str) -> Result<T, String> {
    serde_json::from_str(body).map_err(|e| e.to_string())
}

fn check_cmd(cmd: &str) -> Result<(), String> {
    if cmd.is_empty() || cmd.len() > MAX_CMD {
        return Err(format!("'cmd' must be 1 to {MAX_CMD} bytes"));
    }
    Ok(())
}

fn check_channel(channel: &str) -> Result<(), String> {
    if !valid_channel_name(channel) {
        return Err(format!("invalid channel name '{}'", channel.escape_debug()));
    }
    Ok(())
}

fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("'user' must not be empty".into());
    }
    Ok(())
}

fn who(user: &Option<String>, connection: &Option<String>) -> Result<Who, String> {
    match (user, connection) {
        (Some(user), None) => check_user(user).map(|_| Who::User(user.clone())),
        (None, Some(id)) => {
            let id = id.parse::<ConnId>().map_err(|_| format!("'connection' is not a connection id: '{id}'"))?;
            Ok(Who::Connection(id))
        }
        _ => Err("name exactly one of 'user' and 'connection'".into()),
    }
}

/// The connections on this node a call is about.
fn targets(service: &Service, user: &Option<String>, connection: &Option<String>) -> Vec<ConnId> {
    match who(user, connection) {
        Ok(Who::User(user)) => service.shared.registry.user_connections(&user).into_iter().map(|(id, _)| id).collect(),
        Ok(Who::Connection(id)) => vec![id],
        Err(_) => Vec::new(),
    }
}

fn disconnect(service: &Service, call: &Disconnect) -> Value {
    let closed = targets(service, &call.user, &call.connection)
        .into_iter()
        .filter(|id| if call.close_connection { service.close_for_good(*id) } else { service.close(*id) })
        .count();
    json!({"ok": true, "disconnected": closed})
}

fn membership(service: &Service, call: &Membership, join: bool) -> Value {
    let changed = targets(service, &call.user, &call.connection)
        .into_iter()
        .filter(|id| if join { service.join(*id, &call.channel) } else { service.leave(*id, &call.channel) })
        .count();
    json!({"ok": true, "connections": changed})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        let error = |op, body| Call::parse(op, body).err().unwrap_or_default();
        assert!(error("publish", r#"{"cmd":"x"}"#).contains("missing field `channel`"));
        assert!(error("publish", r#"{"channel":"c","cmd":5}"#).contains("invalid type"));
        assert!(error("publish", r#"{"channel":"","cmd":"x"}"#).contains("invalid channel"));
        assert!(error("publish", r#"{"channel":"c","cmd":"x","extra":1}"#).contains("unknown field"));
        assert!(error("publish", r#"{"channel":"c""#).contains("EOF"));
        assert!(error("broadcast", r#"{"channels":[],"cmd":"x"}"#).contains("empty"));
        assert!(error("disconnect", r#"{"user":"a","connection":"b"}"#).contains("exactly one"));
        assert!(error("subscribe", r#"{"connection":"nope","channel":"c"}"#).contains("connection id"));
        assert!(error("frobnicate", "{}").contains("unknown op"));
        assert!(Call::parse("publish", r#"{"op":"publish","channel":"c","cmd":"x","param":{"a":[1]}}"#).is_ok());
    }
}
