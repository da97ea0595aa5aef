//! The `storm` scenario: N clients (source addresses 127.0.0.2 and up) join ONE channel as
//! fast as the server takes them, watched by an observer that joined before (see
//! [`crate::observer`]); then all of them drop their connections at once and reconnect, as
//! after a deploy. Per phase: connects + upgrades per second, how late the observer learned of
//! the joins, its echo round trip, closes by the server (slow consumers), the frames and bytes
//! the storm clients received (the cost of presence) and the server's CPU seconds.

use std::io;
use std::time::{Duration, Instant};

use super::{per_second, Common};
use crate::client::Client;
use crate::fleet::{Fleet, FleetHandler, OpenAware, OpenBatch};
use crate::net;
use crate::observer::{self, Observer, PhaseRecord};
use crate::presence::{self, JoinLag};
use crate::report::{Metric, ScenarioResult};
use crate::usage::{self, CpuShares, CpuWindow};
use crate::wire::{self, Frame};

#[derive(Debug, Clone)]
pub struct StormConfig {
    pub clients: usize,
    pub channel: String,
    /// The longest one phase (connects, then presence settling) may take.
    pub phase_timeout: Duration,
    /// Run the reconnect wave after the storm.
    pub reconnect: bool,
    /// The server announces joins (false: presence is off, do not wait for the observer).
    pub expect_presence: bool,
}

/// Quiet time (no frame for any storm client) that ends a phase once the observer knows all.
const SETTLE_QUIET: Duration = Duration::from_millis(300);

/// The two phases, as the observer numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Storm = 0,
    Wave = 1,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Storm => "storm",
            Phase::Wave => "wave",
        }
    }
}

/// What the storm clients saw in the current phase.
#[derive(Default)]
struct StormLoad {
    epoch: Option<Instant>,
    /// Since the epoch: when each upgrade completed.
    joins: Vec<Duration>,
    frames: u64,
    bytes: u64,
    last_frame: Option<Instant>,
    unexpected_closes: u64,
    slow_consumer_closes: u64,
    first_error: Option<String>,
}

impl StormLoad {
    fn begin(&mut self, epoch: Instant) {
        *self = StormLoad { epoch: Some(epoch), first_error: self.first_error.take(), ..StormLoad::default() };
    }
}

impl FleetHandler for StormLoad {
    #[inline]
    fn on_frame(&mut self, _conn: usize, frame: Frame<'_>, now: Instant) {
        self.frames += 1;
        self.bytes += wire::server_frame_len(frame.payload.len()) as u64;
        self.last_frame = Some(now);
    }

    fn on_close_code(&mut self, _conn: usize, code: u16) {
        if code == wire::CLOSE_POLICY {
            self.slow_consumer_closes += 1;
        }
    }

    fn on_close(&mut self, conn: usize, was_open: bool, error: Option<io::Error>) {
        self.unexpected_closes += 1;
        let why = error.map_or("closed by the server".to_string(), |err| err.to_string());
        let when = if was_open { "" } else { " while opening" };
        self.first_error.get_or_insert(format!("connection {conn}{when}: {why}"));
    }
}

