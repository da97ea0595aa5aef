//! The fastwebsockets engine, written the way its README recommends: hyper 1 serves the HTTP/1
//! upgrade (`http1::Builder::serve_connection(..).with_upgrades()`), `fastwebsockets::upgrade`
//! answers it, a `FragmentCollector` reads whole messages, auto-pong and auto-close on. The
//! example session splits the socket (`unstable-split`): a `FragmentCollectorRead` reads while
//! the channel's broadcast queue is forwarded, both writing through one `WebSocketWrite` behind
//! an async mutex (buffered, flushed after each reply and after each drained batch of
//! broadcasts, as the tungstenite engine's `feed`/`flush`). The protocol lives in `session`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use fastwebsockets::{upgrade, FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload};
use fastwebsockets::{WebSocket, WebSocketError, WebSocketWrite};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{BufWriter, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::sync::Mutex;

use crate::channels::Registry;
use crate::session::{route_of, ExampleSession, Route};

type Io = TokioIo<hyper::upgrade::Upgraded>;
type Writer = WebSocketWrite<BufWriter<WriteHalf<Io>>>;
type Session = ExampleSession<Bytes>;

/// Serves one TCP connection: HTTP/1 until the upgrade, then the WebSocket on a task of its own.
pub async fn serve(stream: TcpStream, registry: Arc<Registry<Bytes>>) {
    let service = service_fn(move |request| upgrade_request(request, registry.clone()));
    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades().await;
}

async fn upgrade_request(
    mut request: Request<Incoming>,
    registry: Arc<Registry<Bytes>>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let Some(route) = route_of(request.uri()) else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    if !upgrade::is_upgrade_request(&request) {
        return Ok(status(StatusCode::BAD_REQUEST));
    }
    let Ok((response, upgraded)) = upgrade::upgrade(&mut request) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    // `unconstrained`, as fastwebsockets' own example servers run their connections.
    tokio::spawn(tokio::task::unconstrained(async move {
        let Ok(socket) = upgraded.await else {
            return;
        };
        match route {
            Route::Echo => echo(socket).await,
            Route::Example { channel } => example(socket, registry, channel).await,
        }
    }));
    Ok(response)
}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = code;
    response
}

/// Every text or binary message back, unchanged (the README's echo server).
async fn echo(socket: WebSocket<Io>) {
    let mut socket = FragmentCollector::new(socket);
    while let Ok(frame) = socket.read_frame().await {
        let reply = match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => Frame::new(true, frame.opcode, None, frame.payload),
            _ => continue,
        };
        if socket.write_frame(reply).await.is_err() {
            break;
        }
    }
}

async fn example(socket: WebSocket<Io>, registry: Arc<Registry<Bytes>>, channel: String) {
    let (reader, writer) = socket.split(|io| {
        let (read, write) = tokio::io::split(io);
        (read, BufWriter::new(write))
    });
    let mut reader = FragmentCollectorRead::new(reader);
    let writer = Mutex::new(writer);
    let (session, mut receiver) = Session::join(registry, channel);
    tokio::select! {
        () = read_messages(&session, &mut reader, &writer) => {}
        () = forward_broadcasts(&mut receiver, &writer) => {}
    }
    session.leave(receiver);
}

/// The client's messages until it closes or errs; replies (and the pongs and close echo that
/// fastwebsockets obliges the reader to send) go out through `writer`.
async fn read_messages<S>(session: &Session, reader: &mut FragmentCollectorRead<S>, writer: &Mutex<Writer>)
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut obligated = |frame: Frame<'static>| send(writer, frame);
    loop {
        let Ok(frame) = reader.read_frame(&mut obligated).await else {
            return;
        };
        match frame.opcode {
            OpCode::Text => {
                // fastwebsockets has validated it already; this only turns it into a &str.
                let Ok(text) = std::str::from_utf8(&frame.payload) else {
                    return;
                };
                let Some(reply) = session.on_text(text) else {
                    continue;
                };
                if send(writer, Frame::text(Payload::Owned(reply.into_bytes()))).await.is_err() {
                    return;
                }
            }
            OpCode::Close => return,
            _ => {}
        }
    }
}

async fn send(writer: &Mutex<Writer>, frame: Frame<'_>) -> Result<(), WebSocketError> {
    let mut writer = writer.lock().await;
    writer.write_frame(frame).await?;
    writer.flush().await
}

/// The channel's broadcasts: each wakeup writes what is queued, then flushes once.
async fn forward_broadcasts(receiver: &mut Receiver<Bytes>, writer: &Mutex<Writer>) {
    loop {
        let first = match receiver.recv().await {
            Ok(text) => text,
            Err(RecvError::Lagged(_)) => return close_slow_consumer(writer).await,
            Err(RecvError::Closed) => return,
        };
        let mut locked = writer.lock().await;
        if locked.write_frame(Frame::text(Payload::Borrowed(&first))).await.is_err() {
            return;
        }
        loop {
            match receiver.try_recv() {
                Ok(text) => {
                    if locked.write_frame(Frame::text(Payload::Borrowed(&text))).await.is_err() {
                        return;
                    }
                }
                Err(TryRecvError::Lagged(_)) => {
                    drop(locked);
                    return close_slow_consumer(writer).await;
                }
                Err(_) => break,
            }
        }
        if locked.flush().await.is_err() {
            return;
        }
    }
}

async fn close_slow_consumer(writer: &Mutex<Writer>) {
    let _ = send(writer, Frame::close(1008, b"slow consumer")).await;
}
