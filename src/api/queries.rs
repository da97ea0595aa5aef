//! The server API's read calls: `GET /api/channels`, `GET /api/presence?channel=NAME` and
//! `GET /api/info`, answered from the registry (and the cluster view when scaled out).
//! Read-only: nothing here changes any state.

use serde_json::{json, Value};

use crate::server::HttpRequest;
use crate::service::Service;
use crate::wire::channel::valid_channel_name;

/// Every channel with members on this node.
pub fn channels(service: &Service) -> Value {
    let channels = service.channels();
    json!({"total": channels.len(), "channels": channels})
}

/// Who is in a channel: distinct users (cluster-wide when scaled out) and this node's connections.
pub fn presence(request: &HttpRequest, service: &Service) -> Result<Value, String> {
    let channel = request.query_param("channel").ok_or("missing 'channel' query parameter")?;
    if !valid_channel_name(&channel) {
        return Err(format!("invalid channel name '{}'", channel.escape_debug()));
    }
    let connections: Vec<Value> =
        service.connections_by_channel(&channel).into_iter().map(|c| json!({"id": c.id, "user": c.user.id})).collect();
    Ok(json!({"channel": channel, "users": service.online(&channel), "connections": connections}))
}

/// The node and its counts; the cluster's nodes when scaled out.
pub fn info(service: &Service) -> Value {
    let status = service.status();
    json!({
        "address": service.local_addr().map(|a| a.to_string()),
        "uptime_seconds": status.uptime_seconds,
        "workers": status.workers,
        "connections": status.connections,
        "channels": status.channels,
        "users": service.users().len(),
        "cluster": service.cluster_status(),
    })
}
