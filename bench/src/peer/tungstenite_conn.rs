//! The tokio-tungstenite engine: one connection, one task. The upgrade (routed by
//! `session::route_of`), then either the raw echo loop or the example session, which
//! `select!`s between the client's messages and the channel's broadcast queue. The protocol
//! itself lives in `session`; this module only reads and writes tungstenite messages.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{http, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::channels::Registry;
use crate::session::{route_of, ExampleSession, Route};

type Socket = WebSocketStream<TcpStream>;
type Sink = futures_util::stream::SplitSink<Socket, Message>;
type Session = ExampleSession<Utf8Bytes>;

#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
pub async fn serve(stream: TcpStream, registry: Arc<Registry<Utf8Bytes>>, config: WebSocketConfig) {
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
        Some(Route::Example { channel }) => example(socket, registry, channel).await,
        None => {}
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

/// How the loop goes on after one event.
enum Next {
    Continue,
    Stop,
}

async fn example(socket: Socket, registry: Arc<Registry<Utf8Bytes>>, channel: String) {
    let (session, mut receiver) = Session::join(registry, channel);
    let (mut sink, mut stream) = socket.split();
    loop {
        let next = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => reply(&session, &text, &mut sink).await,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Next::Stop,
                Some(Ok(_)) => Next::Continue,
            },
            delivery = receiver.recv() => forward(delivery, &mut receiver, &mut sink).await,
        };
        if matches!(next, Next::Stop) {
            break;
        }
    }
    session.leave(receiver);
}

/// Writes a broadcast and whatever else is already queued, then flushes once.
async fn forward(delivery: Result<Utf8Bytes, RecvError>, receiver: &mut Receiver<Utf8Bytes>, sink: &mut Sink) -> Next {
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

async fn reply(session: &Session, text: &str, sink: &mut Sink) -> Next {
    let Some(reply) = session.on_text(text) else {
        return Next::Continue;
    };
    match sink.send(Message::Text(reply.into())).await {
        Ok(()) => Next::Continue,
        Err(_) => Next::Stop,
    }
}

async fn close_slow_consumer(sink: &mut Sink) -> Next {
    let frame = CloseFrame { code: CloseCode::Policy, reason: "slow consumer".into() };
    let _ = sink.send(Message::Close(Some(frame))).await;
    Next::Stop
}
