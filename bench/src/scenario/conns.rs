//! The `conns` scenario: open N idle connections as fast as the server takes them (source
//! addresses 127.0.0.2 and up), report connects + upgrades per second, hold them, and read the
//! server's resident memory per connection from /proc/PID/status. The route decides the
//! channel layout: a channel per connection, channels of 100, or all in one channel (then every
//! join is announced to the members already there, and the frames they receive are counted).

use std::io;
use std::time::{Duration, Instant};

use super::{path_for, per_second, Common};
use crate::client::Client;
use crate::fleet::{Fleet, FleetHandler, OpenAware, OpenBatch};
use crate::net;
use crate::report::{Metric, ScenarioResult};
use crate::usage::{self, CpuWindow};
use crate::wire::{self, Frame};

#[derive(Debug, Clone)]
pub struct ConnsConfig {
    pub conns: usize,
    /// Route template; `{i}` is the connection index, `{g}` its group.
    pub path: String,
    /// How the route spreads the connections over channels, for the report.
    pub layout: String,
    /// How long to hold the connections idle before reading the RSS.
    pub hold: Duration,
}

#[derive(Default)]
struct IdleLoad {
    frames: u64,
    bytes: u64,
    closed: u64,
    slow_consumer_closes: u64,
    first_error: Option<String>,
}

impl FleetHandler for IdleLoad {
    fn on_frame(&mut self, _conn: usize, frame: Frame<'_>, _now: Instant) {
        self.frames += 1;
        self.bytes += wire::server_frame_len(frame.payload.len()) as u64;
    }

    fn on_close_code(&mut self, _conn: usize, code: u16) {
        if code == wire::CLOSE_POLICY {
            self.slow_consumer_closes += 1;
        }
    }

    fn on_close(&mut self, conn: usize, _was_open: bool, error: Option<io::Error>) {
        self.closed += 1;
        let why = error.map_or("closed by the server".to_string(), |err| err.to_string());
        self.first_error.get_or_insert(format!("connection {conn}: {why}"));
    }
}

impl OpenAware for IdleLoad {
    fn opened(&mut self, _conn: usize, _client: &mut Client) {}

    fn frame_while_opening(&mut self, conn: usize, frame: Frame<'_>, now: Instant) {
        self.on_frame(conn, frame, now);
    }

    fn failed(&mut self, conn: usize, error: Option<io::Error>) {
        self.on_close(conn, false, error);
    }

    fn close_code(&mut self, conn: usize, code: u16) {
        self.on_close_code(conn, code);
    }
}

pub fn run(common: &Common, config: &ConnsConfig) -> io::Result<ScenarioResult> {
    raise_fd_limit();
    let mut fleet = Fleet::new(common.target)?;
    let mut load = IdleLoad::default();
    let rss_before = common.server_pid.and_then(usage::process_rss_bytes);
    let host = fleet.host_header().to_string();
    let offer = common.deflate.then_some(crate::inflated::OFFER);
    let request_for = |i| wire::upgrade_request_offering(&host, &path_for(&config.path, i), offer);
    let window = CpuWindow::start(common.server_pid);
    let deadline = Instant::now() + Duration::from_secs(120);
    let opened = fleet.open_many(
        &OpenBatch {
            count: config.conns,
            concurrency: common.connect_concurrency,
            deadline,
            request_for: &request_for,
            source_for: &|i| Some(net::loopback_source(i)),
        },
        &mut load,
    )?;
    let cpu = window.finish();
    hold(&mut fleet, &mut load, config.hold)?;
    let held = fleet.open_count();
    let rss_after = common.server_pid.and_then(usage::process_rss_bytes);

    let setup = format!("{} idle connections, {}, path {}", config.conns, config.layout, config.path);
    let mut result = ScenarioResult::new("conns", setup);
    result.metrics.push(Metric::higher(
        "connects+upgrades/s",
        per_second(opened.opened as u64, opened.elapsed),
        "conns/s",
    ));
    result.metrics.push(Metric::higher("connections held", held as f64, "conns"));
    if let Some(share) = cpu.server {
        let per_connection = share * opened.elapsed.as_secs_f64() * 1e6 / opened.opened.max(1) as f64;
        result.metrics.push(Metric::lower("server CPU per connection", per_connection, "us"));
    }
    result.metrics.push(Metric::lower("frames received", load.frames as f64, "frames"));
    result.metrics.push(Metric::lower("bytes received", load.bytes as f64, "B"));
    result.metrics.push(Metric::lower("slow-consumer closes", load.slow_consumer_closes as f64, "closes"));
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let per_connection = after.saturating_sub(before) as f64 / held.max(1) as f64;
        result.metrics.push(Metric::lower("server RSS per connection", per_connection / 1024.0, "KiB"));
        result.notes.push(format!(
            "server RSS {:.1} MiB before, {:.1} MiB holding {held}",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0
        ));
    } else {
        result.notes.push("server RSS unknown: pass --server-pid".into());
    }
    result.cpu = cpu;
    result.errors = opened.failed as u64 + (config.conns - opened.opened.min(config.conns)) as u64 + load.closed;
    result.notes.extend(load.first_error.take());
    result.note_bottleneck();
    drop(fleet);
    Ok(result)
}

/// Keeps the connections open (answering pings) for `period`.
fn hold(fleet: &mut Fleet, load: &mut IdleLoad, period: Duration) -> io::Result<()> {
    let until = Instant::now() + period;
    while Instant::now() < until {
        fleet.poll_once(Some(Duration::from_millis(50)), load)?;
    }
    Ok(())
}

/// Lifts the soft open-files limit to the hard one.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid resource and a struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