impl OpenAware for StormLoad {
    fn opened(&mut self, _conn: usize, _client: &mut Client) {
        let epoch = self.epoch.unwrap_or_else(Instant::now);
        self.joins.push(epoch.elapsed());
    }

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

/// What one phase measured on the generator's side.
struct PhaseOutcome {
    phase: Phase,
    opened: usize,
    failed: usize,
    connect_elapsed: Duration,
    joins: Vec<Duration>,
    frames: u64,
    bytes: u64,
    unexpected_closes: u64,
    slow_consumer_closes: u64,
    cpu: CpuShares,
    server_cpu_seconds: Option<f64>,
    /// The phase ran into its timeout before the observer knew of every join.
    timed_out: bool,
}

pub fn run(common: &Common, config: &StormConfig) -> io::Result<ScenarioResult> {
    super::conns::raise_fd_limit();
    let path = format!("/example/socket?ch={}", config.channel);
    let shared = observer::Shared::new();
    let observer = Observer::start(common.target, &path, shared.clone())?;
    let mut fleet = Fleet::new(common.target)?;
    let mut load = StormLoad::default();
    let request = wire::upgrade_request(fleet.host_header(), &path);
    let mut outcomes = vec![run_phase(&mut fleet, &mut load, common, config, &shared, &request, Phase::Storm)?];
    if config.reconnect {
        shared.begin(Phase::Wave as usize); // the leaves the drops cause belong to the wave
        for conn in 0..config.clients {
            fleet.drop_client(conn);
        }
        outcomes.push(run_phase(&mut fleet, &mut load, common, config, &shared, &request, Phase::Wave)?);
    }
    let seen = observer.finish();
    drop(fleet);
    let mut result = ScenarioResult::new(
        "storm",
        format!("{} clients into one channel ({path}), then all reconnect at once", config.clients),
    );
    for outcome in &outcomes {
        add_phase(&mut result, outcome, &seen.phases[outcome.phase as usize], config);
    }
    result.latency = Some(seen.phases[Phase::Storm as usize].echo.summary());
    result.cpu = outcomes[0].cpu;
    result.notes.extend(load.first_error.take());
    if let Some(why) = seen.closed {
        result.errors += 1;
        result.notes.push(why);
    }
    result.note_bottleneck();
    Ok(result)
}

fn run_phase(
    fleet: &mut Fleet,
    load: &mut StormLoad,
    common: &Common,
    config: &StormConfig,
    shared: &observer::Shared,
    request: &[u8],
    phase: Phase,
) -> io::Result<PhaseOutcome> {
    shared.begin(phase as usize);
    load.begin(shared.epoch);
    let window = CpuWindow::start(common.server_pid);
    let server_cpu_start = common.server_pid.and_then(usage::process_cpu_time);
    let deadline = Instant::now() + config.phase_timeout;
    let batch = OpenBatch {
        count: config.clients,
        concurrency: common.connect_concurrency,
        deadline,
        request_for: &|_| request.to_vec(),
        source_for: &|i| Some(net::loopback_source(i)),
    };
    let opened = fleet.open_many(&batch, load)?;
    // An observer closed by the server will be told of nothing more: stop waiting for it.
    let told_all = |shared: &observer::Shared| {
        !config.expect_presence || shared.joined(phase as usize) >= opened.opened as u64 || shared.observer_gone()
    };
    let timed_out = settle(fleet, load, deadline, || told_all(shared))?;
    let server_cpu_end = common.server_pid.and_then(usage::process_cpu_time);
    let server_cpu_seconds = match (server_cpu_start, server_cpu_end) {
        (Some(start), Some(end)) => Some(end.saturating_sub(start).as_secs_f64()),
        _ => None,
    };
    Ok(PhaseOutcome {
        phase,
        opened: opened.opened,
        failed: opened.failed + config.clients.saturating_sub(opened.opened + opened.failed),
        connect_elapsed: opened.elapsed,
        joins: std::mem::take(&mut load.joins),
        frames: load.frames,
        bytes: load.bytes,
        unexpected_closes: load.unexpected_closes,
        slow_consumer_closes: load.slow_consumer_closes,
        cpu: window.finish(),
        server_cpu_seconds,
        timed_out,
    })
}

/// Reads on until the observer was told of every join and no storm client got a frame for
/// [`SETTLE_QUIET`], or until `deadline`; true when the deadline ended it.
fn settle(fleet: &mut Fleet, load: &mut StormLoad, deadline: Instant, told_all: impl Fn() -> bool) -> io::Result<bool> {
    let since = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(true);
        }
        let last = load.last_frame.map_or(since, |last| last.max(since));
        if told_all() && now.duration_since(last) >= SETTLE_QUIET {
            return Ok(false);
        }
        fleet.poll_once(Some(Duration::from_millis(20)), load)?;
    }
}

