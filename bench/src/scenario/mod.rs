//! The load scenarios (echo, fanout, conns, churn) and what they share: the target, the
//! server's pid, and the warm-up and measuring times.

pub mod churn;
pub mod conns;
pub mod echo;
pub mod fanout;

use std::net::SocketAddr;
use std::time::Duration;

/// Settings every scenario takes.
#[derive(Debug, Clone)]
pub struct Common {
    pub target: SocketAddr,
    /// The server's pid, for its CPU and RSS.
    pub server_pid: Option<u32>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Connections upgrading at once while opening.
    pub connect_concurrency: usize,
}

/// Connections that share a channel when a path template says `{g}`.
pub const GROUP_SIZE: usize = 100;

/// Expands a path template: `{i}` is the connection index, `{g}` its group of [`GROUP_SIZE`].
pub fn path_for(template: &str, index: usize) -> String {
    template.replace("{i}", &index.to_string()).replace("{g}", &(index / GROUP_SIZE).to_string())
}

/// Events per second.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}
