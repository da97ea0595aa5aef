//! Who may use the admin interface: the token rules, the session cookie, the loopback rule
//! and the same-origin (CSRF) checks.
//!
//! Owns every access decision of `src/admin`: with a token, a request needs
//! `Authorization: Bearer T` or the session cookie the login form sets; without one, only
//! loopback clients (remote address and `Host`) are served. Tokens are compared in constant
//! time. A refusal never says more than "unauthorized" or "loopback only". It does not
//! route, render or touch the service.

use std::net::{IpAddr, SocketAddr};

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
    /// The session cookie's value: HMAC-SHA1(per-process key, token), never the token itself.
    session: Option<String>,
}

impl Guard {
    /// An empty token counts as none (loopback only).
    pub fn new(token: Option<String>) -> Self {
        let token = token.filter(|t| !t.is_empty());
        let key = random_key();
        let session = token.as_deref().map(|t| hex(&hmac_sha1(&key, t.as_bytes())));
        Guard { token, session }
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

    /// The `Set-Cookie` value that logs a browser in (None without a token).
    pub fn login_cookie(&self) -> Option<String> {
        self.session
            .as_deref()
            .map(|value| format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE}"))
    }

    fn token_rule(&self, token: &str, request: &HttpRequest) -> Result<Access, Denied> {
        if let Some(bearer) = bearer(request) {
            if constant_time_eq(token.as_bytes(), bearer.as_bytes()) {
                return Ok(Access::Bearer);
            }
            return Err(UNAUTHORIZED);
        }
        let session = self.session.as_deref().unwrap_or_default();
        let cookies = request.header("cookie").unwrap_or_default();
        match cookie_value(cookies, COOKIE) {
            Some(value) if constant_time_eq(session.as_bytes(), value.as_bytes()) => Ok(Access::Cookie),
            _ => Err(UNAUTHORIZED),
        }
    }
}

/// The `Set-Cookie` value that logs a browser out.
pub fn logout_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
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

fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.header("authorization")?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// Equality whose time depends on neither where the inputs differ nor their lengths: both
/// sides are hashed first, then every byte of the digests is compared.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (sha1(a), sha1(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

fn sha1(data: &[u8]) -> [u8; 20] {
    sha1_smol::Sha1::from(data).digest().bytes()
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

/// HMAC-SHA1 (RFC 2104) with a key of at most one block.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    debug_assert!(key.len() <= 64);
    let mut inner_pad = [0x36u8; 64];
    let mut outer_pad = [0x5cu8; 64];
    for (i, byte) in key.iter().enumerate() {
        inner_pad[i] ^= byte;
        outer_pad[i] ^= byte;
    }
    let mut inner = sha1_smol::Sha1::new();
    inner.update(&inner_pad);
    inner.update(message);
    let mut outer = sha1_smol::Sha1::new();
    outer.update(&outer_pad);
    outer.update(&inner.digest().bytes());
    outer.digest().bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn hmac_matches_rfc_2202() {
        let digest = hmac_sha1(&[0x0b; 20], b"Hi There");
        assert_eq!(hex(&digest), "b617318655057264e28bc0b6fb378c8ef146be00");
        let digest = hmac_sha1(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&digest), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }
}
