//! The admin interface: `/admin/websocket` (page), `/admin/api/...` (JSON API and live tap),
//! `/metrics`. (Being built: see issue 5.)

use crate::Server;

/// How the admin interface is protected.
#[derive(Debug, Clone, Default)]
pub struct AdminOptions {
    /// Token every admin request must carry; without one, only loopback clients are served.
    pub token: Option<String>,
    /// Token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
}

/// Adds the admin routes to a server.
pub fn install(server: Server, _options: AdminOptions) -> Server {
    server
}
