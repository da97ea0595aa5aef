//! The admin JSON API under `/admin/api/`: status, connections, channels, users (reads, GET only)
//! and the actions send and disconnect (POST only, JSON bodies). Every error is JSON
//! `{"error": message}` with the right status.
//!
//! Owns request parsing, validation and the JSON shapes. It runs on the event loop, so every
//! handler only reads the registry or queues a command: nothing blocks. Access has already
//! been decided by `mod.rs` (via `auth.rs`); this module never looks at credentials.

use serde_json::{json, Map, Value};

use super::listing::ListQuery;
use crate::server::{HttpRequest, HttpResponse};
use crate::service::{ConnId, Service};
use crate::wire::channel::{valid_channel_name, CHANNEL_NAME_RULE};

/// Longest `cmd` accepted by `send`.
pub const MAX_CMD_BYTES: usize = 128;

/// What the API needs to know beyond the service.
pub struct ApiContext {
    /// Whether the live tap socket is installed (`/admin/api/tap`).
    pub tap: bool,
    /// Whether a token protects the interface (the page then offers "log out").
    pub token: bool,
}

/// Answers `/admin/api/{rest}`.
pub fn handle(request: &HttpRequest, service: &Service, rest: &str, cx: &ApiContext) -> HttpResponse {
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["status"] => get(request, || status(service, cx)),
        ["connections"] => get(request, || connections(request, service)),
        ["connections", id] => get(request, || connection(service, id)),
        ["channels"] => get(request, || channels(request, service)),
        ["users"] => get(request, || users(request, service)),
        ["channels", ..] => get(request, || channel(service, &rest["channels/".len()..])),
        ["send"] => post(request, || send(request, service)),
        ["disconnect", id] => post(request, || disconnect(request, service, id)),
        ["tap"] => error(503, "the live tap is not available on this server"),
        _ => error(404, "no such admin API endpoint"),
    }
}

/// A JSON error response.
pub fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::json(status, json!({ "error": message }).to_string())
}

fn ok(value: Value) -> HttpResponse {
    HttpResponse::json(200, value.to_string())
}

fn get(request: &HttpRequest, answer: impl FnOnce() -> HttpResponse) -> HttpResponse {
    match request.method.as_str() {
        "GET" => answer(),
        _ => error(405, "this endpoint only answers GET").with_header("Allow", "GET"),
    }
}

fn post(request: &HttpRequest, answer: impl FnOnce() -> HttpResponse) -> HttpResponse {
    if request.method != "POST" {
        return error(405, "this action needs POST").with_header("Allow", "POST");
    }
    let json =
        request.header("content-type").is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/json"));
    if !request.body.is_empty() && !json {
        return error(415, "the body must be application/json");
    }
    answer()
}

fn status(service: &Service, cx: &ApiContext) -> HttpResponse {
    let mut value = serde_json::to_value(service.status()).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut value {
        map.insert("worker_connections".into(), json!(service.worker_connections()));
        map.insert("tap".into(), json!(cx.tap));
        map.insert("token".into(), json!(cx.token));
        map.insert("max_message_bytes".into(), json!(service.config().max_message_bytes));
        map.insert("send_buffer_bytes".into(), json!(service.config().send_buffer_bytes));
        map.insert("history".into(), json!(service.history_stats()));
        if let Some(cluster) = service.cluster_status() {
            map.insert("cluster".into(), cluster);
        }
    }
    ok(value)
}

/// `?q=` keeps connections whose id, user, remote address, path or channels contain it
/// (case-insensitive); `?channel=` keeps the members of one channel; `?limit=` caps the list.
fn connections(request: &HttpRequest, service: &Service) -> HttpResponse {
    let all = match request.query_param("channel") {
        Some(channel) => service.connections_by_channel(&channel),
        None => service.connections(),
    };
    ok(ListQuery::of(request).answer("connections", &all))
}

fn connection(service: &Service, id: &str) -> HttpResponse {
    let Ok(id) = id.parse::<ConnId>() else {
        return error(400, "a connection id is a UUID");
    };
    match service.connection(&id) {
        Some(info) => ok(json!(info)),
        None => error(404, "no such connection"),
    }
}

/// Channels and their member counts; `?q=` keeps names that contain it (case-insensitive),
/// `?limit=` caps the list.
fn channels(request: &HttpRequest, service: &Service) -> HttpResponse {
    ok(ListQuery::of(request).answer("channels", &service.channels()))
}

/// Users and their connections; `?q=` keeps users whose id or name contains it
/// (case-insensitive), `?limit=` caps the list.
fn users(request: &HttpRequest, service: &Service) -> HttpResponse {
    ok(ListQuery::of(request).answer("users", &service.users()))
}

fn channel(service: &Service, raw_name: &str) -> HttpResponse {
    let Some(name) = percent_decode(raw_name) else {
        return error(400, "the channel name is not valid percent-encoded UTF-8");
    };
    if !valid_channel_name(&name) {
        return error(400, &format!("invalid channel name: {CHANNEL_NAME_RULE}"));
    }
    let members = service.connections_by_channel(&name);
    // In a cluster a channel may have users only on other nodes: it is shown, without members.
    let online = service.online(&name);
    if members.is_empty() && online.is_empty() {
        return error(404, "no such channel");
    }
    ok(json!({
        "name": name,
        "members": members.len(),
        "users": online.len(),
        "history": service.history_len(&name),
        "online": online,
        "connections": members,
    }))
}

