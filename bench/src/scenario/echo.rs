//! The `echo` scenario: N connections, each keeping W `echo` commands in flight (closed loop),
//! measuring replies per second and round-trip latency. Replies are matched to send times by
//! order (the server answers a connection in order), so no reply is parsed. With `--deflate`
//! compressed replies (RSV1) are inflated first and checked the same way.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use super::{path_for, per_second, Common};
use crate::client::Client;
use crate::fleet::{Fleet, FleetHandler, OpenAware, OpenBatch};
use crate::histogram::Histogram;
use crate::inflated::{self, Inflated};
use crate::report::{Metric, ScenarioResult};
use crate::usage::CpuWindow;
use crate::wire::{self, Frame};

#[derive(Debug, Clone)]
pub struct EchoConfig {
    pub conns: usize,
    pub in_flight: usize,
    pub payload_bytes: usize,
    /// Route template; `{i}` is the connection index (its own channel avoids join chatter).
    pub path: String,
    /// Fill the payload with everyday words instead of `x`.
    pub words: bool,
}

/// The `echo` command with a `payload_bytes` string parameter, as masked frame bytes.
fn echo_frame(payload_bytes: usize, words: bool) -> Vec<u8> {
    let mut text = br#"{"cmd":"echo","param":""#.to_vec();
    text.extend_from_slice(&crate::filler::text(payload_bytes, b'x', words));
    text.extend_from_slice(br#""}"#);
    let mut frame = Vec::new();
    wire::encode_client_frame(&mut frame, wire::OPCODE_TEXT, &text, [0x5a, 0x17, 0xc3, 0x9e]);
    frame
}

pub(crate) fn is_echo_reply(payload: &[u8]) -> bool {
    payload.starts_with(br#"{"cmd":"echo""#) || memchr::memmem::find(payload, br#""cmd":"echo""#).is_some()
}

struct EchoLoad {
    frame: Vec<u8>,
    in_flight: usize,
    sent_at: Vec<VecDeque<Instant>>,
    to_send: Vec<u32>,
    sending: bool,
    recording: bool,
    replies: u64,
    histogram: Histogram,
    errors: u64,
    first_error: Option<String>,
    inflated: Inflated,
    /// Replies that arrived compressed.
    compressed_replies: u64,
}

impl EchoLoad {
    fn send(&mut self, conn: usize, client: &mut Client, count: usize, now: Instant) {
        for _ in 0..count {
            client.queue_raw(&self.frame);
            self.sent_at[conn].push_back(now);
        }
        if let Err(err) = client.flush() {
            self.note_error(format!("write: {err}"));
        }
    }

    fn note_error(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }
}

impl FleetHandler for EchoLoad {
    #[inline]
    fn on_frame(&mut self, conn: usize, frame: Frame<'_>, now: Instant) {
        if frame.opcode != wire::OPCODE_TEXT {
            return;
        }
        if frame.compressed {
            self.compressed_replies += 1;
            match self.inflated.plain(frame.payload) {
                Some(plain) if is_echo_reply(&plain) => {}
                Some(_) => return,
                None => return self.note_error("a compressed reply that does not inflate".into()),
            }
        } else if !is_echo_reply(frame.payload) {
            return;
        }
        let Some(sent) = self.sent_at[conn].pop_front() else {
            self.note_error("a reply nobody asked for".into());
            return;
        };
        if self.recording {
            self.replies += 1;
            self.histogram.record(now.duration_since(sent).as_nanos() as u64);
        }
        if self.sending {
            self.to_send[conn] += 1;
        }
    }

    fn after_read(&mut self, conn: usize, client: &mut Client, now: Instant) {
        let count = std::mem::take(&mut self.to_send[conn]) as usize;
        if count > 0 {
            self.send(conn, client, count, now);
        }
    }

    fn on_close(&mut self, conn: usize, _was_open: bool, error: Option<io::Error>) {
        let why = error.map_or("closed by the server".to_string(), |err| err.to_string());
        self.note_error(format!("connection {conn}: {why}"));
    }
}

impl OpenAware for EchoLoad {
    fn opened(&mut self, _conn: usize, _client: &mut Client) {}

    fn failed(&mut self, conn: usize, error: Option<io::Error>) {
        self.on_close(conn, false, error);
    }
}

pub fn run(common: &Common, config: &EchoConfig) -> io::Result<ScenarioResult> {
    let mut fleet = Fleet::new(common.target)?;
    let mut load = EchoLoad {
        frame: echo_frame(config.payload_bytes, config.words),
        in_flight: config.in_flight,
        sent_at: (0..config.conns).map(|_| VecDeque::with_capacity(config.in_flight * 2)).collect(),
        to_send: vec![0; config.conns],
        sending: true,
        recording: false,
        replies: 0,
        histogram: Histogram::default(),
        errors: 0,
        first_error: None,
        inflated: Inflated::default(),
        compressed_replies: 0,
    };
    let host = fleet.host_header().to_string();
    let offer = common.deflate.then_some(inflated::OFFER);
    let request_for = |i| wire::upgrade_request_offering(&host, &path_for(&config.path, i), offer);
    let deadline = Instant::now() + Duration::from_secs(30);
    let opened = fleet.open_many(
        &OpenBatch {
            count: config.conns,
            concurrency: common.connect_concurrency,
            deadline,
            request_for: &request_for,
            source_for: &|_| None,
        },
        &mut load,
    )?;
    if opened.opened < config.conns {
        return Err(io::Error::other(format!(
            "opened only {} of {} connections ({:?})",
            opened.opened, config.conns, load.first_error
        )));
    }
    let now = Instant::now();
    for conn in 0..config.conns {
        if let Some(Some(client)) = fleet.clients.get_mut(conn) {
            load.send(conn, client, load.in_flight, now);
        }
    }
    let (elapsed, cpu) = measure(&mut fleet, &mut load, common)?;
    let mut result = ScenarioResult::new(
        "echo",
        format!("{} conns, {} in flight, {} B", config.conns, config.in_flight, config.payload_bytes),
    );
    result.metrics.push(Metric::higher("echo msgs/s", per_second(load.replies, elapsed), "msgs/s"));
    result.latency = Some(load.histogram.summary());
    result.cpu = cpu;
    result.errors = load.errors;
    if common.deflate {
        result.notes.push(format!(
            "permessage-deflate: {} replies compressed, {} inflated, {} compressed payload bytes",
            load.compressed_replies, load.inflated.inflations, load.inflated.compressed_bytes
        ));
    }
    result.notes.extend(load.first_error.take());
    result.note_bottleneck();
    Ok(result)
}

/// Warms up, then records for the measuring time; returns that time and the CPU shares.
fn measure(fleet: &mut Fleet, load: &mut EchoLoad, common: &Common) -> io::Result<(Duration, crate::usage::CpuShares)> {
    let warm_until = Instant::now() + common.warmup;
    while Instant::now() < warm_until {
        fleet.poll_once(Some(Duration::from_millis(10)), load)?;
    }
    load.recording = true;
    let window = CpuWindow::start(common.server_pid);
    let started = Instant::now();
    let until = started + common.duration;
    while Instant::now() < until {
        fleet.poll_once(Some(Duration::from_millis(10)), load)?;
    }
    let elapsed = started.elapsed();
    let cpu = window.finish();
    load.recording = false;
    load.sending = false;
    Ok((elapsed, cpu))
}
