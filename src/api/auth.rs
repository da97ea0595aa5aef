//! Who may call the server API: with a key (`--api-key`, `--api-key-file`), a request needs
//! `Authorization: apikey KEY` or `Authorization: Bearer KEY`, compared in constant time
//! (`auth::secret::constant_time_eq`: neither the place of a difference nor the key's length
//! shows); without one, only loopback clients are served (the admin's loopback rule).
//!
//! Owns the API's access decision only. The API key opens nothing else (not the admin, not
//! the tap) and the admin token does not open the API: each guard knows only its own secret.
//! A refusal says "unauthorized" and nothing else.

use crate::admin::auth::{loopback_rule, Denied, UNAUTHORIZED};
use crate::auth::secret::constant_time_eq;
use crate::server::HttpRequest;

/// The refusal of a non-loopback client when no key is configured.
pub const LOOPBACK_ONLY: Denied = Denied {
    status: 403,
    message: "the server API answers loopback clients only (start the server with --api-key to open it)",
};

/// The API's access rule.
pub struct KeyGuard {
    key: Option<String>,
}

impl KeyGuard {
    /// An empty key counts as none (loopback only).
    pub fn new(key: Option<&str>) -> Self {
        KeyGuard { key: key.filter(|k| !k.is_empty()).map(str::to_string) }
    }

    /// Whether a key is configured (else: loopback only).
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// May this request call the API?
    pub fn check(&self, request: &HttpRequest) -> Result<(), Denied> {
        let Some(expected) = &self.key else {
            return loopback_rule(request.remote, request.header("host")).map(|_| ()).map_err(|_| LOOPBACK_ONLY);
        };
        let presented = presented_key(request).ok_or(UNAUTHORIZED)?;
        if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(UNAUTHORIZED)
        }
    }
}

/// The key of `Authorization: apikey KEY` or `Authorization: Bearer KEY`.
fn presented_key(request: &HttpRequest) -> Option<&str> {
    if let Some(token) = request.bearer_token() {
        return Some(token);
    }
    let (scheme, key) = request.header("authorization")?.trim().split_once([' ', '\t'])?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("apikey") && !key.is_empty()).then_some(key)
}

/// The key from `--api-key` or the file `--api-key-file` names (trailing newline dropped).
pub fn key_from_config(config: &crate::Config) -> std::io::Result<Option<String>> {
    if let Some(key) = config.api_key.clone().filter(|k| !k.is_empty()) {
        return Ok(Some(key));
    }
    let Some(path) = &config.api_key_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)?;
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()).filter(|k| !k.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(remote: &str, authorization: Option<&str>) -> HttpRequest {
        let mut headers = vec![("Host".to_string(), "127.0.0.1:8080".to_string())];
        if let Some(value) = authorization {
            headers.push(("Authorization".to_string(), value.to_string()));
        }
        HttpRequest {
            method: "POST".into(),
            path: "/api/publish".into(),
            query: String::new(),
            headers,
            body: Vec::new(),
            remote: remote.parse().unwrap(),
            version: 1,
        }
    }

    #[test]
    fn a_key_is_needed_and_compared() {
        let guard = KeyGuard::new(Some("s3cret"));
        assert!(guard.check(&request("10.0.0.1:5", Some("apikey s3cret"))).is_ok());
        assert!(guard.check(&request("10.0.0.1:5", Some("Bearer s3cret"))).is_ok());
        assert_eq!(guard.check(&request("127.0.0.1:5", None)), Err(UNAUTHORIZED));
        assert_eq!(guard.check(&request("127.0.0.1:5", Some("apikey s3cre"))), Err(UNAUTHORIZED));
        assert_eq!(guard.check(&request("127.0.0.1:5", Some("Basic s3cret"))), Err(UNAUTHORIZED));
    }

    #[test]
    fn without_a_key_only_loopback() {
        let guard = KeyGuard::new(None);
        assert!(guard.check(&request("127.0.0.1:5", None)).is_ok());
        assert_eq!(guard.check(&request("10.0.0.1:5", None)), Err(LOOPBACK_ONLY));
        assert!(!KeyGuard::new(Some("")).has_key());
    }
}
