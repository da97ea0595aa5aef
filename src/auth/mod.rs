//! Who is behind a connection: the `Authenticator` an upgrade passes through, and the
//! `Refusal` it answers with when it says no.
//!
//! An authenticator sees the upgrade request (path, query, headers, remote address) and
//! returns the user's `Profile`, `None` for an anonymous connection, or a refusal (401 for
//! a missing or bad credential, 403 for a known user who may not connect). It runs on the
//! event loop, once per upgrade: it must not block. A `ChannelAuthorizer` then decides,
//! per channel, who may join and publish.
//!
//! - `jwt.rs`     the built-in HS256 token authenticator
//! - `profile.rs` who a connection is
//! - `secret.rs`  constant-time comparison, random keys, HMAC (every credential check uses it)

pub mod jwt;
mod profile;
pub mod secret;

pub use profile::Profile;

use crate::wire::http::HttpRequest;

/// Why an upgrade was refused: the HTTP status (401 or 403) and a short reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {reason}")]
pub struct Refusal {
    /// HTTP status of the refusal (401 or 403).
    pub status: u16,
    /// A short reason, sent as the response body.
    pub reason: String,
}

impl Refusal {
    /// 401: a missing or bad credential.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Refusal { status: 401, reason: reason.into() }
    }

    /// 403: a known user who may not connect.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Refusal { status: 403, reason: reason.into() }
    }
}

/// Decides who an upgrade request is.
pub trait Authenticator: Send + Sync + 'static {
    /// `Ok(Some(profile))` for a known user, `Ok(None)` for an anonymous one, `Err` to refuse.
    fn authenticate(&self, request: &HttpRequest) -> Result<Option<Profile>, Refusal>;

    /// A new credential for a live connection (the client's `refresh` command). The
    /// returned profile must be the same user's; its `expires_at` replaces the old one.
    fn refresh(&self, _token: &str, _current: &Profile) -> Result<Profile, Refusal> {
        Err(Refusal::unauthorized("this server does not refresh credentials"))
    }
}

/// What a connection wants to do with a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAction {
    /// Becoming a member of the channel.
    Join,
    /// Sending a message to the channel's handler.
    Publish,
}

/// Decides who may join or publish to which channel. Runs on the event loop: must not block.
pub trait ChannelAuthorizer: Send + Sync + 'static {
    /// Whether `profile` may do `action` on `channel`.
    fn authorize(&self, profile: &Profile, channel: &str, action: ChannelAction) -> bool;

    /// Whether joins and leaves of `channel` are announced to its members (`online-update`,
    /// `online-updates`). Default: yes, unless the server runs with `--presence false`.
    fn announces_presence(&self, _channel: &str) -> bool {
        true
    }

    /// How many messages `channel` keeps for clients that reconnect (0: no history, its
    /// messages carry no offset). `default` is `--history-size`. Called per write: answer
    /// from memory.
    fn history_size(&self, _channel: &str, default: usize) -> usize {
        default
    }
}

impl<F> ChannelAuthorizer for F
where
    F: Fn(&Profile, &str, ChannelAction) -> bool + Send + Sync + 'static,
{
    fn authorize(&self, profile: &Profile, channel: &str, action: ChannelAction) -> bool {
        self(profile, channel, action)
    }
}

impl<F> Authenticator for F
where
    F: Fn(&HttpRequest) -> Result<Option<Profile>, Refusal> + Send + Sync + 'static,
{
    fn authenticate(&self, request: &HttpRequest) -> Result<Option<Profile>, Refusal> {
        self(request)
    }
}
