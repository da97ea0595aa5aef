//! # switchyard
//!
//! A realtime WebSocket server and library: it holds many client connections, groups them
//! into channels, routes their JSON messages `{"channel","cmd","param"}` to the handlers an
//! application registers, and pushes messages to a connection, a channel, a user or
//! everyone.
//!
//! ## Layout
//!
//! Layers depend one way, each on those above it in this list only: `wire` ← `auth` ←
//! `service` ← `server`; `cluster`, `api`, `admin` and `example` sit on top.
//!
//! - [`wire`]: bytes, no I/O, no state. `frame.rs` encodes server frames once into a
//!   `SharedFrame` (and the masked client frames tests and fuzzers send); `http.rs` parses
//!   HTTP/1.1 incrementally (httparse) and answers the RFC 6455 upgrade; `channel.rs` is the
//!   channel-name alphabet; `credentials.rs` reads Bearer tokens and cookies; permessage-deflate
//!   is `deflate.rs` (the offer read, the answer chosen), `compression.rs` (the codec: a
//!   message deflated into one RSV1 frame, a client message inflated within a limit) and
//!   `fanout.rs` (a message's plain frame and its compressed twin, made at most once).
//! - [`config`]: `Config`, every limit and its default (`Config::default()` reads nothing);
//!   also the binary's flags and `SWITCHYARD_*` variables (`Config::from_env_and_args()`).
//! - [`auth`]: the `Profile` of a user (`profile.rs`), the `Authenticator` an upgrade passes
//!   through and its `Refusal`, the `ChannelAuthorizer` (who may join and publish, and which channels
//!   announce presence), the built-in HS256 JWT authenticator (`jwt.rs`), and the
//!   constant-time compare, random keys and HMAC every credential check uses (`secret.rs`).
//! - [`service`]: the public API. `Service` (a clonable handle for any thread), `Context`
//!   (what a handler can do, on its worker, over the `Dispatch` trait), `Handler` and
//!   `Router`; the operations both share, each write encoded once (`ops.rs`); the JSON
//!   envelope (`message.rs`; `message/scan.rs` reads the plain client envelope by hand, serde_json
//!   anything else); the cold-path `registry.rs` (who is where, presence
//!   transitions; its connections in `registry/conns.rs`, a table keyed by the id inside each
//!   entry); a channel's member set (`members.rs`) and a connection's channel list
//!   (`channel_list.rs`), both inline for the usual one; the inter-worker `bus.rs`; `stats.rs` (every counter defined once);
//!   the admin live tap (`tap.rs`); the cross-worker admission `limits.rs`;
//!   `backplane.rs`, the trait scale-out implements; and `history/`, channel history: the
//!   `HistoryStore` trait (append with an offset in one critical section, recovery answered
//!   through the worker's inbox), one channel's ring (`ring.rs`) and the single-node
//!   `MemoryHistory` (`memory.rs`: size, TTL, node memory cap).
//! - [`server`]: the event loop and everything that touches a socket.
//!   - `worker.rs`: one thread per core, its `mio::Poll`, its `SO_REUSEPORT` listener, its
//!     inbox; all of its socket I/O: reads into one scratch buffer, one vectored write per
//!     listed connection (every reply each turn, fan-out within a time budget per turn),
//!     writable re-registration.
//!   - `core/`: a worker's state machine, no I/O, one idea per file: `mod.rs` (the struct,
//!     entry points), `handshake.rs`, `admission.rs`, `session.rs` (messages to handlers),
//!     `rate.rs`, `output.rs` (queueing, fan-out, backpressure), `flushlist.rs` (the order of
//!     writes: replies first, fan-out spread over turns, `--coalesce-us`), `channels.rs`,
//!     `presence.rs` (coalesced for big channels), `lifecycle.rs`, `timers.rs`,
//!     `commands.rs` (bus commands), `isolation.rs` (handler panics cost one connection),
//!     `recovery.rs` (a join of a channel with history: live frames held per worker until
//!     the store's replay or position is out), `trim.rs` (the heap a burst of connects
//!     left behind given back once it is over, by the release the binary supplies).
//!     `compression.rs` (permessage-deflate: the worker's compressor, bounded inflation, the
//!     side table of inflaters of clients that keep their context).
//!   - `frames.rs`: client frames to messages (checks, unmasking, reassembly, UTF-8), on
//!     tungstenite's frame header.
//!   - `outqueue.rs`: a connection's queue of shared frames and its vectored write.
//!   - `conn.rs`, `routes.rs`, `listener.rs`: connection state, routes, listeners.
//!   - `tls/` (with `--tls-cert`/`--tls-key`): `certs.rs` loads and checks the PEM pair, builds
//!     the rustls `ServerConfig` (ring, TLS 1.2/1.3, ALPN `http/1.1`) and swaps the certificate
//!     on SIGHUP; `transport.rs` holds each connection's TLS session in a side table keyed by
//!     slot, decrypts reads into the core and encrypts the out-queue onto the socket;
//!     `session.rs` is one connection: rustls' unbuffered API for the handshake
//!     (`handshake.rs`), then our record layer (`records.rs`, on `keys.rs` and the record
//!     headers, limits and nonces of `format.rs`) on the keys rustls
//!     hands over (the record buffers are the worker's; a connection keeps none while idle);
//!     `any_certificate.rs` (feature `test-util`) the verifier the test clients use.
//!   - `harness.rs` (feature `test-util`): a worker core driven by hand (fuzzing, benches).
//! - [`cluster`]: scale-out through Redis pub/sub (channel and key names in `topics.rs`,
//!   reconnect delays in `backoff.rs`): a minimal RESP client (`resp.rs`,
//!   `conn.rs`, `url.rs`), the link thread that publishes and subscribes (`link.rs`), the
//!   subscriber thread that delivers (`subscriber.rs`), the wire envelope, node heartbeats,
//!   expiry and goodbye (`link/heartbeat.rs`), the cluster-wide presence view (`nodes.rs`,
//!   `presence.rs`, `view.rs`), `healing.rs`, which tells this node's members about users
//!   of a node gone or back (`Service::announce_presence`, a `Command::Presence` per worker),
//!   and `history/`, channel history in Redis: `RedisHistory`, the node's `HistoryStore`
//!   (`store.rs`), the Lua scripts that stamp, keep and read messages (`scripts.rs`,
//!   `reply.rs`), the recovery's answer meeting its marker (`rendezvous.rs`) and the way
//!   back into the core (`port.rs`); the link thread runs them (`link/history.rs`).
//! - [`api`]: edge mode, for a backend in any language: the server API under `/api/`
//!   (`auth.rs` API key or loopback, `calls.rs` the write calls, `batch.rs`, `queries.rs`),
//!   the event proxy (`proxy/`: `client.rs` ureq with keep-alive, `events.rs` the JSON of
//!   each event and answer, `pool.rs` the bounded queue and threads) and the `/socket` route's
//!   handler (`edge.rs`). The core's side of the proxy is `service/proxy.rs` (the events, the
//!   answers, the `EventProxy` trait) and `server/core/proxied.rs` (parked upgrades, answers
//!   applied in order per connection).
//! - [`admin`]: the admin page (`page.rs`, `login.rs`), its JSON API (`api.rs`), its access
//!   rules (`auth.rs`), list filtering (`listing.rs`), the live tap socket (`tap.rs`) and
//!   `/metrics` (`metrics.rs`).
//! - [`example`]: the example chat handler, its channel policy, page and icon, served by the
//!   binary.
//!
//! The hot path of one message, end to end, in five files: `server/worker.rs` (read) →
//! `server/frames.rs` (frame) → `server/core/session.rs` (dispatch to the handler) →
//! `service/message.rs` (serialize and frame once) → `server/core/output.rs` (queue on the
//! sender or fan out to the channel's members), and back in `server/worker.rs`, which writes
//! each out-queue (`server/outqueue.rs`) with one vectored write per turn.
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
pub mod api;
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
