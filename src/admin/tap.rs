//! The live tap at `/admin/api/tap`: registers the core's tap socket behind the admin
//! access rules.
//!
//! Owns only the decision of who may open the tap (the same rules as the admin API, plus the
//! same-origin check, since a browser attaches cookies to a cross-site WebSocket too and
//! loopback is not a credential). The events themselves, their rate bound and the
//! `tap-dropped` notes are the core's (`service::tap`).

use std::sync::Arc;

use super::auth::Guard;
use crate::auth::Refusal;
use crate::server::HttpRequest;
use crate::service::Profile;
use crate::Server;

/// Path of the tap socket.
pub const PATH: &str = "/admin/api/tap";

/// Adds the tap socket to `server`.
pub fn install(server: Server, guard: Arc<Guard>) -> Server {
    server.tap_socket(PATH, move |request: &HttpRequest| authorize(&guard, request))
}

/// Who is watching: the admin, or a refusal that says nothing more than the API's.
pub fn authorize(guard: &Guard, request: &HttpRequest) -> Result<Option<Profile>, Refusal> {
    match guard.check_action(request) {
        Ok(_) => Ok(Some(admin_profile())),
        Err(denied) => Err(Refusal { status: denied.status, reason: denied.message.to_string() }),
    }
}

fn admin_profile() -> Profile {
    Profile {
        id: "admin".to_string(),
        name: "admin (tap)".into(),
        roles: vec!["admin".to_string()],
        claims: serde_json::Map::new(),
        anonymous: false,
        expires_at: None,
    }
}
