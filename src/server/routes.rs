//! The routes of a server: WebSocket routes (a JSON `Handler`, or the raw echo used for
//! conformance tests) and plain HTTP routes, all on one port.
//!
//! Built before the server starts, then shared read-only by every worker. Owns matching a
//! path to a route and each route's limits; does not run handlers.

use std::collections::HashMap;
use std::sync::Arc;

use crate::auth::Authenticator;
use crate::service::proxy::EventProxy;
use crate::service::{Handler, Service};
use crate::wire::http::{HttpRequest, HttpResponse};

/// A plain HTTP handler. It runs on the event loop: it must answer quickly.
pub type HttpHandler = Arc<dyn Fn(&HttpRequest, &Service) -> HttpResponse + Send + Sync>;

/// What a WebSocket route does with messages.
#[derive(Clone)]
pub enum SocketKind {
    /// JSON messages `{"channel","cmd","param"}` handed to a `Handler`.
    Json(Arc<dyn Handler>),
    /// Every text or binary message sent back unchanged.
    Echo,
    /// The admin live tap: receives every tapped message; what it sends is ignored.
    Tap,
}

/// A WebSocket route: its path, what it does with messages, its limits and authentication.
#[derive(Clone)]
pub struct SocketRoute {
    /// The exact request path.
    pub path: Arc<str>,
    /// What the route does with messages.
    pub kind: SocketKind,
    /// Prefix of the random channel a connection joins when the upgrade names none.
    pub channel_prefix: String,
    /// Largest message a client may send here.
    pub max_message_bytes: usize,
    /// Out-queue limit of a connection here (the slow-consumer rule).
    pub send_buffer_bytes: usize,
    /// Who may upgrade, and as whom; `None`: everyone, anonymously.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// The backend that hears this route's events (connect, subscribe, command), if any.
    pub proxy: Option<Arc<dyn EventProxy>>,
}

/// Every route of a server, built before it starts and then read-only.
#[derive(Default, Clone)]
pub struct Routes {
    /// WebSocket routes, indexed by `Conn::route`.
    pub sockets: Vec<SocketRoute>,
    http: HashMap<String, HttpHandler>,
    prefixes: Vec<(String, HttpHandler)>,
    /// Paths under these prefixes take request bodies up to the given size (else 64 KiB).
    body_limits: Vec<(String, usize)>,
    /// Paths under these prefixes keep HTTP/1.1 connections open between requests.
    keep_alive: Vec<String>,
}

impl Routes {
    /// Adds a WebSocket route.
    pub fn add_socket(&mut self, route: SocketRoute) {
        self.sockets.retain(|r| r.path != route.path);
        self.sockets.push(route);
    }

    /// Adds a plain HTTP route on an exact path.
    pub fn add_http(&mut self, path: &str, handler: HttpHandler) {
        self.http.insert(path.to_string(), handler);
    }

    /// Routes every path that starts with `prefix` (longest prefix wins).
    pub fn add_http_prefix(&mut self, prefix: &str, handler: HttpHandler) {
        self.prefixes.push((prefix.to_string(), handler));
        self.prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    }

    /// Lets requests under `prefix` carry bodies up to `limit` bytes.
    pub fn set_body_limit(&mut self, prefix: &str, limit: usize) {
        self.body_limits.retain(|(p, _)| p != prefix);
        self.body_limits.push((prefix.to_string(), limit));
    }

    /// The largest request body accepted on `path`.
    pub fn body_limit(&self, path: &str) -> usize {
        let limit = self.body_limits.iter().find(|(p, _)| path.starts_with(p.as_str())).map(|(_, l)| *l);
        limit.unwrap_or(crate::wire::http::MAX_BODY_BYTES)
    }

    /// Keeps HTTP/1.1 connections open after answering a request under `prefix`.
    pub fn set_keep_alive(&mut self, prefix: &str) {
        self.keep_alive.push(prefix.to_string());
    }

    /// Whether a request on `path` keeps its connection open.
    pub fn keeps_alive(&self, path: &str) -> bool {
        self.keep_alive.iter().any(|prefix| path.starts_with(prefix.as_str()))
    }

    /// The index of the WebSocket route for `path`.
    pub fn socket(&self, path: &str) -> Option<usize> {
        self.sockets.iter().position(|r| &*r.path == path)
    }

    /// The plain HTTP handler for `path` (exact paths first, then prefixes).
    pub fn http(&self, path: &str) -> Option<&HttpHandler> {
        self.http.get(path).or_else(|| self.prefixes.iter().find(|(p, _)| path.starts_with(p.as_str())).map(|(_, h)| h))
    }
}
