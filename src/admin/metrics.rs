//! `/metrics`: the service counters in the Prometheus text exposition format (0.0.4).
//!
//! Owns the metric names, types, help texts and labels, and the rendering. It reads
//! `Service::status()` (a sum of per-worker atomics: cheap, on the event loop), each
//! worker's connection gauge and the histograms; it keeps no state and never blocks. A counter the core adds to
//! `Status` later shows up as `switchyard_<field>_total` without a change here.

use std::fmt::Write;

use serde_json::{Map, Value};

use crate::service::Service;

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A `Status` field shown as its own metric.
struct Single {
    field: &'static str,
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

/// `Status` fields shown as one metric with a label.
struct Family {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    members: &'static [(&'static str, &'static str)],
}

const SINGLES: &[Single] = &[
    Single { field: "connections", name: "switchyard_connections", kind: "gauge", help: "Open WebSocket connections." },
    Single {
        field: "channels",
        name: "switchyard_channels",
        kind: "gauge",
        help: "Channels with at least one member.",
    },
    Single { field: "workers", name: "switchyard_workers", kind: "gauge", help: "Event-loop worker threads." },
    Single {
        field: "tap_connections",
        name: "switchyard_tap_connections",
        kind: "gauge",
        help: "Admin live-tap sockets open (not counted in switchyard_connections).",
    },
    Single {
        field: "handshakes_rejected",
        name: "switchyard_handshakes_rejected_total",
        kind: "counter",
        help: "WebSocket upgrades answered with an error status (all reasons, 503 included).",
    },
    Single {
        field: "uptime_seconds",
        name: "switchyard_uptime_seconds",
        kind: "gauge",
        help: "Seconds since the server started.",
    },
    Single {
        field: "started_at",
        name: "switchyard_start_time_seconds",
        kind: "gauge",
        help: "Start time of the server, seconds since the Unix epoch.",
    },
    Single {
        field: "connections_opened",
        name: "switchyard_connections_opened_total",
        kind: "counter",
        help: "WebSocket connections accepted since start.",
    },
    Single {
        field: "messages_in",
        name: "switchyard_messages_received_total",
        kind: "counter",
        help: "Messages received from clients.",
    },
    Single {
        field: "messages_out",
        name: "switchyard_messages_sent_total",
        kind: "counter",
        help: "Messages queued to clients (one per recipient).",
    },
    Single {
        field: "bytes_in",
        name: "switchyard_received_bytes_total",
        kind: "counter",
        help: "Bytes read from clients: WebSocket frames and HTTP requests (upgrades and plain requests).",
    },
    Single {
        field: "bytes_out",
        name: "switchyard_sent_bytes_total",
        kind: "counter",
        help: "Bytes queued to clients: WebSocket data frames and HTTP responses (upgrades and plain requests), not ping, pong or close frames.",
    },
    Single {
        field: "errors_sent",
        name: "switchyard_errors_sent_total",
        kind: "counter",
        help: "error messages sent to clients (bad JSON, unknown command, denied, rate limited...).",
    },
    Single {
        field: "heartbeats",
        name: "switchyard_heartbeats_total",
        kind: "counter",
        help: "Client heartbeat messages answered.",
    },
    Single {
        field: "http_requests",
        name: "switchyard_http_requests_total",
        kind: "counter",
        help: "Plain HTTP requests served (pages, API, health, metrics).",
    },
];

const FAMILIES: &[Family] = &[
    Family {
        name: "switchyard_closes_total",
        help: "Connections closed by the server, by reason.",
        label: "reason",
        members: &[
            ("protocol_closes", "protocol"),
            ("slow_consumer_closes", "slow_consumer"),
            ("idle_closes", "idle"),
            ("rate_limit_closes", "rate_limit"),
        ],
    },
    Family {
        name: "switchyard_handshakes_total",
        help: "WebSocket handshakes, by result.",
        label: "result",
        members: &[
            ("connections_opened", "accepted"),
            ("handshakes_bad_request", "bad_request"),
            ("handshakes_unauthorized", "unauthorized"),
            ("handshakes_forbidden", "forbidden"),
            ("handshake_timeouts", "timeout"),
            ("tls_handshake_failures", "tls_failed"),
            ("connections_refused", "refused"),
        ],
    },
];

/// The whole `/metrics` body.
pub fn render(service: &Service) -> String {
    let status = match serde_json::to_value(service.status()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut out = String::with_capacity(4096);
    render_status(&mut out, &status);
    render_workers(&mut out, &service.worker_connections());
    for histogram in service.histograms() {
        render_histogram(&mut out, &histogram);
    }
    if let Some(cluster) = service.cluster_status() {
        render_cluster(&mut out, &cluster);
    }
    render_proxy(&mut out, service.proxy_stats());
    render_history(&mut out, &service.history_stats());
    header(&mut out, "switchyard_build_info", "gauge", "Version of the running server (always 1).");
    let _ = writeln!(out, "switchyard_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    out
}

/// Renders every numeric field of a `Status` (as JSON): the known ones with their names,
/// families and types, any other as a counter `switchyard_<field>_total`.
pub fn render_status(out: &mut String, status: &Map<String, Value>) {
    let mut used: Vec<&str> = Vec::new();
    for single in SINGLES {
        if let Some(value) = number(status, single.field) {
            header(out, single.name, single.kind, single.help);
            let _ = writeln!(out, "{} {value}", single.name);
        }
    }
    for family in FAMILIES {
        render_family(out, family, status);
        used.extend(family.members.iter().map(|(field, _)| *field));
    }
    used.extend(SINGLES.iter().map(|s| s.field));
    for (field, value) in status {
        if used.contains(&field.as_str()) || !value.is_number() || !valid_name(field) {
            continue;
        }
        let name = format!("switchyard_{field}_total");
        header(out, &name, "counter", &format!("Service counter {field}."));
        let _ = writeln!(out, "{name} {value}");
    }
}

fn render_history(out: &mut String, stats: &crate::service::history::HistoryStats) {
    let series = [
        ("switchyard_history_bytes", "gauge", "Bytes the channels' history holds on this node.", stats.bytes),
        ("switchyard_history_messages", "gauge", "Messages kept in channel history on this node.", stats.messages),
        ("switchyard_history_channels", "gauge", "Channels with a history on this node.", stats.channels),
        (
            "switchyard_history_channels_dropped_total",
            "counter",
            "Channel histories dropped whole to stay under --history-memory.",
            stats.channels_dropped,
        ),
    ];
    for (name, kind, help, value) in series {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

fn render_histogram(out: &mut String, histogram: &crate::service::stats::HistogramSnapshot) {
    let name = histogram.name;
    header(out, name, "histogram", histogram.help);
    for (bound, count) in histogram.bounds.iter().zip(&histogram.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let total = histogram.cumulative.last().copied().unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum {}", histogram.sum);
    let _ = writeln!(out, "{name}_count {}", histogram.count);
}

/// The event proxy's calls and failures by reason.
fn render_proxy(out: &mut String, stats: &crate::service::proxy::ProxyStats) {
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    header(out, "switchyard_proxy_calls_total", "counter", "Events sent to the backend (event proxy).");
    let _ = writeln!(out, "switchyard_proxy_calls_total {}", load(&stats.calls));
    let help = "Backend calls that failed: unavailable (down), timeout, bad_answer (not 2xx JSON), queue_full.";
    header(out, "switchyard_proxy_failures_total", "counter", help);
    for (reason, counter) in [
        ("unavailable", &stats.unavailable),
        ("timeout", &stats.timeouts),
        ("bad_answer", &stats.bad_answers),
        ("queue_full", &stats.queue_full),
    ] {
        let _ = writeln!(out, "switchyard_proxy_failures_total{{reason=\"{reason}\"}} {}", load(counter));
    }
}

/// The Redis link's state and counters, when the node is part of a cluster.
fn render_cluster(out: &mut String, cluster: &Value) {
    let up = u8::from(cluster.get("state").and_then(Value::as_str) == Some("up"));
    header(out, "switchyard_cluster_up", "gauge", "1 while the link to Redis is up.");
    let _ = writeln!(out, "switchyard_cluster_up {up}");
    let nodes = cluster.get("nodes").and_then(Value::as_array).map_or(0, Vec::len);
    header(out, "switchyard_cluster_nodes", "gauge", "Other nodes of the cluster seen alive.");
    let _ = writeln!(out, "switchyard_cluster_nodes {nodes}");
    let counters = [
        ("reconnects", "Reconnections to Redis."),
        ("published", "Writes published to the other nodes."),
        ("dropped", "Writes not published (link down or queue full)."),
        ("received", "Writes received from the other nodes."),
        ("malformed", "Malformed messages received from Redis."),
        ("nodes_expired", "Other nodes dropped after no heartbeat for the node expiry."),
        ("goodbyes", "Other nodes dropped on their goodbye (clean shutdown)."),
        ("presence_healed", "online-updates sent here for other nodes' users gone or back unannounced."),
        ("presence_repeats", "online-updates from other nodes dropped as no news here."),
        ("history_published", "Writes to channels with history given an offset by Redis."),
        ("history_unrecorded", "Writes to channels with history delivered here only, without offset (Redis down)."),
        ("history_reads", "Recoveries and positions read from Redis."),
        ("history_unavailable", "Recoveries answered recovered:false because Redis was down or did not answer."),
    ];
    for (field, help) in counters {
        if let Some(value) = cluster.get(field).filter(|v| v.is_number()) {
            let name = format!("switchyard_cluster_{field}_total");
            header(out, &name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
    for (field, help) in [("subscriptions", "Redis channels subscribed."), ("queued_bytes", "Bytes waiting for Redis.")]
    {
        if let Some(value) = cluster.get(field).filter(|v| v.is_number()) {
            let name = format!("switchyard_cluster_{field}");
            header(out, &name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

fn render_family(out: &mut String, family: &Family, status: &Map<String, Value>) {
    let present: Vec<(&str, String)> =
        family.members.iter().filter_map(|(field, label)| number(status, field).map(|v| (*label, v))).collect();
    if present.is_empty() {
        return;
    }
    header(out, family.name, "counter", family.help);
    for (label, value) in present {
        let _ = writeln!(out, "{}{{{}=\"{label}\"}} {value}", family.name, family.label);
    }
}

fn render_workers(out: &mut String, workers: &[u64]) {
    header(out, "switchyard_worker_connections", "gauge", "Open connections per worker thread.");
    for (index, count) in workers.iter().enumerate() {
        let _ = writeln!(out, "switchyard_worker_connections{{worker=\"{index}\"}} {count}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn number(status: &Map<String, Value>, field: &str) -> Option<String> {
    status.get(field).filter(|v| v.is_number()).map(Value::to_string)
}

fn valid_name(field: &str) -> bool {
    !field.is_empty() && field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cluster_link_is_rendered_when_present() {
        let cluster = json!({"state": "down", "nodes": [{}, {}], "reconnects": 3, "dropped": 5,
            "published": 10, "subscriptions": 4, "queued_bytes": 0, "last_error": "refused"});
        let mut out = String::new();
        render_cluster(&mut out, &cluster);
        assert!(out.contains("switchyard_cluster_up 0\n"));
        assert!(out.contains("switchyard_cluster_nodes 2\n"));
        assert!(
            out.contains("# TYPE switchyard_cluster_reconnects_total counter\nswitchyard_cluster_reconnects_total 3\n")
        );
        assert!(out.contains("switchyard_cluster_dropped_total 5\n"));
        assert!(out.contains("# TYPE switchyard_cluster_subscriptions gauge\nswitchyard_cluster_subscriptions 4\n"));
        assert!(!out.contains("received"), "absent counters are not invented");
    }

    #[test]
    fn unknown_counters_are_rendered_generically_and_families_labelled() {
        let status = json!({"connections": 3, "protocol_closes": 1, "idle_closes": 2,
            "new_thing": 7, "uptime_seconds": 1.5, "weird-name": 1, "text": "x"});
        let mut out = String::new();
        render_status(&mut out, status.as_object().unwrap());
        assert!(out.contains("switchyard_connections 3\n"));
        assert!(out.contains("switchyard_uptime_seconds 1.5\n"));
        assert!(out.contains("switchyard_closes_total{reason=\"protocol\"} 1\n"));
        assert!(out.contains("switchyard_closes_total{reason=\"idle\"} 2\n"));
        assert!(!out.contains("slow_consumer"), "absent fields are not invented");
        assert!(out.contains("# TYPE switchyard_new_thing_total counter\nswitchyard_new_thing_total 7\n"));
        assert!(!out.contains("weird"));
        assert!(!out.contains("text"));
    }
}
