//! # switchyard
//!
//! A realtime WebSocket server and library: it holds many client connections, groups them
//! into channels, routes their JSON messages `{"channel","cmd","param"}` to the handlers an
//! application registers, and pushes messages to a connection, a channel, a user or
//! everyone.
//!
//! ## Layout
//!
//! - [`config`]: `Config`, every limit and its default (`Config::default()` reads nothing);
//!   also the binary's flags and `SWITCHYARD_*` variables (`Config::from_env_and_args()`).
//! - [`server`]: the event loop and everything that touches a socket.
//!   - `worker.rs`: one thread per core, its `mio::Poll`, its `SO_REUSEPORT` listener,
//!     its inbox; reads into one scratch buffer per worker and flushes once per turn.
//!   - `core.rs`: a worker's connections (`Slab`), its channel index, handshake, dispatch
//!     to handlers, fan-out of shared frames, closing and timers.
//!   - `frames.rs`: client frames to messages (checks, unmasking, reassembly, UTF-8) and
//!     server frame encoding, on tungstenite's frame header.
//!   - `outqueue.rs`: a connection's queue of shared frames, vectored writes, backlog.
//!   - `http.rs`: incremental HTTP/1.1 parsing (httparse) and the RFC 6455 upgrade.
//!   - `conn.rs`, `routes.rs`, `listener.rs`: connection state, routes, listeners.
//!   - `harness.rs`: a worker core driven by hand (fuzzing, benches; not the server).
//! - [`service`]: the public API. `Service` (a clonable handle for any thread), `Context`
//!   (what a handler can do, on its worker), `Handler` and `Router`; the operations both
//!   share, each write encoded once (`ops.rs`); the wire messages (`message.rs`); the
//!   cold-path `registry.rs` (who is where, presence transitions); the inter-worker `bus.rs`;
//!   `stats.rs` (per-worker counters and histograms); the admin live tap (`tap.rs`); the
//!   cross-worker admission `limits.rs`; and `backplane.rs`, the trait scale-out implements.
//! - [`auth`]: the `Authenticator` an upgrade passes through and its `Refusal`, the
//!   `ChannelAuthorizer`, the built-in HS256 JWT authenticator (`jwt.rs`), and the
//!   constant-time compare, random keys and HMAC every credential check uses (`secret.rs`).
//! - [`cluster`]: scale-out through Redis pub/sub: a minimal RESP client (`resp.rs`,
//!   `conn.rs`, `url.rs`), the link thread that publishes and subscribes (`link.rs`), the
//!   subscriber thread that delivers (`subscriber.rs`), the wire envelope, node heartbeats and
//!   the cluster-wide presence view (`nodes.rs`, `presence.rs`, `view.rs`).
//! - [`admin`]: the admin page (`page.rs`, `login.rs`), its JSON API (`api.rs`), its access
//!   rules (`auth.rs`), the live tap socket (`tap.rs`) and `/metrics` (`metrics.rs`).
//! - [`example`]: the example chat handler, its channel policy, page and icon, served by the
//!   binary. Channel names everywhere follow `wire::channel::valid_channel_name`.
//!
//! The hot path, end to end: `worker.rs` (read) → `frames.rs` (frame) → `core.rs`
//! (dispatch, fan-out) → `message.rs` (serialize once) → `outqueue.rs` (write).
//!
//! ## Embedding
//!
//! ```no_run
//! use switchyard::{Config, Router, Server};
//! let handler = Router::new().route("say", |ctx, _conn, channel, text: String| {
//!     ctx.write_channel("said", &text, channel).map_err(|e| switchyard::HandlerError::other(e.to_string()))
//! });
//! Server::new(Config::default())?.socket("/socket", handler).run()?;
//! # Ok::<(), switchyard::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod example;
pub mod server;
pub mod service;
pub mod wire;

pub use config::Config;
pub use server::{HttpRequest, HttpResponse, Running, Server};
pub use service::{
    ChannelInfo, ConnId, Connection, ConnectionInfo, Context, Counters, Error, Handler, HandlerError, HandlerResult,
    Profile, Router, Service, Status,
};
