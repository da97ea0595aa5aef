//! `Config`: every tunable of a server, its safe default, and its command-line flag.
//!
//! The same struct is the library's configuration and the binary's flag set (clap derive,
//! each flag also read from a `SWITCHYARD_*` environment variable). `Config::default()` is
//! the documented defaults only: it never reads the process's flags or environment (an
//! application embedding the library decides what it reads); the binary calls
//! `Config::from_env_and_args()`, which returns an error instead of exiting. It owns no
//! behaviour: the event loop and the service read it; nothing here touches a socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};

/// Parses a duration flag: `25s`, `500ms`, `2m`, or a plain number of seconds (`0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 {
            return Ok(Duration::from_secs_f64(seconds));
        }
        return Err(format!("'{text}' is not a non-negative number of seconds"));
    }
    humantime::parse_duration(text).map_err(|e| format!("'{text}': {e}"))
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parses `--workers`: a whole number, at least 1.
pub fn parse_workers(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("a server needs at least 1 worker".to_string()),
        Ok(workers) => Ok(workers),
        Err(_) => Err(format!("'{text}' is not a whole number of workers (1 or more)")),
    }
}

/// Why the binary's flags or `SWITCHYARD_*` variables could not become a `Config`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag or variable clap refused, or `--help` / `--version` (print it with `exit()`).
    #[error("{0}")]
    Flags(#[from] clap::Error),
    /// A setting that cannot work: zero workers, an unreadable secret file, a bad Redis URL
    /// or proxy URL, an expiry not longer than the heartbeat.
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    /// Prints the message (help, version or the error) the way clap does and exits: 0 for
    /// `--help` / `--version`, 2 for a bad flag. For a binary's `main`, never a library.
    pub fn exit(self) -> ! {
        match self {
            ConfigError::Flags(e) => e.exit(),
            ConfigError::Invalid(why) => {
                eprintln!("error: {why}");
                std::process::exit(2)
            }
        }
    }
}

/// Server configuration; `Config::default()` is what `switchyard` runs with no flags.
#[derive(Parser, Debug, Clone)]
#[command(name = "switchyard", version, about = "A realtime WebSocket server: channels, routing, fan-out.")]
pub struct Config {
    /// Address to listen on (HTTP and WebSocket on the same port).
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// PEM certificate chain: with --tls-key the listener serves only TLS (https://, wss://);
    /// SIGHUP re-reads both files.
    #[arg(long, env = "SWITCHYARD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SWITCHYARD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Event-loop threads, each with its own listener (SO_REUSEPORT); default: the number of cores.
    #[arg(long, env = "SWITCHYARD_WORKERS", default_value_t = default_workers(), value_parser = parse_workers)]
    pub workers: usize,

    /// Interval between server pings on an idle connection.
    #[arg(long, env = "SWITCHYARD_PING_INTERVAL", default_value = "25s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// A connection silent this long (no data, no pong) is closed.
    #[arg(long, env = "SWITCHYARD_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// The HTTP upgrade must complete within this time.
    #[arg(long, env = "SWITCHYARD_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Largest message (after reassembly of fragments) a client may send; larger closes with 1009.
    #[arg(long, env = "SWITCHYARD_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// Largest message on the raw `/echo` conformance route.
    #[arg(long, env = "SWITCHYARD_ECHO_MAX_MESSAGE_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub echo_max_message_bytes: usize,

    /// Offer permessage-deflate (RFC 7692) to clients that ask for it: a channel message is
    /// compressed once for every member that negotiated it. Off by default.
    #[arg(long, env = "SWITCHYARD_COMPRESSION", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub compression: bool,

    /// Messages shorter than this many bytes are sent uncompressed (compression would cost
    /// more than it saves).
    #[arg(long, env = "SWITCHYARD_COMPRESSION_THRESHOLD", default_value_t = 128)]
    pub compression_threshold: usize,

    /// Let a compressing client keep its context from message to message (better ratio on
    /// its messages, an inflater of about 20 KiB held per such connection); `false` answers
    /// every offer with `client_no_context_takeover`, so no connection holds one.
    #[arg(long, env = "SWITCHYARD_COMPRESSION_CLIENT_CONTEXT", default_value_t = true, action = clap::ArgAction::Set)]
    pub compression_client_context: bool,

    /// Out-queue limit per connection: a client further behind is a slow consumer (close 1008).
    #[arg(long, env = "SWITCHYARD_SEND_BUFFER_BYTES", default_value_t = 1024 * 1024)]
    pub send_buffer_bytes: usize,

    /// Most WebSocket connections open at once; more are refused with 503 (0: no limit).
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Most WebSocket connections from one IP address; more are refused with 503 (0: no limit).
    /// Loopback addresses are exempt (a reverse proxy on the same host is not one user).
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS_PER_IP", default_value_t = 1_000)]
    pub max_connections_per_ip: usize,

    /// Most channels one connection may be in at once.
    #[arg(long, env = "SWITCHYARD_MAX_CHANNELS_PER_CONNECTION", default_value_t = 100)]
    pub max_channels_per_connection: usize,

