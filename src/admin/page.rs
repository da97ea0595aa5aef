//! The admin page `/admin/websocket` and its script and style sheet, embedded in the binary
//! (`assets/admin.html`, `admin.js`, `admin.css`: no build step, no CDN).
//!
//! Owns the static responses and their security headers (a strict Content-Security-Policy:
//! scripts and styles from this origin only, no framing). It decides no access: `mod.rs`
//! checks the request before calling in here.

use crate::server::HttpResponse;

pub const HTML: &str = include_str!("../../assets/admin.html");
pub const JS: &str = include_str!("../../assets/admin.js");
pub const CSS: &str = include_str!("../../assets/admin.css");

/// Pages may load scripts, styles and connections from their own origin, and nothing else.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Adds the headers every admin response carries.
pub fn harden(response: HttpResponse) -> HttpResponse {
    response
        .with_header("Content-Security-Policy", CSP)
        .with_header("X-Frame-Options", "DENY")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Referrer-Policy", "same-origin")
}

pub fn html() -> HttpResponse {
    HttpResponse::html(HTML)
}

pub fn js() -> HttpResponse {
    HttpResponse::new(200, "text/javascript; charset=utf-8", JS)
}

pub fn css() -> HttpResponse {
    HttpResponse::new(200, "text/css; charset=utf-8", CSS)
}

/// A `303 See Other` to `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::new(303, "text/plain; charset=utf-8", "").with_header("Location", location)
}