/// `POST /admin/api/send` with `{"to": "connection"|"channel"|"user"|"all", "id"?, "channel"?,
/// "user"?, "cmd", "param"?}`; answers `{"ok": true, "to", "delivered"}`.
fn send(request: &HttpRequest, service: &Service) -> HttpResponse {
    let body = match parse_body(request) {
        Ok(Value::Object(body)) => body,
        Ok(_) => return error(400, "the body must be a JSON object"),
        Err(response) => return response,
    };
    let cmd = match valid_cmd(&body) {
        Ok(cmd) => cmd,
        Err(message) => return error(400, message),
    };
    let param = body.get("param").cloned().unwrap_or(Value::Null);
    let to = body.get("to").and_then(Value::as_str).unwrap_or_default();
    match to {
        "connection" => send_to_connection(service, &body, cmd, &param),
        "channel" => send_to_channel(service, &body, cmd, &param),
        "user" => send_to_user(service, &body, cmd, &param),
        "all" => send_to_all(service, cmd, &param),
        _ => error(400, "\"to\" must be \"connection\", \"channel\", \"user\" or \"all\""),
    }
}

fn valid_cmd(body: &Map<String, Value>) -> Result<&str, &'static str> {
    let Some(cmd) = body.get("cmd").and_then(Value::as_str) else {
        return Err("\"cmd\" must be a string");
    };
    if cmd.is_empty() || cmd.len() > MAX_CMD_BYTES || cmd.chars().any(char::is_control) {
        return Err("\"cmd\" must be 1 to 128 bytes without control characters");
    }
    Ok(cmd)
}

fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn delivered(to: &str, count: usize) -> HttpResponse {
    ok(json!({ "ok": true, "to": to, "delivered": count }))
}

fn failed(e: impl std::fmt::Display) -> HttpResponse {
    error(500, &format!("could not send: {e}"))
}

fn send_to_connection(service: &Service, body: &Map<String, Value>, cmd: &str, param: &Value) -> HttpResponse {
    let Some(id) = field(body, "id").and_then(|id| id.parse::<ConnId>().ok()) else {
        return error(400, "\"id\" must be a connection id (UUID)");
    };
    match service.write_connection(cmd, param, id) {
        Ok(true) => delivered("connection", 1),
        Ok(false) => error(404, "no such connection"),
        Err(e) => failed(e),
    }
}

fn send_to_channel(service: &Service, body: &Map<String, Value>, cmd: &str, param: &Value) -> HttpResponse {
    let Some(channel) = field(body, "channel") else {
        return error(400, "\"channel\" must be a channel name");
    };
    if !valid_channel_name(channel) {
        return error(400, &format!("invalid channel name: {CHANNEL_NAME_RULE}"));
    }
    let members = service.channels().into_iter().find(|c| c.name == channel).map(|c| c.members);
    // In a cluster the channel may have members only on other nodes.
    if members.is_none() && !service.is_clustered() {
        return error(404, "no such channel");
    }
    match service.write_channel(cmd, param, channel) {
        Ok(()) => delivered("channel", members.unwrap_or(0)),
        Err(e) => failed(e),
    }
}

fn send_to_user(service: &Service, body: &Map<String, Value>, cmd: &str, param: &Value) -> HttpResponse {
    let Some(user) = field(body, "user") else {
        return error(400, "\"user\" must be a user id");
    };
    match service.write_user(cmd, param, user) {
        Ok(0) if !service.is_clustered() => error(404, "no connection of that user"),
        Ok(count) => delivered("user", count),
        Err(e) => failed(e),
    }
}

fn send_to_all(service: &Service, cmd: &str, param: &Value) -> HttpResponse {
    let count = service.status().connections as usize;
    match service.write_all(cmd, param) {
        Ok(()) => delivered("all", count),
        Err(e) => failed(e),
    }
}

/// `POST /admin/api/disconnect/{id}`, body `{"notify": bool}` (optional): with `notify`, the
/// client is sent `close-connection` first so it does not reconnect.
fn disconnect(request: &HttpRequest, service: &Service, id: &str) -> HttpResponse {
    let Ok(id) = id.parse::<ConnId>() else {
        return error(400, "a connection id is a UUID");
    };
    let notify = match parse_body(request) {
        Ok(Value::Object(body)) => body.get("notify").and_then(Value::as_bool).unwrap_or(false),
        Ok(Value::Null) => false,
        Ok(_) => return error(400, "the body must be a JSON object"),
        Err(response) => return response,
    };
    let closed = if notify { service.close_for_good(id) } else { service.close(id) };
    if !closed {
        return error(404, "no such connection");
    }
    ok(json!({ "ok": true, "id": id, "notify": notify }))
}

/// The body as JSON (`null` when empty), or the 400 to answer.
fn parse_body(request: &HttpRequest) -> Result<Value, HttpResponse> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&request.body).map_err(|e| error(400, &format!("the body is not valid JSON: {e}")))
}

/// Decodes `%XX` escapes of a path segment (`+` stays `+`); None if not UTF-8 or malformed
/// (a `%` not followed by two hex digits).
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let well_formed = bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'%')
        .all(|(i, _)| bytes.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)));
    well_formed.then(|| percent_encoding::percent_decode_str(text).decode_utf8().ok().map(|s| s.into_owned()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("room%201").as_deref(), Some("room 1"));
        assert_eq!(percent_decode("a+b%2Fc").as_deref(), Some("a+b/c"));
        assert_eq!(percent_decode("%E2%9C%93").as_deref(), Some("✓"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%+1"), None);
    }
}