    /// Messages per second a connection may send (bursts up to this many); past it they are
    /// refused with `error` `rate-limited`, and a client that keeps going is closed (1008). 0: no limit.
    #[arg(long, env = "SWITCHYARD_RATE_LIMIT", default_value_t = 100_000)]
    pub rate_limit: u32,

    /// Origins allowed to upgrade, comma-separated (e.g. `https://app.example.com`); a
    /// browser request from another origin gets 403. Empty: any origin.
    #[arg(long, env = "SWITCHYARD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// HS256 secret for JSON Web Tokens (token query parameter, `Authorization: Bearer`, or
    /// the `switchyard_token` cookie). Without it (and without --jwt-secret-file) connections are anonymous.
    #[arg(long, env = "SWITCHYARD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// A file holding the HS256 secret (trailing newline ignored).
    #[arg(long, env = "SWITCHYARD_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<std::path::PathBuf>,

    /// Required `aud` claim of tokens, if any.
    #[arg(long, env = "SWITCHYARD_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Required `iss` claim of tokens, if any.
    #[arg(long, env = "SWITCHYARD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Join a cluster of nodes through Redis pub/sub (e.g. `redis://127.0.0.1:6379`).
    #[arg(long, env = "SWITCHYARD_REDIS")]
    pub redis: Option<String>,

    /// Prefix of the Redis channels and keys this cluster uses.
    #[arg(long, env = "SWITCHYARD_REDIS_PREFIX", default_value = "switchyard")]
    pub redis_prefix: String,

    /// How often a cluster node tells the others it is alive (with its presence changes).
    #[arg(long, env = "SWITCHYARD_CLUSTER_HEARTBEAT", default_value = "2s", value_parser = parse_duration)]
    pub cluster_heartbeat: Duration,

    /// A cluster node silent this long is gone: its users are announced as left. Must be
    /// longer than the heartbeat (3 heartbeats or more rides out a late one or two).
    #[arg(long, env = "SWITCHYARD_CLUSTER_NODE_EXPIRY", default_value = "6s", value_parser = parse_duration)]
    pub cluster_node_expiry: Duration,

    /// Refuse anonymous connections (401) on the application's socket routes.
    #[arg(long, env = "SWITCHYARD_REQUIRE_AUTH")]
    pub require_auth: bool,

    /// After a connection's credential expires it is told (`error` `token-expired`) and
    /// closed this much later unless it sends `refresh` with a new token.
    #[arg(long, env = "SWITCHYARD_TOKEN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub token_grace: Duration,

    /// Time allowed for the close handshake before the socket is dropped.
    #[arg(long, env = "SWITCHYARD_CLOSE_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub close_timeout: Duration,

    /// Token for the admin interface; without it, the admin interface answers loopback clients only.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN")]
    pub admin_token: Option<String>,

    /// Token `/metrics` requires (default: open, like `/healthz`).
    #[arg(long, env = "SWITCHYARD_METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// Key the server API (`/api/...`) requires (`Authorization: apikey KEY` or `Bearer KEY`);
    /// without one (and without --api-key-file) the API answers loopback clients only.
    #[arg(long, env = "SWITCHYARD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// A file holding the API key (trailing newline ignored).
    #[arg(long, env = "SWITCHYARD_API_KEY_FILE")]
    pub api_key_file: Option<std::path::PathBuf>,

    /// Largest request body of a server API call (other requests: 64 KiB).
    #[arg(long, env = "SWITCHYARD_API_MAX_BODY", default_value_t = 16 * 1024 * 1024)]
    pub api_max_body: usize,

    /// Backend URL every proxied event is POSTed to (`connect`, `subscribe`, `command`),
    /// unless a per-event URL is set; e.g. `http://127.0.0.1:9000/events`.
    #[arg(long, env = "SWITCHYARD_PROXY_URL")]
    pub proxy_url: Option<String>,

    /// Backend URL of the connect event (default: --proxy-url).
    #[arg(long, env = "SWITCHYARD_PROXY_CONNECT_URL")]
    pub proxy_connect_url: Option<String>,

    /// Backend URL of the subscribe event (default: --proxy-url).
    #[arg(long, env = "SWITCHYARD_PROXY_SUBSCRIBE_URL")]
    pub proxy_subscribe_url: Option<String>,

    /// Backend URL of the command event (default: --proxy-url).
    #[arg(long, env = "SWITCHYARD_PROXY_COMMAND_URL")]
    pub proxy_command_url: Option<String>,

    /// A backend call taking longer fails (`backend-unavailable`; 504 for a connect).
    #[arg(long, env = "SWITCHYARD_PROXY_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub proxy_timeout: Duration,

    /// Backend calls in flight at once (threads of the proxy pool, keep-alive connections).
    #[arg(long, env = "SWITCHYARD_PROXY_CONCURRENCY", default_value_t = 32)]
    pub proxy_concurrency: usize,

    /// Backend calls waiting for a free thread; past it calls fail at once (`backend-unavailable`).
    #[arg(long, env = "SWITCHYARD_PROXY_QUEUE", default_value_t = 4096)]
    pub proxy_queue: usize,

