//! Who may use the admin interface: the token rules, the session cookie, the loopback rule
//! and the same-origin (CSRF) checks.
//!
//! Owns every access decision of `src/admin`: with a token, a request needs
//! `Authorization: Bearer T` or the session cookie the login form sets; without one, only
//! loopback clients (remote address and `Host`) are served. Tokens and cookies are compared
//! in constant time (`auth::secret`); the cookie is an HMAC-SHA256 tag of the token under a
//! per-process random key, so it never holds the token and a restart invalidates it. A
//! refusal never says more than "unauthorized" or "loopback only". It does not route,
//! render or touch the service.

use std::net::{IpAddr, SocketAddr};

use crate::auth::secret::{self, constant_time_eq};
use crate::server::HttpRequest;

/// Name of the session cookie the login form sets.
pub const COOKIE: &str = "switchyard_admin";
/// How long a session cookie lives, in seconds.
pub const COOKIE_MAX_AGE: u64 = 12 * 60 * 60;

/// How a request was let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token is configured and the client is on loopback.
    Loopback,
    /// `Authorization: Bearer` with the right token.
    Bearer,
    /// The session cookie set by the login form.
    Cookie,
}

/// Why a request was refused: the status and a message that leaks nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    /// HTTP status of the refusal.
    pub status: u16,
    /// The refusal's body text.
    pub message: &'static str,
}

/// No valid token.
pub const UNAUTHORIZED: Denied = Denied { status: 401, message: "unauthorized" };
/// No token is configured and the client is not on loopback.
pub const LOOPBACK_ONLY: Denied = Denied {
    status: 403,
    message: "the admin interface answers loopback clients only (start the server with --admin-token to open it)",
};
/// A browser request from another site.
pub const CROSS_SITE: Denied = Denied { status: 403, message: "cross-site request refused" };

/// The access rules of one server.
pub struct Guard {
    token: Option<String>,
    /// The session cookie's value: HMAC-SHA256(per-process random key, token), never the
    /// token itself. None without a token, or if the OS gave no randomness for the key (then
    /// only `Authorization: Bearer` gets in).
    session: Option<String>,
    /// The listener serves TLS: the cookie is marked `Secure` (never sent over plain HTTP).
    secure_cookie: bool,
}

impl Guard {
    /// An empty token counts as none (loopback only).
    pub fn new(token: Option<String>) -> Self {
        let token = token.filter(|t| !t.is_empty());
        let session = token.as_deref().and_then(session_value);
        Guard { token, session, secure_cookie: false }
    }

    /// Marks the session cookie `Secure` (for a server that listens with TLS).
    pub fn with_secure_cookie(mut self, secure: bool) -> Self {
        self.secure_cookie = secure;
        self
    }

    /// Whether an admin token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// May this request read admin pages and the API?
    pub fn check(&self, request: &HttpRequest) -> Result<Access, Denied> {
        match &self.token {
            None => loopback_rule(request.remote, request.header("host")),
            Some(token) => self.token_rule(token, request),
        }
    }

    /// May this request act (POST) or open the tap? Adds the same-origin check whenever the
    /// browser could have attached the credential by itself (cookie, or loopback).
    pub fn check_action(&self, request: &HttpRequest) -> Result<Access, Denied> {
        let access = self.check(request)?;
        if access != Access::Bearer && !same_origin(request) {
            return Err(CROSS_SITE);
        }
        Ok(access)
    }

    /// Whether `candidate` is the admin token (constant time).
    pub fn token_matches(&self, candidate: &str) -> bool {
        self.token.as_deref().is_some_and(|token| constant_time_eq(token.as_bytes(), candidate.as_bytes()))
    }

    /// The `Set-Cookie` value that logs a browser in (None without a token or session key).
    pub fn login_cookie(&self) -> Option<String> {
        let secure = self.secure_attribute();
        self.session.as_deref().map(|value| {
            format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}; Max-Age={COOKIE_MAX_AGE}")
        })
    }

    /// The `Set-Cookie` value that logs a browser out.
    pub fn logout_cookie(&self) -> String {
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict{}; Max-Age=0", self.secure_attribute())
    }

    fn secure_attribute(&self) -> &'static str {
        if self.secure_cookie {
            "; Secure"
        } else {
            ""
        }
    }

    fn token_rule(&self, token: &str, request: &HttpRequest) -> Result<Access, Denied> {
        if let Some(bearer) = request.bearer_token() {
            if constant_time_eq(token.as_bytes(), bearer.as_bytes()) {
                return Ok(Access::Bearer);
            }
            return Err(UNAUTHORIZED);
        }
        match (self.session.as_deref(), request.cookie(COOKIE)) {
            (Some(session), Some(value)) if constant_time_eq(session.as_bytes(), value.as_bytes()) => {
                Ok(Access::Cookie)
            }
            _ => Err(UNAUTHORIZED),
        }
    }
}

