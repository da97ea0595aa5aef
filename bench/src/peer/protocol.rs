//! The example protocol's messages for the peer: what a client sends, and the compact JSON
//! the server sends (`{"from"?,"channel"?,"cmd","param"}`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `{"channel"?, "cmd", "param"}` from a client; `param` stays raw until a command needs it.
#[derive(Deserialize)]
pub struct Incoming<'a> {
    #[serde(default, borrow)]
    pub channel: Option<&'a str>,
    #[serde(borrow)]
    pub cmd: &'a str,
    #[serde(default, borrow)]
    pub param: Option<&'a RawValue>,
}

#[derive(Serialize)]
pub struct Outgoing<'a, P: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'a str>,
    pub cmd: &'a str,
    pub param: P,
}

#[derive(Deserialize)]
pub struct ChatParam<'a> {
    #[serde(borrow)]
    pub text: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
pub struct ChatOut<'a> {
    pub user: &'a str,
    pub text: &'a str,
    pub time: u128,
}

#[derive(Serialize)]
pub struct OnlineUpdate<'a> {
    #[serde(rename = "userID")]
    pub user_id: &'a str,
    pub connected: bool,
}

#[derive(Serialize)]
pub struct Timestamp {
    pub timestamp: u128,
}

#[derive(Serialize)]
pub struct ErrorParam<'a> {
    pub message: &'a str,
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis())
}

/// Compact JSON of a server message.
pub fn encode<P: Serialize>(message: &Outgoing<'_, P>) -> String {
    serde_json::to_string(message).unwrap_or_else(|_| r#"{"cmd":"error","param":{"message":"encode"}}"#.into())
}
