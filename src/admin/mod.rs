//! The admin interface: the page `/admin/websocket`, the login form, the JSON API under
//! `/admin/api/`, the live tap socket `/admin/api/tap`, and `/metrics`.
//!
//! This file owns the routing of `/admin*` and the order of checks: public paths (login,
//! style sheet) first, then the access rules of `auth.rs` (POSTs and the tap also pass the
//! same-origin check), then the page or the API. Handlers run on the event loop: they read
//! the registry or queue commands and never block. Nothing here touches a socket or the
//! core's internals beyond the `Service` API (and the per-worker gauge in `metrics.rs`).
//!
//! - `auth.rs`    token, cookie, loopback and same-origin rules (constant-time compares)
//! - `login.rs`   the login form and logout
//! - `page.rs`    the embedded page, script and style sheet, security headers
//! - `api.rs`     the JSON API
//! - `listing.rs` the `?q=`/`?limit=` filter and `{total, matching, ...}` shape of its lists
//! - `metrics.rs` the Prometheus text
//! - `tap.rs`     the tap socket's authenticator

pub(crate) mod api;
pub mod auth;
pub(crate) mod listing;
pub(crate) mod login;
pub(crate) mod metrics;
pub(crate) mod page;
pub(crate) mod tap;

use std::sync::Arc;

use crate::server::{HttpRequest, HttpResponse};
use crate::service::Service;
use crate::Server;
use auth::{Denied, Guard};

/// How the admin interface is protected.
#[derive(Debug, Clone, Default)]
pub struct AdminOptions {
    /// Token every admin request must carry; without one, only loopback clients are served.
    pub token: Option<String>,
    /// Token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
}

/// Adds the admin routes to a server.
pub fn install(server: Server, options: AdminOptions) -> Server {
    // Over TLS the session cookie is `Secure`: a browser never sends it over plain HTTP.
    let guard = Arc::new(Guard::new(options.token).with_secure_cookie(server.serves_tls()));
    let metrics_guard = Arc::new(Guard::new(options.metrics_token));
    if !guard.has_token() {
        log::debug!("admin interface: no --admin-token, answering loopback clients only");
    }
    let admin = Arc::new(Admin { guard: guard.clone(), api: api::ApiContext { tap: true, token: guard.has_token() } });
    let server = server
        .http_prefix("/admin", move |request, service| admin.handle(request, service))
        .http("/metrics", move |request, service| serve_metrics(&metrics_guard, request, service));
    tap::install(server, guard)
}

struct Admin {
    guard: Arc<Guard>,
    api: api::ApiContext,
}

impl Admin {
    fn handle(&self, request: &HttpRequest, service: &Service) -> HttpResponse {
        let response = match request.path.as_str() {
            "/admin" | "/admin/" => page::redirect(login::HOME),
            "/admin/login" => login::handle(request, &self.guard),
            "/admin/logout" => login::logout(request, &self.guard),
            "/admin/admin.css" => page::css(),
            _ => self.guarded(request, service),
        };
        page::harden(response)
    }

    fn guarded(&self, request: &HttpRequest, service: &Service) -> HttpResponse {
        let access = if request.method == "GET" { self.guard.check(request) } else { self.guard.check_action(request) };
        if let Err(denied) = access {
            return refuse(request, denied);
        }
        let path = request.path.as_str();
        match path {
            login::HOME => page::html(),
            "/admin/admin.js" => page::js(),
            _ => match path.strip_prefix("/admin/api/") {
                Some(rest) => api::handle(request, service, rest, &self.api),
                None => api::error(404, "not found"),
            },
        }
    }
}

/// The refusal: the login form for the page when a token would let the browser in,
/// JSON for everything else.
fn refuse(request: &HttpRequest, denied: Denied) -> HttpResponse {
    if request.path == login::HOME && denied.status == 401 {
        return login::form(401, "Log in with the admin token.");
    }
    let response = api::error(denied.status, denied.message);
    if denied.status == 401 {
        response.with_header("WWW-Authenticate", "Bearer realm=\"switchyard-admin\"")
    } else {
        response
    }
}

/// `/metrics`: open, or `Authorization: Bearer` with the metrics token.
fn serve_metrics(guard: &Guard, request: &HttpRequest, service: &Service) -> HttpResponse {
    if guard.has_token() && !auth_bearer_ok(guard, request) {
        return HttpResponse::text(401, "unauthorized")
            .with_header("WWW-Authenticate", "Bearer realm=\"switchyard-metrics\"");
    }
    HttpResponse::new(200, metrics::CONTENT_TYPE, metrics::render(service))
}

fn auth_bearer_ok(guard: &Guard, request: &HttpRequest) -> bool {
    matches!(guard.check(request), Ok(auth::Access::Bearer))
}
