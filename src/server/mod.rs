//! The server layer: building a server (routes, listeners, workers), running it, and
//! stopping it. Everything that touches a socket lives below this module.
//!
//! - `worker.rs`  the per-core loop and all of its socket I/O: poll, accept, read, write,
//!   re-register, timers
//! - `core/`      a worker's state machine (no I/O): connections, channels, dispatch, fan-out
//! - `conn.rs`    one connection's state
//! - `frames.rs`  client WebSocket frames in (server frames are `wire::frame`)
//! - `outqueue.rs` queued shared frames, the per-connection cork, vectored writes, the backlog count
//! - `routes.rs`  socket and HTTP routes
//! - `listener.rs` the `SO_REUSEPORT` listeners
//! - `tls/`       TLS under the worker (`--tls-cert`/`--tls-key`): certificates and their
//!   reload, the per-connection transport, our record layer after the handshake (and, feature
//!   `test-util`, `AnyCertificate`, the verifier test clients use)
//! - `harness.rs` a core driven by hand, for fuzzing, benchmarks and allocation tests
//!   (feature `test-util`)

pub(crate) mod conn;
pub(crate) mod core;
pub(crate) mod frames;
#[cfg(feature = "test-util")]
pub mod harness;
mod listener;
pub(crate) mod outqueue;
pub mod routes;
pub(crate) mod tls;
pub(crate) mod worker;

/// The accept-any-certificate rustls verifier for test clients (feature `test-util` only).
#[cfg(feature = "test-util")]
pub use tls::any_certificate::AnyCertificate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::{Poll, Waker};

use crate::auth::Authenticator;
use crate::config::Config;
use crate::service::bus::{self, InboxReceiver};
use crate::service::proxy::EventProxy;
use crate::service::{Error, Handler, Service};
pub use crate::wire::http::{HttpRequest, HttpResponse};
use routes::Routes;
pub use routes::{HttpHandler, SocketKind, SocketRoute};

/// A server being configured. `start` runs it in the background; `run` runs it until
/// SIGINT or SIGTERM.
pub struct Server {
    config: Config,
    routes: Routes,
    service: Service,
    polls: Vec<(Poll, InboxReceiver)>,
    authenticator: Option<Arc<dyn Authenticator>>,
}

