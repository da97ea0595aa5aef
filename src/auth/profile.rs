//! `Profile`: the user behind a connection, as an `Authenticator` established it (or the
//! anonymous profile). Plain data; it must not know about connections or sockets.

use std::borrow::Cow;

use serde::Serialize;
use uuid::Uuid;

/// The user behind a connection.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Profile {
    /// The user id (`sub` of a token; the connection id for anonymous users).
    pub id: String,
    /// Display name (borrowed for the shared `anonymous`, so anonymous clients cost nothing).
    pub name: Cow<'static, str>,
    /// Roles, e.g. `admin` (the `roles` claim).
    pub roles: Vec<String>,
    /// Every claim of the credential, as sent.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// True for a connection that did not authenticate.
    pub anonymous: bool,
    /// When its credential expires (seconds since the Unix epoch), if it does.
    pub expires_at: Option<u64>,
}

impl Profile {
    /// The profile of an unauthenticated connection: its id is the connection id.
    pub fn anonymous(conn: Uuid) -> Self {
        Profile {
            id: conn.to_string(),
            name: Cow::Borrowed("anonymous"),
            roles: Vec::new(),
            claims: serde_json::Map::new(),
            anonymous: true,
            expires_at: None,
        }
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
