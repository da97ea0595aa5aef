//! The `churn` scenario: C concurrent loops of connect, upgrade, send one `chat`, wait for it
//! to come back, close (close handshake), and start again; reports cycles per second and the
//! time one cycle takes.

use std::io;
use std::time::{Duration, Instant};

use super::{per_second, Common};
use crate::client::Client;
use crate::fleet::{Fleet, FleetHandler};
use crate::histogram::Histogram;
use crate::net;
use crate::report::{Metric, ScenarioResult};
use crate::usage::CpuWindow;
use crate::wire::{self, Frame};

#[derive(Debug, Clone)]
pub struct ChurnConfig {
    pub concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Upgrading,
    AwaitingChat,
    ChatSeen,
    Closing,
}

struct Slot {
    stage: Stage,
    started: Instant,
}

struct ChurnLoad {
    slots: Vec<Slot>,
    to_reconnect: Vec<usize>,
    recording: bool,
    cycles: u64,
    histogram: Histogram,
    errors: u64,
    first_error: Option<String>,
    chat_frame: Vec<u8>,
    close_frame: Vec<u8>,
}

impl FleetHandler for ChurnLoad {
    fn on_frame(&mut self, conn: usize, frame: Frame<'_>, _now: Instant) {
        let slot = &mut self.slots[conn];
        let is_chat = memchr::memmem::find(frame.payload, br#""cmd":"chat""#).is_some();
        if slot.stage == Stage::AwaitingChat && is_chat {
            slot.stage = Stage::ChatSeen;
        }
    }

    fn on_open(&mut self, conn: usize, client: &mut Client, _now: Instant) {
        self.slots[conn].stage = Stage::AwaitingChat;
        client.queue_raw(&self.chat_frame);
        if let Err(err) = client.flush() {
            self.first_error.get_or_insert(format!("write: {err}"));
        }
    }

    fn after_read(&mut self, conn: usize, client: &mut Client, _now: Instant) {
        if self.slots[conn].stage == Stage::ChatSeen {
            self.slots[conn].stage = Stage::Closing;
            client.queue_raw(&self.close_frame);
            if let Err(err) = client.flush() {
                self.first_error.get_or_insert(format!("write: {err}"));
            }
        }
    }

    fn on_close(&mut self, conn: usize, _was_open: bool, error: Option<io::Error>) {
        let slot = &self.slots[conn];
        let completed = slot.stage == Stage::Closing;
        if completed && self.recording {
            self.cycles += 1;
            self.histogram.record(slot.started.elapsed().as_nanos() as u64);
        } else if !completed {
            self.errors += 1;
            let why = error.map_or(format!("closed while {:?}", slot.stage), |err| err.to_string());
            self.first_error.get_or_insert(why);
        }
        self.to_reconnect.push(conn);
    }
}

fn frames() -> (Vec<u8>, Vec<u8>) {
    let mut chat = Vec::new();
    wire::encode_client_frame(
        &mut chat,
        wire::OPCODE_TEXT,
        br#"{"cmd":"chat","param":{"text":"churn"}}"#,
        [1, 2, 3, 4],
    );
    let mut close = Vec::new();
    wire::encode_client_frame(&mut close, wire::OPCODE_CLOSE, &1000u16.to_be_bytes(), [5, 6, 7, 8]);
    (chat, close)
}

pub fn run(common: &Common, config: &ChurnConfig) -> io::Result<ScenarioResult> {
    let mut fleet = Fleet::new(common.target)?;
    let (chat_frame, close_frame) = frames();
    let now = Instant::now();
    let mut load = ChurnLoad {
        slots: (0..config.concurrency).map(|_| Slot { stage: Stage::Upgrading, started: now }).collect(),
        to_reconnect: (0..config.concurrency).collect(),
        recording: false,
        cycles: 0,
        histogram: Histogram::default(),
        errors: 0,
        first_error: None,
        chat_frame,
        close_frame,
    };
    let mut connects = 0u64;
    run_for(&mut fleet, &mut load, &mut connects, common.warmup)?;
    load.recording = true;
    let window = CpuWindow::start(common.server_pid);
    let started = Instant::now();
    run_for(&mut fleet, &mut load, &mut connects, common.duration)?;
    let elapsed = started.elapsed();
    let mut result =
        ScenarioResult::new("churn", format!("{} concurrent connect/chat/close loops", config.concurrency));
    result.cpu = window.finish();
    result.metrics.push(Metric::higher("cycles/s", per_second(load.cycles, elapsed), "cycles/s"));
    result.latency = Some(load.histogram.summary());
    result.errors = load.errors;
    result.notes.extend(load.first_error.take());
    result.note_bottleneck();
    Ok(result)
}

fn run_for(fleet: &mut Fleet, load: &mut ChurnLoad, connects: &mut u64, period: Duration) -> io::Result<()> {
    let until = Instant::now() + period;
    let host = fleet.host_header().to_string();
    while Instant::now() < until {
        for slot in std::mem::take(&mut load.to_reconnect) {
            let request = wire::upgrade_request(&host, &format!("/example/socket?ch=churn-{slot}"));
            load.slots[slot] = Slot { stage: Stage::Upgrading, started: Instant::now() };
            *connects += 1;
            if let Err(err) = fleet.connect(slot, Some(net::rotating_source(*connects)), &request) {
                load.errors += 1;
                load.first_error.get_or_insert(format!("connect: {err}"));
                load.to_reconnect.push(slot);
            }
        }
        fleet.poll_once(Some(Duration::from_millis(10)), load)?;
    }
    Ok(())
}
