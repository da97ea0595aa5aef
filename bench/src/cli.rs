//! Command-line flags of `switchyard-bench`: one subcommand per scenario and `compare`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::scenario::Common;

#[derive(Parser, Debug)]
#[command(name = "switchyard-bench", about = "Load generator for switchyard and its peers")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// N connections, W echo commands in flight each: replies/s and round-trip latency.
    Echo {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 100)]
        conns: usize,
        #[arg(long, default_value_t = 1)]
        in_flight: usize,
        #[arg(long, default_value_t = 64)]
        payload: usize,
        /// `{i}` is replaced by the connection index.
        #[arg(long, default_value = "/example/socket?ch=echo-{i}")]
        path: String,
        /// Fill the payload with everyday words (compresses like chat text) instead of `x`.
        #[arg(long)]
        words: bool,
    },
    /// S subscribers, P publishers in one channel: deliveries/s, exactly-once in order, latency.
    Fanout {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 1)]
        publishers: usize,
        #[arg(long, default_value_t = 64)]
        payload: usize,
        /// Messages per second over all publishers (default: as fast as the window allows).
        #[arg(long)]
        rate: Option<f64>,
        /// Messages in flight (published, not yet delivered everywhere) at most.
        #[arg(long, default_value_t = 64)]
        window: usize,
        #[arg(long, default_value = "fan")]
        channel: String,
        /// Sample latency on every n-th subscriber.
        #[arg(long, default_value_t = 8)]
        sample_every: usize,
        /// Fill the text with everyday words (compresses like chat text) instead of dots.
        #[arg(long)]
        words: bool,
    },
    /// Open N idle connections: connects+upgrades/s and the server's RSS per connection.
    Conns {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 10_000)]
        conns: usize,
        /// `{i}` is the connection index, `{g}` its group of 100 (a channel per group).
        #[arg(long, default_value = "/example/socket?ch=idle-{g}")]
        path: String,
        /// Channel layout instead of --path: `each` (a channel per connection), `groups` (of
        /// 100) or `one` (all join `/example/socket?ch=big`).
        #[arg(long, conflicts_with = "channel")]
        channels: Option<String>,
        /// All connections join this one channel (`--channels one` with another name).
        #[arg(long)]
        channel: Option<String>,
        /// Seconds to hold them after the last connect before reading the RSS.
        #[arg(long, default_value_t = 3.0)]
        hold: f64,
    },
    /// N clients join ONE channel at once, watched by an observer that joined before; then all
    /// drop their connections and reconnect at once (as after a deploy).
    Storm {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
        #[arg(long, default_value = "big")]
        channel: String,
        /// Seconds one phase (connects, then presence settling) may take at most.
        #[arg(long, default_value_t = 120.0)]
        phase_timeout: f64,
        /// Only the storm, no reconnect wave.
        #[arg(long)]
        no_reconnect: bool,
        /// The server announces no presence (e.g. `--presence false`): do not wait for the
        /// observer to be told of the joins.
        #[arg(long)]
        no_presence: bool,
    },
    /// Connect, chat, close, again, with C loops at once: cycles/s.
    Churn {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// The edge server: server API publishes (single and batched) and the event proxy's
    /// added latency; starts its own switchyard and backend.
    Api {
        /// The switchyard binary (default: ../target/release/switchyard beside this crate).
        #[arg(long)]
        switchyard: Option<PathBuf>,
        /// Publishes per `POST /api/batch`.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Seconds measured per part.
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        /// CPUs the server is pinned to (a `taskset -c` list), e.g. 0.
        #[arg(long)]
        server_cpus: Option<String>,
    },
    /// Scan and check synthetic chat deliveries in memory: the generator's per-frame cost.
    Selftest {
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// Start switchyard and the peers (tokio-tungstenite, fastwebsockets) pinned to core 0, run every scenario
    /// against each from core 1, print medians and switchyard / peer ratios.
    Compare(CompareArgs),
}

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// The server to load (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub target: SocketAddr,
    /// The server's pid, for its CPU and RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Speak TLS (wss://) to a server started with --tls-cert/--tls-key; its certificate is
    /// not checked.
    #[arg(long)]
    pub tls: bool,
    /// Offer permessage-deflate (`client_no_context_takeover`) on every connection and inflate
    /// compressed replies and deliveries (the server must run with `--compression`). The
    /// generator itself sends uncompressed frames, as RFC 7692 allows.
    #[arg(long)]
    pub deflate: bool,
}

impl CommonArgs {
    pub fn to_common(&self) -> Result<Common, String> {
        if !self.target.ip().is_loopback() {
            return Err(format!("{} is not a loopback address: only local servers are measured", self.target));
        }
        if self.tls {
            crate::tls::enable();
        }
        Ok(Common {
            target: self.target,
            server_pid: self.server_pid,
            warmup: Duration::from_secs_f64(self.warmup),
            duration: Duration::from_secs_f64(self.duration),
            connect_concurrency: self.connect_concurrency.max(1),
            deflate: self.deflate,
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// A few seconds in all: small sizes, one repetition (a smoke test for CI).
    #[arg(long)]
    pub quick: bool,
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// The switchyard binary (default: ../target/release/switchyard beside this crate).
    #[arg(long)]
    pub switchyard: Option<PathBuf>,
    /// Extra arguments for switchyard, space separated.
    #[arg(long, default_value = "")]
    pub switchyard_args: String,
    /// Run the peers only (when switchyard is not built).
    #[arg(long)]
    pub skip_switchyard: bool,
    /// Skip the peers (switchyard only; no ratios).
    #[arg(long)]
    pub skip_peers: bool,
    /// The peers to run, comma separated: peer-default (tokio-tungstenite, 128 KiB read
    /// buffer), peer-4k (tokio-tungstenite, 4 KiB), fastws (fastwebsockets).
    #[arg(long, default_value = "peer-default,peer-4k,fastws")]
    pub peers: String,
    /// Only these scenarios (comma separated names as printed), default all.
    #[arg(long)]
    pub only: Option<String>,
    /// CPUs the servers are pinned to (a `taskset -c` list).
    #[arg(long, default_value = "0")]
    pub server_cpus: String,
    /// The core the generator pins itself to.
    #[arg(long, default_value_t = 1)]
    pub generator_core: usize,
    /// Worker threads of every server (switchyard `--workers`, the peer's runtime workers).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Neither wait for a quiet machine nor run disturbed runs again (a busy shared machine).
    #[arg(long)]
    pub no_wait: bool,
    /// Clients of the storm (default 10,000, quick 200).
    #[arg(long)]
    pub storm_clients: Option<usize>,
    /// Connections of the one-channel `conns` run (default 19,000, quick 500).
    #[arg(long)]
    pub one_channel_conns: Option<usize>,
    /// Seconds one storm phase may take at most.
    #[arg(long, default_value_t = 120.0)]
    pub phase_timeout: f64,
    /// Seconds measured per run (default 3, quick 0.5).
    #[arg(long)]
    pub duration: Option<f64>,
}
