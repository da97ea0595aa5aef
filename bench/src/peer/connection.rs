//! One peer connection, one task: the upgrade (routing `/echo` and `/example/socket?ch=NAME`),
//! then either the raw echo loop or the example handler, which `select!`s between the client's
//! messages and the channel's broadcast queue.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{http, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::channels::{Registry, Sender};
use crate::protocol::{self, ChatOut, ChatParam, ErrorParam, Incoming, OnlineUpdate, Outgoing, Timestamp};

type Socket = WebSocketStream<TcpStream>;

enum Route {
    Echo,
    Example { channel: String },
}

#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
pub async fn serve(stream: TcpStream, registry: Arc<Registry>, config: WebSocketConfig) {
    let mut route = None;
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        route = route_of(request.uri());
        match route {
            Some(_) => Ok(response),
            None => Err(not_found()),
        }
    };
    let Ok(socket) = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await else {
        return;
    };
    match route {
        Some(Route::Echo) => echo(socket).await,
        Some(Route::Example { channel }) => ExampleSession::run(socket, registry, channel).await,
        None => {}
    }
}

fn route_of(uri: &http::Uri) -> Option<Route> {
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

fn not_found() -> ErrorResponse {
    let mut response = ErrorResponse::new(Some("not found".into()));
    *response.status_mut() = http::StatusCode::NOT_FOUND;
    response
}

/// Every text or binary message back, unchanged.
async fn echo(mut socket: Socket) {
    while let Some(Ok(message)) = socket.next().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

struct ExampleSession {
    id: String,
    channel: String,
    sender: Sender,
    registry: Arc<Registry>,
}

/// How the loop goes on after one event.
enum Next {
    Continue,
    Stop,
}

impl ExampleSession {
    async fn run(socket: Socket, registry: Arc<Registry>, channel: String) {
        let sender = registry.sender(&channel);
        let session = ExampleSession { id: uuid::Uuid::new_v4().to_string(), channel, sender, registry };
        session.announce(true);
        let mut receiver = session.sender.subscribe();
        let (mut sink, mut stream) = socket.split();
        loop {
            let next = tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => session.on_text(&text, &mut sink).await,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Next::Stop,
                    Some(Ok(_)) => Next::Continue,
                },
                delivery = receiver.recv() => session.forward(delivery, &mut receiver, &mut sink).await,
            };
            if matches!(next, Next::Stop) {
                break;
            }
        }
        drop(receiver);
        session.announce(false);
        session.registry.release(&session.channel);
    }

    /// Tells the channel's other members (the joiner is not subscribed yet, the leaver no more).
    fn announce(&self, connected: bool) {
        let update = OnlineUpdate { user_id: &self.id, connected };
        let message = Outgoing { from: None, channel: Some(&self.channel), cmd: "online-update", param: update };
        let _ = self.sender.send(Utf8Bytes::from(protocol::encode(&message)));
    }

    /// Writes a broadcast and whatever else is already queued, then flushes once.
    async fn forward(
        &self,
        delivery: Result<Utf8Bytes, RecvError>,
        receiver: &mut tokio::sync::broadcast::Receiver<Utf8Bytes>,
        sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    ) -> Next {
        let first = match delivery {
            Ok(text) => text,
            Err(RecvError::Lagged(_)) => return close_slow_consumer(sink).await,
            Err(RecvError::Closed) => return Next::Stop,
        };
        if sink.feed(Message::Text(first)).await.is_err() {
            return Next::Stop;
        }
        loop {
            match receiver.try_recv() {
                Ok(text) => {
                    if sink.feed(Message::Text(text)).await.is_err() {
                        return Next::Stop;
                    }
                }
                Err(TryRecvError::Lagged(_)) => return close_slow_consumer(sink).await,
                Err(_) => break,
            }
        }
        match sink.flush().await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Stop,
        }
    }

    async fn on_text(&self, text: &str, sink: &mut futures_util::stream::SplitSink<Socket, Message>) -> Next {
        let reply = match serde_json::from_str::<Incoming<'_>>(text) {
            Ok(message) => self.on_command(&message),
            Err(_) => Some(error_message("invalid message")),
        };
        let Some(reply) = reply else {
            return Next::Continue;
        };
        match sink.send(Message::Text(reply.into())).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Stop,
        }
    }

    /// Handles one command; returns the reply for the sender alone, if any.
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
        let _ = sender.send(Utf8Bytes::from(protocol::encode(&message)));
        None
    }
}

fn error_message(text: &str) -> String {
    protocol::encode(&Outgoing { from: None, channel: None, cmd: "error", param: ErrorParam { message: text } })
}

async fn close_slow_consumer(sink: &mut futures_util::stream::SplitSink<Socket, Message>) -> Next {
    let frame = CloseFrame { code: CloseCode::Policy, reason: "slow consumer".into() };
    let _ = sink.send(Message::Close(Some(frame))).await;
    Next::Stop
}
