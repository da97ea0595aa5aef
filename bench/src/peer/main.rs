//! `peer-tokio`: an idiomatic tokio-tungstenite server of switchyard's example protocol, the
//! baseline switchyard is compared with. A multi-thread runtime (`--workers` threads), one
//! task per connection, a `tokio::sync::broadcast` per channel, serde_json; tungstenite's read
//! buffer size is a flag (its default is 128 KiB).

mod channels;
mod connection;
mod protocol;

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use tokio::net::{TcpListener, TcpSocket};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Parser, Debug)]
#[command(name = "peer-tokio", about = "tokio-tungstenite peer of the switchyard example protocol")]
struct PeerArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// tungstenite's read_buffer_size (default: tungstenite's own default).
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
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.workers.max(1)).enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: PeerArgs) -> std::io::Result<()> {
    let mut config = WebSocketConfig::default();
    if let Some(size) = args.read_buffer_size {
        config = config.read_buffer_size(size);
    }
    let registry = Arc::new(channels::Registry::new(args.channel_capacity));
    let listener = listen(args.listen)?;
    eprintln!(
        "peer-tokio listening on {} ({} worker(s), read buffer {:?})",
        args.listen, args.workers, args.read_buffer_size
    );
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("accept: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection::serve(stream, registry.clone(), config));
    }
}
