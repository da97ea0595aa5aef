//! The HTTP client of the event proxy: `ureq` (blocking, small, well kept, no async
//! runtime), one `Agent` shared by the pool's threads, keeping HTTP/1.1 connections to the
//! backend alive and reusing them, with a whole-call timeout.
//!
//! Owns one POST and the sorting of its failures (down, timed out, answered something that
//! is not a 2xx). It runs on the pool's threads only, never on an event loop.

use std::time::Duration;

use crate::service::proxy::ProxyFailure;

/// Largest answer read from the backend.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// The client the pool's threads share (one connection pool).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// A client with at most `connections` idle keep-alive connections and `timeout` per call.
    pub fn new(timeout: Duration, connections: usize) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections(connections.max(1))
            .max_idle_connections_per_host(connections.max(1))
            .user_agent("switchyard")
            .build()
            .into();
        Client { agent }
    }

    /// POSTs a JSON body; the answer's body, or `None` for an empty answer (204).
    pub fn post(&self, url: &str, event: &str, body: &[u8]) -> Result<Option<Vec<u8>>, ProxyFailure> {
        let mut response = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-Switchyard-Event", event)
            .send(body)
            .map_err(failure)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(ProxyFailure::BadAnswer(format!("status {status}")));
        }
        let body = response.body_mut().with_config().limit(MAX_ANSWER_BYTES).read_to_vec().map_err(failure)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        Ok(Some(body))
    }
}

fn failure(error: ureq::Error) -> ProxyFailure {
    match error {
        ureq::Error::Timeout(_) => ProxyFailure::Timeout,
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => ProxyFailure::Timeout,
        ureq::Error::BodyExceedsLimit(_) => ProxyFailure::BadAnswer("answer too large".into()),
        other => ProxyFailure::Unavailable(other.to_string()),
    }
}

/// Checks a backend URL at startup: `http://host[:port]/path`.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url.parse().map_err(|e| format!("bad proxy URL '{url}': {e}"))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(format!("bad proxy URL '{url}': use http://host:port/path"));
    }
    Ok(())
}
