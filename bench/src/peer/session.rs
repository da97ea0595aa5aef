//! The example protocol, whatever the WebSocket library: routing an upgrade (`/echo`,
//! `/example/socket?ch=NAME`), and one member's session — presence announcements, the reply to
//! each text message, publishing `chat` and `ping` through the channel's broadcast queue.
//! It owns no socket: each engine (`tungstenite_conn`, `fastws_conn`) reads frames, hands the
//! text here and writes what comes back.

use std::sync::Arc;

use crate::channels::{Registry, Sender};
use crate::protocol::{self, ChatOut, ChatParam, ErrorParam, Incoming, OnlineUpdate, Outgoing, Timestamp};

/// What an upgrade request asks for.
pub enum Route {
    Echo,
    Example { channel: String },
}

/// The route of a request URI; `None` is a 404.
pub fn route_of(uri: &http::Uri) -> Option<Route> {
    match uri.path() {
        "/echo" => Some(Route::Echo),
        "/example/socket" => {
            let named = uri.query().unwrap_or("").split('&').find_map(|pair| pair.strip_prefix("ch="));
            let channel = match named {
                Some(name) if !name.is_empty() => name.to_string(),
                _ => format!("example-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            };
            Some(Route::Example { channel })
        }
        _ => None,
    }
}

/// One member of one channel. `M` is the engine's broadcast text (built from a `String`).
pub struct ExampleSession<M> {
    id: String,
    channel: String,
    sender: Sender<M>,
    registry: Arc<Registry<M>>,
}

impl<M: Clone + From<String>> ExampleSession<M> {
    /// Joins `channel`: announces the member to the others, then subscribes it.
    pub fn join(registry: Arc<Registry<M>>, channel: String) -> (Self, tokio::sync::broadcast::Receiver<M>) {
        let sender = registry.sender(&channel);
        let session = ExampleSession { id: uuid::Uuid::new_v4().to_string(), channel, sender, registry };
        session.announce(true);
        let receiver = session.sender.subscribe();
        (session, receiver)
    }

    /// Leaves after the receiver is dropped: announces it and forgets an empty channel.
    pub fn leave(self, receiver: tokio::sync::broadcast::Receiver<M>) {
        drop(receiver);
        self.announce(false);
        self.registry.release(&self.channel);
    }

    /// Tells the channel's other members (the joiner is not subscribed yet, the leaver no more).
    fn announce(&self, connected: bool) {
        let update = OnlineUpdate { user_id: &self.id, connected };
        let message = Outgoing { from: None, channel: Some(&self.channel), cmd: "online-update", param: update };
        let _ = self.sender.send(M::from(protocol::encode(&message)));
    }

    /// Handles one text message; returns the reply for the sender alone, if any.
    pub fn on_text(&self, text: &str) -> Option<String> {
        match serde_json::from_str::<Incoming<'_>>(text) {
            Ok(message) => self.on_command(&message),
            Err(_) => Some(error_message("invalid message")),
        }
    }

    fn on_command(&self, message: &Incoming<'_>) -> Option<String> {
        let param = message.param.map_or("null", |raw| raw.get());
        match message.cmd {
            "echo" => Some(format!(r#"{{"cmd":"echo","param":{param}}}"#)),
            "heartbeat" => Some(r#"{"cmd":"heartbeat","param":null}"#.to_string()),
            "chat" => self.chat(message.channel, param),
            "ping" => {
                let pong = Timestamp { timestamp: protocol::now_millis() };
                self.publish(message.channel, "pong", pong)
            }
            _ => Some(error_message("unknown command")),
        }
    }

    fn chat(&self, channel: Option<&str>, param: &str) -> Option<String> {
        let Ok(chat) = serde_json::from_str::<ChatParam<'_>>(param) else {
            return Some(error_message("chat needs {\"text\"}"));
        };
        let out = ChatOut { user: "anonymous", text: &chat.text, time: protocol::now_millis() };
        self.publish(channel, "chat", out)
    }

    /// Broadcasts to the named channel (default: the joined one), including the sender.
    fn publish<P: serde::Serialize>(&self, channel: Option<&str>, cmd: &str, param: P) -> Option<String> {
        let channel = channel.unwrap_or(&self.channel);
        let sender = if channel == self.channel { Some(self.sender.clone()) } else { self.registry.existing(channel) };
        let Some(sender) = sender else {
            return Some(error_message("unknown channel"));
        };
        let message = Outgoing { from: Some(&self.id), channel: Some(channel), cmd, param };
        let _ = sender.send(M::from(protocol::encode(&message)));
        None
    }
}

fn error_message(text: &str) -> String {
    protocol::encode(&Outgoing { from: None, channel: None, cmd: "error", param: ErrorParam { message: text } })
}