    /// Time shutdown waits for clients to answer the 1001 close before exiting.
    #[arg(long, env = "SWITCHYARD_SHUTDOWN_GRACE", default_value = "3s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Announce joins and leaves to a channel's other members (`online-update`,
    /// `online-updates`); `false` turns presence announcements off for every channel (the
    /// channel policy can also turn them off per channel). `online()` and the admin views stay exact.
    #[arg(long, env = "SWITCHYARD_PRESENCE", default_value_t = true, action = clap::ArgAction::Set)]
    pub presence: bool,

    /// Channels with more members than this on a node get joins and leaves coalesced: at most
    /// one `online-updates {joined, left, ...}` per channel and worker every --presence-interval,
    /// instead of one `online-update` per join (which costs O(members²) in a join storm).
    #[arg(long, env = "SWITCHYARD_PRESENCE_BATCH_ABOVE", default_value_t = 64)]
    pub presence_batch_above: usize,

    /// How long coalesced presence changes wait before they are sent (stretched up to five
    /// times for channels of more than 1,000 members, one step per 1,000).
    #[arg(long, env = "SWITCHYARD_PRESENCE_INTERVAL", default_value = "100ms", value_parser = parse_duration)]
    pub presence_interval: Duration,

    /// Messages each channel keeps for clients that reconnect (`offset` and `epoch` on its
    /// messages, replay after `since`); 0: no history. The channel policy may change it per channel.
    #[arg(long, env = "SWITCHYARD_HISTORY_SIZE", default_value_t = 0)]
    pub history_size: usize,

    /// Oldest history message kept (0: no age limit).
    #[arg(long, env = "SWITCHYARD_HISTORY_TTL", default_value = "0", value_parser = parse_duration)]
    pub history_ttl: Duration,

    /// Bytes all channels' history may hold on this node; past it the channels written to
    /// least recently lose their history first.
    #[arg(long, env = "SWITCHYARD_HISTORY_MEMORY", default_value_t = 64 * 1024 * 1024)]
    pub history_memory: usize,

    /// Longest a fan-out frame (channel write, broadcast, ping) may wait before it is written, so
    /// that the frames queued meanwhile go out in the same write; 0: written at the end of
    /// the loop turn that queued it. Replies never wait.
    #[arg(long, env = "SWITCHYARD_COALESCE_US", default_value_t = 0)]
    pub coalesce_us: u64,

    /// Most user ids listed in each of `joined` and `left` of one `online-updates` (the counts
    /// are always exact; `truncated` says the lists are not complete).
    #[arg(long, env = "SWITCHYARD_PRESENCE_LIST_MAX", default_value_t = 16)]
    pub presence_list_max: usize,
}

impl Default for Config {
    /// The documented defaults; never the process's flags or `SWITCHYARD_*` variables.
    fn default() -> Self {
        let command = Config::command().mut_args(|arg| arg.env(None));
        let parsed = command.try_get_matches_from(["switchyard"]).and_then(|m| Config::from_arg_matches(&m));
        // The defaults are constants of this file, checked by `defaults_are_the_documented_ones`.
        parsed.expect("the built-in defaults are valid")
    }
}

impl Config {
    /// The binary's configuration: the process's flags, then `SWITCHYARD_*` variables, then
    /// the defaults. A bad value (or `--help`) is an error, never an exit.
    pub fn from_env_and_args() -> Result<Config, ConfigError> {
        Ok(Config::try_parse()?)
    }

    /// The same from given arguments (the first is the program name) and the environment.
    pub fn from_env_and_arg_list<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Ok(Config::try_parse_from(args)?)
    }

    /// `--coalesce-us` as a duration.
    pub fn coalesce(&self) -> Duration {
        Duration::from_micros(self.coalesce_us)
    }

    /// The period of the timer sweep: fine enough for the shortest timeout configured.
    pub fn tick(&self) -> Duration {
        let shortest = self.ping_interval.min(self.idle_timeout).min(self.handshake_timeout).min(self.close_timeout);
        (shortest / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_plain_seconds() {
        assert_eq!(parse_duration("25s"), Ok(Duration::from_secs(25)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::default();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.ping_interval, Duration::from_secs(25));
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.handshake_timeout, Duration::from_secs(10));
        assert_eq!(config.max_message_bytes, 65536);
        assert_eq!(config.workers, default_workers());
        assert_eq!(config.coalesce(), Duration::ZERO, "fan-out is not held back unless asked");
        assert!(config.workers >= 1);
        assert_eq!(
            (config.cluster_heartbeat, config.cluster_node_expiry),
            (Duration::from_secs(2), Duration::from_secs(6))
        );
    }

    #[test]
    fn workers_must_be_at_least_one() {
        assert_eq!(parse_workers("3"), Ok(3));
        assert!(parse_workers("0").unwrap_err().contains("at least 1 worker"));
        assert!(parse_workers("abc").is_err());
        let refused = Config::from_env_and_arg_list(["switchyard", "--workers", "0"]).unwrap_err();
        assert!(refused.to_string().contains("at least 1 worker"), "{refused}");
    }
}
