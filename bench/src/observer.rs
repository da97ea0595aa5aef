//! The storm's observer: one connection in the big channel, joined before the storm and run on
//! a thread (and poll loop) of its own so that the storm clients' traffic does not delay its
//! reads. Per phase it records when it was told of each join (presence frames) and its `echo`
//! round trip, one echo in flight every [`ECHO_INTERVAL`]. It only watches: it must not join,
//! leave or publish anything that adds to the load.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::fleet::{Fleet, FleetHandler, OpenAware, OpenBatch};
use crate::histogram::Histogram;
use crate::presence;
use crate::scenario::echo::is_echo_reply;
use crate::wire::{self, Frame};

/// Time between one echo reply and the next echo.
pub const ECHO_INTERVAL: Duration = Duration::from_millis(10);

/// Phases the observer keeps apart (the storm, the reconnect wave).
pub const PHASES: usize = 2;

/// What the generator's loop and the observer's thread share.
pub struct Shared {
    /// The common epoch of join and notice times.
    pub epoch: Instant,
    phase: AtomicUsize,
    joined: [AtomicU64; PHASES],
    stop: AtomicBool,
    /// The observer's connection ended: it will be told of nothing more.
    gone: AtomicBool,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Shared {
            epoch: Instant::now(),
            phase: AtomicUsize::new(0),
            joined: Default::default(),
            stop: AtomicBool::new(false),
            gone: AtomicBool::new(false),
        })
    }

    /// From now on, notices and echoes count for `phase`.
    pub fn begin(&self, phase: usize) {
        self.phase.store(phase.min(PHASES - 1), Ordering::SeqCst);
    }

    /// The observer's connection ended (closed by the server or failed).
    pub fn observer_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// Joins the observer was told of in `phase` so far.
    pub fn joined(&self, phase: usize) -> u64 {
        self.joined[phase].load(Ordering::SeqCst)
    }
}

/// What the observer saw in one phase.
#[derive(Clone, Default)]
pub struct PhaseRecord {
    /// Since the epoch: one entry per join it was told of.
    pub told_joins: Vec<Duration>,
    pub left: u64,
    pub presence_frames: u64,
    pub echo: Histogram,
}

/// Everything the observer saw; `closed` says why its connection ended early, if it did.
pub struct Report {
    pub phases: Vec<PhaseRecord>,
    pub closed: Option<String>,
}

struct Watch {
    shared: Arc<Shared>,
    phases: Vec<PhaseRecord>,
    echo_sent: Option<Instant>,
    next_echo: Instant,
    echo_frame: Vec<u8>,
    closed: Option<String>,
}

impl Watch {
    fn phase(&self) -> usize {
        self.shared.phase.load(Ordering::SeqCst)
    }

    fn send_echo_if_due(&mut self, fleet: &mut Fleet, now: Instant) {
        if self.echo_sent.is_some() || now < self.next_echo || self.closed.is_some() {
            return;
        }
        let Some(Some(client)) = fleet.clients.get_mut(0) else { return };
        client.queue_raw(&self.echo_frame);
        match client.flush() {
            Ok(()) => self.echo_sent = Some(now),
            Err(err) => self.closed = Some(format!("observer write: {err}")),
        }
    }
}

impl FleetHandler for Watch {
    fn on_frame(&mut self, _conn: usize, frame: Frame<'_>, now: Instant) {
        let phase = self.phase();
        if is_echo_reply(frame.payload) {
            if let Some(sent) = self.echo_sent.take() {
                self.phases[phase].echo.record(now.duration_since(sent).as_nanos() as u64);
                self.next_echo = now + ECHO_INTERVAL;
            }
            return;
        }
        let Some(delta) = presence::presence_delta(frame.payload) else { return };
        let record = &mut self.phases[phase];
        let told_at = now.duration_since(self.shared.epoch);
        record.told_joins.extend(std::iter::repeat_n(told_at, delta.joined as usize));
        record.left += delta.left;
        record.presence_frames += 1;
        self.shared.joined[phase].fetch_add(delta.joined, Ordering::SeqCst);
    }

    fn on_close_code(&mut self, _conn: usize, code: u16) {
        self.closed.get_or_insert(format!("observer closed by the server with code {code}"));
    }

    fn on_close(&mut self, _conn: usize, _was_open: bool, error: Option<io::Error>) {
        let why = error.map_or("observer closed by the server".to_string(), |err| format!("observer: {err}"));
        self.closed.get_or_insert(why);
    }
}

struct Opening(Option<String>);

impl OpenAware for Opening {
    fn opened(&mut self, _conn: usize, _client: &mut Client) {}

    fn failed(&mut self, _conn: usize, error: Option<io::Error>) {
        self.0.get_or_insert(error.map_or("closed while opening".to_string(), |err| err.to_string()));
    }
}

/// A running observer; [`Observer::finish`] stops it and returns what it saw.
pub struct Observer {
    shared: Arc<Shared>,
    thread: JoinHandle<Report>,
}

impl Observer {
    /// Connects to `path` (and waits for the upgrade), then watches on a thread of its own.
    pub fn start(target: SocketAddr, path: &str, shared: Arc<Shared>) -> io::Result<Self> {
        let mut fleet = Fleet::new(target)?;
        let request = wire::upgrade_request(fleet.host_header(), path);
        let mut opening = Opening(None);
        let batch = OpenBatch {
            count: 1,
            concurrency: 1,
            deadline: Instant::now() + Duration::from_secs(10),
            request_for: &|_| request.clone(),
            source_for: &|_| None,
        };
        let report = fleet.open_many(&batch, &mut opening)?;
        if report.opened != 1 {
            let why = opening.0.unwrap_or_else(|| "timed out".into());
            return Err(io::Error::other(format!("the observer could not connect: {why}")));
        }
        let watch = Watch {
            shared: shared.clone(),
            phases: vec![PhaseRecord::default(); PHASES],
            echo_sent: None,
            next_echo: Instant::now(),
            echo_frame: echo_frame(),
            closed: None,
        };
        let thread =
            std::thread::Builder::new().name("observer".into()).spawn(move || watch_until_stopped(fleet, watch))?;
        Ok(Observer { shared, thread })
    }

    pub fn finish(self) -> Report {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_else(|_| Report {
            phases: vec![PhaseRecord::default(); PHASES],
            closed: Some("observer panicked".into()),
        })
    }
}

fn watch_until_stopped(mut fleet: Fleet, mut watch: Watch) -> Report {
    while !watch.shared.stop.load(Ordering::SeqCst) && watch.closed.is_none() {
        let now = Instant::now();
        watch.send_echo_if_due(&mut fleet, now);
        let wait = watch.next_echo.saturating_duration_since(now).clamp(Duration::from_millis(1), ECHO_INTERVAL);
        if let Err(err) = fleet.poll_once(Some(wait), &mut watch) {
            watch.closed.get_or_insert(format!("observer poll: {err}"));
            break;
        }
    }
    watch.shared.gone.store(true, Ordering::SeqCst);
    Report { phases: watch.phases, closed: watch.closed }
}

fn echo_frame() -> Vec<u8> {
    let mut frame = Vec::new();
    wire::encode_client_frame(&mut frame, wire::OPCODE_TEXT, br#"{"cmd":"echo","param":"observer"}"#, [9, 8, 7, 6]);
    frame
}