/// The phase's rows: rates, presence lag, the observer's echo, closes, presence cost, CPU.
fn add_phase(result: &mut ScenarioResult, outcome: &PhaseOutcome, seen: &PhaseRecord, config: &StormConfig) {
    let label = outcome.phase.label();
    let name = |what: &str| format!("{label} {what}");
    let metrics = &mut result.metrics;
    let rate = per_second(outcome.opened as u64, outcome.connect_elapsed);
    metrics.push(Metric::higher(&name("connects+upgrades/s"), rate, "conns/s"));
    let lag = presence::join_lag(&outcome.joins, &seen.told_joins);
    if let Some(complete) = lag.complete_after_last_join {
        metrics.push(Metric::lower(&name("presence lag"), complete.as_secs_f64() * 1000.0, "ms"));
    }
    if let Some(worst) = lag.worst {
        metrics.push(Metric::lower(&name("worst join lag"), worst.as_secs_f64() * 1000.0, "ms"));
    }
    let echo = seen.echo.summary();
    metrics.push(Metric::lower(&name("echo p50"), echo.p50_us, "us"));
    metrics.push(Metric::lower(&name("echo p99"), echo.p99_us, "us"));
    metrics.push(Metric::lower(&name("echo max"), echo.max_us, "us"));
    let closes = outcome.unexpected_closes as f64;
    metrics.push(Metric::lower(&name("unexpected closes"), closes, "closes"));
    metrics.push(Metric::lower(&name("slow-consumer closes"), outcome.slow_consumer_closes as f64, "closes"));
    metrics.push(Metric::lower(&name("frames received"), outcome.frames as f64, "frames"));
    metrics.push(Metric::lower(&name("bytes received"), outcome.bytes as f64, "B"));
    metrics.push(Metric::lower(&name("observer presence frames"), seen.presence_frames as f64, "frames"));
    if let Some(seconds) = outcome.server_cpu_seconds {
        metrics.push(Metric::lower(&name("server CPU"), seconds, "s"));
        let per_join = seconds * 1e6 / outcome.opened.max(1) as f64;
        metrics.push(Metric::lower(&name("server CPU per join"), per_join, "us"));
    }
    result.notes.push(phase_note(outcome, &lag, seen, config.clients));
    result.errors += outcome.unexpected_closes + outcome.failed as u64;
    if config.expect_presence && lag.complete_after_last_join.is_none() {
        result.errors += 1;
    }
}

fn phase_note(outcome: &PhaseOutcome, lag: &JoinLag, seen: &PhaseRecord, clients: usize) -> String {
    let ended = if outcome.timed_out { "ran into the phase timeout" } else { "settled" };
    format!(
        "{}: {} of {clients} opened in {:.2} s, observer told of {} joins and {} leaves in {} frames \
         ({} echo samples); {ended}",
        outcome.phase.label(),
        outcome.opened,
        outcome.connect_elapsed.as_secs_f64(),
        lag.told,
        seen.left,
        seen.presence_frames,
        seen.echo.summary().samples
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_the_storm_clients_receive_per_phase() {
        let mut load = StormLoad::default();
        let epoch = Instant::now();
        load.begin(epoch);
        let now = Instant::now();
        load.on_frame(3, Frame { opcode: wire::OPCODE_TEXT, compressed: false, payload: &[b'x'; 100] }, now);
        load.on_frame(4, Frame { opcode: wire::OPCODE_TEXT, compressed: false, payload: &[b'x'; 200] }, now);
        load.on_close_code(4, wire::CLOSE_POLICY);
        load.on_close(4, true, None);
        load.on_close_code(5, 1001);
        load.on_close(5, true, None);
        assert_eq!((load.frames, load.bytes), (2, 102 + 204));
        assert_eq!((load.unexpected_closes, load.slow_consumer_closes), (2, 1));
        assert_eq!(load.last_frame, Some(now));
        load.begin(epoch);
        assert_eq!((load.frames, load.bytes, load.unexpected_closes, load.slow_consumer_closes), (0, 0, 0, 0));
        assert!(load.first_error.as_deref().is_some_and(|error| error.starts_with("connection 4")));
    }
}