/// The session cookie's value for `token` under a fresh random key.
fn session_value(token: &str) -> Option<String> {
    match secret::random_key() {
        Ok(key) => Some(secret::hmac_sha256_hex(&key, token.as_bytes())),
        Err(e) => {
            log::error!("admin: no session key ({e}): the login form is off, use Authorization: Bearer");
            None
        }
    }
}

/// Without a token: the client must be on loopback, and so must the `Host` it asked for
/// (a page on another site whose name resolves to 127.0.0.1 must not get in).
pub fn loopback_rule(remote: SocketAddr, host: Option<&str>) -> Result<Access, Denied> {
    let local = is_loopback(remote.ip()) && host.is_none_or(loopback_host);
    if local {
        Ok(Access::Loopback)
    } else {
        Err(LOOPBACK_ONLY)
    }
}

/// Loopback, including IPv4-mapped IPv6 (`::ffff:127.0.0.1`).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether a `Host` header names this machine: `localhost`, `*.localhost`, or a loopback IP.
pub fn loopback_host(host: &str) -> bool {
    let name = host_name(host.trim());
    if name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(is_loopback)
}

/// The host part of a `Host` header: without the port, without IPv6 brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether a browser sent this request from our own origin. `Sec-Fetch-Site` (which pages
/// cannot forge) decides when present; else `Origin` must name our `Host` (`null` does not).
/// Requests with neither (curl, scripts) pass: only browsers attach credentials by
/// themselves, and they send at least one of the two on POST and WebSocket requests.
pub fn same_origin(request: &HttpRequest) -> bool {
    if let Some(site) = request.header("sec-fetch-site") {
        return matches!(site.trim(), "same-origin" | "none");
    }
    let Some(origin) = request.header("origin") else {
        return true;
    };
    let host = request.header("host").unwrap_or_default().trim();
    let origin = origin.trim();
    !host.is_empty() && (origin.strip_prefix("http://") == Some(host) || origin.strip_prefix("https://") == Some(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(remote: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: "/admin/api/status".into(),
            query: String::new(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: Vec::new(),
            remote: remote.parse().unwrap(),
            version: 1,
        }
    }

    #[test]
    fn without_a_token_only_loopback_clients_get_in() {
        let guard = Guard::new(None);
        for remote in ["127.0.0.1:5000", "127.8.9.10:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
            let ok = guard.check(&request(remote, &[("Host", "127.0.0.1:8080")]));
            assert_eq!(ok, Ok(Access::Loopback), "{remote}");
        }
        for remote in ["10.0.0.7:5000", "192.168.1.2:80", "[2001:db8::1]:5000", "[::ffff:10.0.0.1]:1"] {
            let denied = guard.check(&request(remote, &[("Host", "127.0.0.1:8080")]));
            assert_eq!(denied, Err(LOOPBACK_ONLY), "{remote}");
        }
    }

    #[test]
    fn without_a_token_a_foreign_host_name_is_refused() {
        let guard = Guard::new(Some(String::new()));
        assert!(!guard.has_token(), "an empty token is no token");
        for host in ["localhost:8080", "localhost", "app.localhost:1", "[::1]:8080", "127.0.0.1"] {
            assert!(guard.check(&request("127.0.0.1:1", &[("Host", host)])).is_ok(), "{host}");
        }
        for host in ["evil.example:8080", "10.0.0.1:8080", "localhost.evil.example"] {
            assert_eq!(guard.check(&request("127.0.0.1:1", &[("Host", host)])), Err(LOOPBACK_ONLY), "{host}");
        }
    }

    #[test]
    fn with_a_token_bearer_and_cookie_get_in_and_nothing_else() {
        let guard = Guard::new(Some("s3cret".into()));
        let remote = "10.1.2.3:4000";
        assert_eq!(guard.check(&request(remote, &[])), Err(UNAUTHORIZED));
        let wrong = request(remote, &[("Authorization", "Bearer nope")]);
        assert_eq!(guard.check(&wrong), Err(UNAUTHORIZED));
        let right = request(remote, &[("Authorization", "bearer s3cret")]);
        assert_eq!(guard.check(&right), Ok(Access::Bearer));
        // Loopback alone is not enough once a token is set.
        assert_eq!(guard.check(&request("127.0.0.1:1", &[])), Err(UNAUTHORIZED));
        let cookie = guard.login_cookie().unwrap();
        let value = cookie.split(';').next().unwrap();
        assert!(!value.contains("s3cret"), "the cookie never holds the token");
        let with_cookie = request(remote, &[("Cookie", &format!("a=b; {value}"))]);
        assert_eq!(guard.check(&with_cookie), Ok(Access::Cookie));
        let forged = request(remote, &[("Cookie", "switchyard_admin=s3cret")]);
        assert_eq!(guard.check(&forged), Err(UNAUTHORIZED));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains("Secure"), "plain HTTP: a Secure cookie would never come back");
    }

    #[test]
    fn a_tls_server_marks_its_cookies_secure() {
        let guard = Guard::new(Some("s3cret".into())).with_secure_cookie(true);
        assert!(guard.login_cookie().unwrap().contains("; Secure;"));
        assert!(guard.logout_cookie().contains("; Secure;"));
    }

    #[test]
    fn actions_need_the_same_origin_unless_bearer() {
        let guard = Guard::new(Some("t".into()));
        let cookie = guard.login_cookie().unwrap();
        let cookie = cookie.split(';').next().unwrap();
        let host = ("Host", "admin.example:8080");
        let same = request("10.0.0.1:1", &[host, ("Cookie", cookie), ("Origin", "http://admin.example:8080")]);
        assert_eq!(guard.check_action(&same), Ok(Access::Cookie));
        let cross = request("10.0.0.1:1", &[host, ("Cookie", cookie), ("Origin", "http://evil.example")]);
        assert_eq!(guard.check_action(&cross), Err(CROSS_SITE));
        let fetch = request("10.0.0.1:1", &[host, ("Cookie", cookie), ("Sec-Fetch-Site", "cross-site")]);
        assert_eq!(guard.check_action(&fetch), Err(CROSS_SITE));
        let bearer = request("10.0.0.1:1", &[host, ("Authorization", "Bearer t"), ("Origin", "http://evil.example")]);
        assert_eq!(guard.check_action(&bearer), Ok(Access::Bearer));
        let null_same =
            request("10.0.0.1:1", &[host, ("Cookie", cookie), ("Origin", "null"), ("Sec-Fetch-Site", "same-origin")]);
        assert_eq!(guard.check_action(&null_same), Ok(Access::Cookie));
        let null_only = request("10.0.0.1:1", &[host, ("Cookie", cookie), ("Origin", "null")]);
        assert_eq!(guard.check_action(&null_only), Err(CROSS_SITE));
        let loopback = Guard::new(None);
        let cross = request("127.0.0.1:1", &[("Host", "localhost:8080"), ("Origin", "http://evil.example")]);
        assert_eq!(loopback.check_action(&cross), Err(CROSS_SITE));
    }

    #[test]
    fn a_tampered_cookie_is_refused() {
        let guard = Guard::new(Some("s3cret".into()));
        let cookie = guard.login_cookie().unwrap();
        let value = cookie.split(';').next().unwrap().strip_prefix("switchyard_admin=").unwrap().to_string();
        assert_eq!(value.len(), 64, "an HMAC-SHA256 tag in hex");
        let good = request("10.0.0.1:1", &[("Cookie", &format!("switchyard_admin={value}"))]);
        assert_eq!(guard.check(&good), Ok(Access::Cookie));
        let flipped = |i: usize| {
            let mut bytes = value.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            String::from_utf8(bytes).unwrap()
        };
        for tampered in [flipped(0), flipped(63), value[..63].to_string(), format!("{value}0"), String::new()] {
            let forged = request("10.0.0.1:1", &[("Cookie", &format!("switchyard_admin={tampered}"))]);
            assert_eq!(guard.check(&forged), Err(UNAUTHORIZED), "{tampered}");
        }
    }

    #[test]
    fn a_cookie_from_before_a_key_change_is_refused() {
        let before = Guard::new(Some("s3cret".into()));
        let cookie = before.login_cookie().unwrap();
        let old = request("10.0.0.1:1", &[("Cookie", cookie.split(';').next().unwrap())]);
        assert_eq!(before.check(&old), Ok(Access::Cookie));
        // A restart draws a new key: the same token, but yesterday's cookie no longer opens.
        let restarted = Guard::new(Some("s3cret".into()));
        assert_eq!(restarted.check(&old), Err(UNAUTHORIZED));
        // A new token, likewise.
        let rotated = Guard::new(Some("n3w-secret".into()));
        assert_eq!(rotated.check(&old), Err(UNAUTHORIZED));
    }
}
