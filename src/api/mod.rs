//! The edge layer: what lets a backend in any language drive switchyard without Rust.
//!
//! - the **server API** (`/api/...`, JSON over HTTP on the server's port): `auth.rs` (API
//!   key, loopback rule), `calls.rs` (the write calls over the `Service` API), `batch.rs`
//!   (many calls in one request), `queries.rs` (channels, presence, info);
//! - the **event proxy** (`proxy/`): client events POSTed to the backend on a bounded pool
//!   of threads, answers returned to the workers through their inboxes;
//! - the **edge socket route** (`edge.rs`): `/socket?ch=NAME`, whose commands go to the
//!   proxy (or a documented default).
//!
//! This file routes `/api/*` and orders the checks (access, method, body). API handlers run
//! on the event loop: they parse, encode once and queue; they never block and never wait.

pub mod auth;
pub(crate) mod batch;
pub(crate) mod calls;
pub mod edge;
pub mod proxy;
pub(crate) mod queries;

use std::sync::Arc;

use serde_json::{json, Value};

use crate::server::{HttpRequest, HttpResponse};
use crate::service::Service;
use crate::Server;
use auth::KeyGuard;
use calls::Call;

/// Where the API lives.
pub const PREFIX: &str = "/api/";

/// How the API is protected and bounded.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// Key every call must carry; without one only loopback clients are served.
    pub key: Option<String>,
    /// Largest request body of an API call.
    pub max_body: usize,
}

/// Adds `/api/*` to a server.
pub fn install(server: Server, options: ApiOptions) -> Server {
    let guard = Arc::new(KeyGuard::new(options.key.as_deref()));
    if !guard.has_key() {
        log::debug!("server API: no --api-key, answering loopback clients only");
    }
    server
        .body_limit(PREFIX, options.max_body)
        .keep_alive(PREFIX)
        .http_prefix(PREFIX, move |request, service| handle(&guard, request, service))
}

fn handle(guard: &KeyGuard, request: &HttpRequest, service: &Service) -> HttpResponse {
    if let Err(denied) = guard.check(request) {
        let response = error(denied.status, denied.message);
        return if denied.status == 401 {
            response.with_header("WWW-Authenticate", "apikey realm=\"switchyard-api\"")
        } else {
            response
        };
    }
    let name = request.path.strip_prefix(PREFIX).unwrap_or_default();
    match (request.method.as_str(), name) {
        ("GET", "channels") => answer(200, queries::channels(service)),
        ("GET", "presence") => match queries::presence(request, service) {
            Ok(presence) => answer(200, presence),
            Err(why) => error(400, &why),
        },
        ("GET", "info") => answer(200, queries::info(service)),
        ("POST", "batch") => batch(request, service),
        ("POST", op) if is_call(op) => call(op, request, service),
        (_, "channels" | "presence" | "info") => error(405, "use GET").with_header("Allow", "GET"),
        (_, op) if op == "batch" || is_call(op) => error(405, "use POST").with_header("Allow", "POST"),
        _ => error(404, "no such API call"),
    }
}

fn is_call(name: &str) -> bool {
    matches!(name, "publish" | "broadcast" | "user" | "all" | "disconnect" | "subscribe" | "unsubscribe")
}

fn body(request: &HttpRequest) -> Result<&str, HttpResponse> {
    std::str::from_utf8(&request.body).map_err(|_| error(400, "the body is not UTF-8"))
}

fn call(op: &str, request: &HttpRequest, service: &Service) -> HttpResponse {
    let body = match body(request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match Call::parse(op, body) {
        Ok(call) => answer(200, call.run(service)),
        Err(why) => error(400, &why),
    }
}

fn batch(request: &HttpRequest, service: &Service) -> HttpResponse {
    let body = match body(request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match batch::parse(body) {
        Ok(calls) => answer(200, batch::run(&calls, service)),
        Err(bad) => answer(400, bad.to_json()),
    }
}

fn answer(status: u16, body: Value) -> HttpResponse {
    HttpResponse::json(status, body.to_string())
}

/// Adds the edge socket route (`/socket`), its events proxied to the backend when the
/// flags name one.
pub fn install_edge(server: Server, config: &crate::Config) -> Result<Server, crate::Error> {
    match proxy::ProxyOptions::from_config(config) {
        Some(options) => {
            let proxy = proxy::HttpProxy::start(options, &server.service())?;
            Ok(server.proxied_socket(edge::PATH, edge::Edge, proxy))
        }
        None => Ok(server.socket(edge::PATH, edge::Edge)),
    }
}

/// `{"error": message}` with `status`.
pub fn error(status: u16, message: &str) -> HttpResponse {
    answer(status, json!({ "error": message }))
}