impl Server {
    /// A server for `config`; `workers: 0` is refused (`Error::Config`), not rounded up.
    pub fn new(config: Config) -> Result<Self, Error> {
        if config.workers == 0 {
            return Err(Error::invalid("workers must be at least 1"));
        }
        let workers = config.workers;
        let mut inboxes = Vec::with_capacity(workers);
        let mut polls = Vec::with_capacity(workers);
        for _ in 0..workers {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), worker::WAKER)?;
            let (inbox, receiver) = bus::inbox(waker);
            inboxes.push(inbox);
            polls.push((poll, receiver));
        }
        let service = Service::new(config.clone(), inboxes);
        let mut routes = Routes::default();
        routes.add_http("/healthz", Arc::new(|_, _| HttpResponse::text(200, "ok")));
        Ok(Server { config, routes, service, authenticator: None, polls })
    }

    /// Whether the listener will serve TLS (`--tls-cert`/`--tls-key`).
    pub fn serves_tls(&self) -> bool {
        self.config.tls_cert.is_some()
    }

    /// The handle the application keeps (usable before and after `start`).
    pub fn service(&self) -> Service {
        self.service.clone()
    }

    /// A WebSocket route whose JSON messages go to `handler`. A connection joins the
    /// channel named by the `ch` query parameter, or a random `{prefix}-xxxxxxxx`, where the
    /// prefix is the path's first segment.
    pub fn socket(mut self, path: &str, handler: impl Handler) -> Self {
        let prefix = path.trim_start_matches('/').split('/').next().filter(|s| !s.is_empty()).unwrap_or("channel");
        let route = SocketRoute {
            path: Arc::from(path),
            kind: SocketKind::Json(Arc::new(handler)),
            channel_prefix: prefix.to_string(),
            max_message_bytes: self.config.max_message_bytes,
            send_buffer_bytes: self.config.send_buffer_bytes,
            authenticator: self.authenticator.clone(),
            proxy: None,
        };
        self.routes.add_socket(route);
        self
    }

    /// A WebSocket route whose events also go to a backend through `proxy` (the connect
    /// event at the upgrade; subscribe and command events as `handler` asks).
    pub fn proxied_socket(mut self, path: &str, handler: impl Handler, proxy: Arc<dyn EventProxy>) -> Self {
        self = self.socket(path, handler);
        if let Some(route) = self.routes.sockets.iter_mut().find(|r| &*r.path == path) {
            route.proxy = Some(proxy);
        }
        self
    }

    /// Decides who may join and publish to which channel (default: everyone, everywhere).
    pub fn authorize(self, authorizer: impl crate::auth::ChannelAuthorizer) -> Self {
        if self.service.shared.authorizer.set(Arc::new(authorizer)).is_err() {
            log::warn!("a channel authorizer was already set; keeping the first");
        }
        self
    }

    /// Sets how the workers give free heap back to the system once a burst of connects has
    /// gone idle (e.g. glibc's `malloc_trim(0)`; the allocator is the binary's choice, so the
    /// binary supplies it). Called from the timer sweep, at most once per burst.
    pub fn release_heap_with(self, release: fn()) -> Self {
        let _ = self.service.shared.heap_release.set(release);
        self
    }

    /// Sets the authenticator of the socket routes added after this call (and of the
    /// ones added before that have none).
    pub fn authenticate(mut self, authenticator: impl Authenticator) -> Self {
        let authenticator: Arc<dyn Authenticator> = Arc::new(authenticator);
        for route in &mut self.routes.sockets {
            if route.authenticator.is_none() && matches!(route.kind, SocketKind::Json(_)) {
                route.authenticator = Some(authenticator.clone());
            }
        }
        self.authenticator = Some(authenticator);
        self
    }

    /// The admin live tap on `path`: each connection receives every tapped message (see
    /// `service::tap`). `authenticator` decides who may watch.
    pub fn tap_socket(mut self, path: &str, authenticator: impl Authenticator) -> Self {
        let route = SocketRoute {
            path: Arc::from(path),
            kind: SocketKind::Tap,
            channel_prefix: "tap".to_string(),
            max_message_bytes: 4096,
            send_buffer_bytes: self.config.send_buffer_bytes,
            authenticator: Some(Arc::new(authenticator)),
            proxy: None,
        };
        self.routes.add_socket(route);
        self
    }

    /// A raw echo route (conformance tests): every message comes back unchanged.
    pub fn echo(mut self, path: &str) -> Self {
        let max = self.config.echo_max_message_bytes;
        let route = SocketRoute {
            path: Arc::from(path),
            kind: SocketKind::Echo,
            channel_prefix: "echo".to_string(),
            max_message_bytes: max,
            send_buffer_bytes: self.config.send_buffer_bytes.max(max.saturating_mul(2)),
            authenticator: None,
            proxy: None,
        };
        self.routes.add_socket(route);
        self
    }

    /// A plain HTTP route on an exact path.
    pub fn http(
        mut self,
        path: &str,
        handler: impl Fn(&HttpRequest, &Service) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.routes.add_http(path, Arc::new(handler));
        self
    }

    /// A plain HTTP route for every path under `prefix`.
    pub fn http_prefix(
        mut self,
        prefix: &str,
        handler: impl Fn(&HttpRequest, &Service) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.routes.add_http_prefix(prefix, Arc::new(handler));
        self
    }

    /// The service, the routes and each worker's poll and inbox, unstarted (for the harness).
    #[cfg(feature = "test-util")]
    pub(crate) fn into_parts(self) -> (Service, Routes, Vec<(Poll, InboxReceiver)>) {
        (self.service, self.routes, self.polls)
    }

    /// Lets requests under `prefix` carry bodies up to `limit` bytes (others: 64 KiB).
    pub fn body_limit(mut self, prefix: &str, limit: usize) -> Self {
        self.routes.set_body_limit(prefix, limit);
        self
    }

    /// Keeps HTTP/1.1 connections open between requests under `prefix` (a backend calling
    /// the server API reuses its connection); other plain requests close after the answer.
    pub fn keep_alive(mut self, prefix: &str) -> Self {
        self.routes.set_keep_alive(prefix);
        self
    }

    /// Binds the listeners and starts the workers.
    pub fn start(self) -> Result<Running, Error> {
        let certificates =
            match tls::CertFiles::from_flags(self.config.tls_cert.as_deref(), self.config.tls_key.as_deref())? {
                Some(files) => Some(tls::Certificates::load(files)?),
                None => None,
            };
        let tls_config = certificates.as_ref().map(|c| c.server_config()).transpose()?;
        let listeners = listener::bind_all(self.config.listen, self.polls.len())?;
        let local_addr = listeners[0].local_addr()?;
        let _ = self.service.shared.local_addr.set(local_addr);
        let routes = Arc::new(self.routes);
        let mut threads = Vec::with_capacity(listeners.len());
        for (index, ((poll, receiver), listener)) in self.polls.into_iter().zip(listeners).enumerate() {
            let (service, routes, tls) = (self.service.clone(), routes.clone(), tls_config.clone());
            let worker = worker::Worker::new(index, poll, listener, receiver, service, routes, tls)?;
            let thread =
                std::thread::Builder::new().name(format!("switchyard-worker-{index}")).spawn(move || worker.run())?;
            threads.push(thread);
        }
        let workers = threads.len();
        let plural = if workers == 1 { "" } else { "s" };
        let scheme = if certificates.is_some() { "https" } else { "http" };
        log::info!("switchyard listening on {scheme}://{local_addr} with {workers} worker{plural}");
        Ok(Running { service: self.service, local_addr, threads, certificates })
    }

    /// Starts, then serves until SIGINT or SIGTERM, then shuts down gracefully. With TLS,
    /// SIGHUP re-reads the certificate and key.
    pub fn run(self) -> Result<(), Error> {
        let mut signals =
            signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
        let running = self.start()?;
        if let Some(certificates) = &running.certificates {
            tls::certs::reload_on_sighup(certificates.clone())?;
        }
        if let Some(signal) = signals.forever().next() {
            log::info!("signal {signal}: closing every connection and shutting down");
        }
        running.shutdown();
        Ok(())
    }
}

