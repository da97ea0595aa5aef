//! The `api` scenario: the edge server's costs. It starts its own backend (`api_io.rs`) and
//! its own switchyard (`--workers 1`, `--proxy-command-url` to that backend), then measures:
//!
//! - single `POST /api/publish` calls on one keep-alive connection: publishes/s and latency;
//! - `POST /api/batch` of `--batch` publishes on one keep-alive connection: publishes/s;
//!   every publish is counted on a WebSocket subscriber of the channel (all must arrive);
//! - the event proxy's added latency: `echo` round trips (one in flight) on the example's
//!   direct handler, then on `/socket`, whose commands go to the backend; p50 and p99 of
//!   each and their difference.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::api_io::{start_backend, HttpClient, WsClient};
use super::per_second;
use crate::histogram::Histogram;
use crate::report::{Metric, ScenarioResult};
use crate::server_proc::{RunningServer, ServerSpec};
use crate::usage::CpuWindow;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub switchyard: std::path::PathBuf,
    pub batch: usize,
    pub duration: Duration,
    /// A `taskset -c` list for the server, if any.
    pub server_cpus: Option<String>,
}

const CHANNEL: &str = "api-bench";

pub fn run(config: &ApiConfig) -> io::Result<ScenarioResult> {
    let backend = start_backend()?;
    let spec = ServerSpec {
        name: "switchyard-api".into(),
        program: config.switchyard.clone(),
        args: ["--workers", "1", "--rate-limit", "0", "--proxy-command-url", &format!("http://{backend}/events")]
            .map(String::from)
            .to_vec(),
    };
    let server = RunningServer::start(&spec, config.server_cpus.as_deref())?;
    let setup = format!("server API and event proxy, --workers 1, batches of {}", config.batch);
    let mut result = ScenarioResult::new("api", setup);
    let (received, subscriber) = subscribe(server.addr)?;
    let cpu = CpuWindow::start(Some(server.pid()));

    let (single, latency) = single_publishes(server.addr, config.duration)?;
    let batched = batched_publishes(server.addr, config.batch, config.duration)?;
    let published = single.0 + batched.0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < published && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    result.cpu = cpu.finish();
    let got = received.load(Ordering::Relaxed);
    if got != published {
        result.errors += 1;
        result.notes.push(format!("the subscriber got {got} of {published} publishes"));
    }
    drop(subscriber);
    result.metrics.push(Metric::higher("single publishes/s", per_second(single.0, single.1), "msg/s"));
    result.metrics.push(Metric::lower("single publish p50", latency.summary().p50_us, "us"));
    result.metrics.push(Metric::lower("single publish p99", latency.summary().p99_us, "us"));
    result.metrics.push(Metric::higher("batched publishes/s", per_second(batched.0, batched.1), "msg/s"));

    let rounds = config.duration;
    let direct = echo_rounds(server.addr, "/example/socket?ch=direct", rounds)?;
    let proxied = echo_rounds(server.addr, "/socket?ch=proxied", rounds)?;
    let (direct, proxied) = (direct.summary(), proxied.summary());
    result.metrics.push(Metric::lower("echo direct p50", direct.p50_us, "us"));
    result.metrics.push(Metric::lower("echo direct p99", direct.p99_us, "us"));
    result.metrics.push(Metric::lower("echo proxied p50", proxied.p50_us, "us"));
    result.metrics.push(Metric::lower("echo proxied p99", proxied.p99_us, "us"));
    result.metrics.push(Metric::lower("proxy added p50", proxied.p50_us - direct.p50_us, "us"));
    result.metrics.push(Metric::lower("proxy added p99", proxied.p99_us - direct.p99_us, "us"));
    result.latency = Some(latency.summary());
    result.notes.push(format!("subscriber received {got} publishes, every one"));
    Ok(result)
}

/// A WebSocket member of the bench channel counting what it receives, on its own thread.
fn subscribe(target: SocketAddr) -> io::Result<(Arc<AtomicU64>, std::thread::JoinHandle<()>)> {
    let mut client = WsClient::connect(target, &format!("/example/socket?ch={CHANNEL}"))?;
    client.set_read_timeout(Duration::from_secs(15))?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let thread = std::thread::spawn(move || {
        while let Ok(text) = client.read_text() {
            if memchr::memmem::find(&text, br#""cmd":"bench""#).is_some() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Ok((received, thread))
}

fn publish_body(i: u64) -> String {
    format!(r#"{{"channel":"{CHANNEL}","cmd":"bench","param":{{"n":{i},"text":"0123456789abcdef0123456789abcdef"}}}}"#)
}

/// Sequential single publishes for `duration`: (count, elapsed) and their latency.
fn single_publishes(target: SocketAddr, duration: Duration) -> io::Result<((u64, Duration), Histogram)> {
    let mut client = HttpClient::connect(target)?;
    let mut histogram = Histogram::default();
    let started = Instant::now();
    let mut count = 0;
    while started.elapsed() < duration {
        let sent = Instant::now();
        let (status, _) = client.post("/api/publish", publish_body(count).as_bytes())?;
        histogram.record(sent.elapsed().as_nanos() as u64);
        if status != 200 {
            return Err(io::Error::other(format!("publish answered {status}")));
        }
        count += 1;
    }
    Ok(((count, started.elapsed()), histogram))
}

/// Sequential batches for `duration`: (publishes, elapsed).
fn batched_publishes(target: SocketAddr, batch: usize, duration: Duration) -> io::Result<(u64, Duration)> {
    let mut client = HttpClient::connect(target)?;
    let items: Vec<String> =
        (0..batch as u64).map(|i| publish_body(i).replacen('{', r#"{"op":"publish","#, 1)).collect();
    let body = format!("[{}]", items.join(","));
    let started = Instant::now();
    let mut count = 0;
    while started.elapsed() < duration {
        let (status, answer) = client.post("/api/batch", body.as_bytes())?;
        if status != 200 {
            return Err(io::Error::other(format!("batch answered {status}: {}", String::from_utf8_lossy(&answer))));
        }
        count += batch as u64;
    }
    Ok((count, started.elapsed()))
}

/// `echo` round trips, one in flight, for `duration`.
fn echo_rounds(target: SocketAddr, path: &str, duration: Duration) -> io::Result<Histogram> {
    let mut client = WsClient::connect(target, path)?;
    let mut histogram = Histogram::default();
    let message = r#"{"cmd":"echo","param":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}"#;
    let started = Instant::now();
    while started.elapsed() < duration {
        let sent = Instant::now();
        client.send_text(message)?;
        loop {
            let text = client.read_text()?;
            if memchr::memmem::find(&text, br#""cmd":"echo""#).is_some() {
                break;
            }
        }
        histogram.record(sent.elapsed().as_nanos() as u64);
    }
    Ok(histogram)
}
