//! `peer-tokio`: idiomatic tokio servers of switchyard's example protocol, the baselines
//! switchyard is compared with. Two engines, one protocol (`session`, `channels`, `protocol`):
//! - `--engine tungstenite` (default): tokio-tungstenite, a multi-thread runtime (`--workers`
//!   threads), tungstenite's read buffer size a flag (its default is 128 KiB);
//! - `--engine fastwebsockets`: fastwebsockets behind a hyper 1 upgrade, on one current-thread
//!   runtime (a multi-thread one with `--workers` above 1).
//!
//! Both: one task per connection, a `tokio::sync::broadcast` per channel, serde_json.

mod channels;
mod fastws_conn;
mod protocol;
mod session;
mod tungstenite_conn;

use std::net::SocketAddr;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    Tungstenite,
    Fastwebsockets,
}

#[derive(Parser, Debug)]
#[command(name = "peer-tokio", about = "tokio peers (tungstenite, fastwebsockets) of the switchyard example protocol")]
struct PeerArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The WebSocket library.
    #[arg(long, value_enum, default_value_t = Engine::Tungstenite)]
    engine: Engine,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// tungstenite's read_buffer_size (default: tungstenite's own default; tungstenite only).
    #[arg(long)]
    read_buffer_size: Option<usize>,
    /// Messages a channel's broadcast queue holds before a slow member lags (and is closed).
    #[arg(long, default_value_t = 1024)]
    channel_capacity: usize,
}

/// Binds with a listen backlog of 4096 (`TcpListener::bind` gives 128 here, which overflows
/// under a connect storm and costs one-second SYN retransmits).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

fn main() -> std::io::Result<()> {
    let args = PeerArgs::parse();
    let runtime = if args.engine == Engine::Fastwebsockets && args.workers <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.workers.max(1)).enable_all().build()?
    };
    runtime.block_on(serve(args))
}

async fn serve(args: PeerArgs) -> std::io::Result<()> {
    let listener = listen(args.listen)?;
    // The address actually bound (with port 0, the one the kernel chose): tests read it here.
    eprintln!(
        "peer-tokio listening on {} ({:?}, {} worker(s), read buffer {:?})",
        listener.local_addr()?,
        args.engine,
        args.workers,
        args.read_buffer_size
    );
    match args.engine {
        Engine::Tungstenite => {
            let mut config = WebSocketConfig::default();
            if let Some(size) = args.read_buffer_size {
                config = config.read_buffer_size(size);
            }
            let registry = Arc::new(channels::Registry::new(args.channel_capacity));
            accept_forever(listener, |stream| {
                tokio::spawn(tungstenite_conn::serve(stream, registry.clone(), config));
            })
            .await
        }
        Engine::Fastwebsockets => {
            let registry = Arc::new(channels::Registry::new(args.channel_capacity));
            accept_forever(listener, |stream| {
                tokio::spawn(fastws_conn::serve(stream, registry.clone()));
            })
            .await
        }
    }
}

/// Accepts connections (no Nagle) and hands each to `spawn`; an accept error (out of file
/// descriptors) waits 10 ms.
async fn accept_forever(listener: TcpListener, mut spawn: impl FnMut(TcpStream)) -> ! {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                spawn(stream);
            }
            Err(err) => {
                eprintln!("accept: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