/// How long shutdown waits for the workers to end every session before the cluster goodbye.
const SESSIONS_END_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A started server.
pub struct Running {
    service: Service,
    local_addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
    /// With TLS: the certificate new handshakes get.
    certificates: Option<Arc<tls::Certificates>>,
}

impl Running {
    /// The address the listeners are bound to (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The handle to the running service.
    pub fn service(&self) -> Service {
        self.service.clone()
    }

    /// Re-reads the TLS certificate and key (what SIGHUP does for `run`): new handshakes get
    /// the new pair, open connections keep theirs; on an error the old pair stays. `Ok(false)`
    /// without TLS.
    pub fn reload_tls(&self) -> Result<bool, Error> {
        match &self.certificates {
            Some(certificates) => certificates.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// Closes every client with 1001, tells the other nodes of a cluster (once the sessions
    /// have ended, so their departures went out first), waits up to the shutdown grace for
    /// the clients' answers, joins the workers.
    pub fn shutdown(self) {
        self.service.shutdown();
        let shared = &self.service.shared;
        if let Some(backplane) = shared.backplane.get() {
            let deadline = std::time::Instant::now() + SESSIONS_END_WAIT;
            let closing = || shared.closed_workers.load(std::sync::atomic::Ordering::Acquire) < shared.inboxes.len();
            while closing() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            backplane.goodbye();
        }
        for thread in self.threads {
            if thread.join().is_err() {
                log::error!("a worker thread panicked");
            }
        }
    }
}
