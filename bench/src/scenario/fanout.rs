//! The `fanout` scenario: S subscribers and P publishers in one channel; publishers send
//! `chat` messages stamped with publisher, sequence and send time, at the maximum rate a
//! window of messages in flight allows or at a fixed rate. Every delivery is checked to arrive
//! exactly once and in order per publisher; delivery latency comes from sampled stamps.

use std::io;
use std::time::{Duration, Instant};

use super::{per_second, Common};
use crate::chat_text::{self, Stamp, STAMP_BYTES};
use crate::client::Client;
use crate::fleet::{Fleet, FleetHandler, OpenAware, OpenBatch};
use crate::histogram::Histogram;
use crate::inflated::{self, Inflated};
use crate::order_check::{OrderCheck, Verdict};
use crate::report::{Metric, ScenarioResult};
use crate::usage::{CpuShares, CpuWindow};
use crate::wire::{self, Frame};

#[derive(Debug, Clone)]
pub struct FanoutConfig {
    pub subscribers: usize,
    pub publishers: usize,
    pub payload_bytes: usize,
    /// Messages per second over all publishers; `None` for the maximum.
    pub rate: Option<f64>,
    /// Messages published but not yet delivered to every subscriber, at most.
    pub window: usize,
    pub channel: String,
    /// Latency is sampled on every n-th subscriber.
    pub latency_sample_every: usize,
    /// Fill the text with everyday words instead of dots.
    pub words: bool,
}

/// Delivery accounting for the subscribers.
#[derive(Default)]
struct Deliveries {
    order: OrderCheck,
    /// Where `"text":"` was in each subscriber's last delivery.
    text_offset: Vec<u16>,
    /// Deliveries accepted (in order, first time) since publishing began.
    total: u64,
    in_window: u64,
    malformed: u64,
}

struct FanoutLoad {
    subscribers: usize,
    publishers: usize,
    deliveries: Deliveries,
    published: Vec<u64>,
    publishing: bool,
    recording: bool,
    histogram: Histogram,
    sample_every: usize,
    epoch: Instant,
    last_frame: Instant,
    other_frames: u64,
    lost_subscribers: usize,
    first_error: Option<String>,
    payload: Vec<u8>,
    text: Vec<u8>,
    inflated: Inflated,
    /// Deliveries that arrived compressed.
    compressed_deliveries: u64,
}

impl FanoutLoad {
    fn new(config: &FanoutConfig) -> Self {
        let now = Instant::now();
        FanoutLoad {
            subscribers: config.subscribers,
            publishers: config.publishers,
            deliveries: Deliveries {
                order: OrderCheck::new(config.subscribers, config.publishers),
                text_offset: vec![0; config.subscribers],
                ..Deliveries::default()
            },
            published: vec![0; config.publishers],
            publishing: false,
            recording: false,
            histogram: Histogram::default(),
            sample_every: config.latency_sample_every.max(1),
            epoch: now,
            last_frame: now,
            other_frames: 0,
            lost_subscribers: 0,
            first_error: None,
            payload: Vec::with_capacity(config.payload_bytes + 64),
            text: crate::filler::text(config.payload_bytes.max(STAMP_BYTES), b'.', config.words),
            inflated: Inflated::default(),
            compressed_deliveries: 0,
        }
    }

    fn published_total(&self) -> u64 {
        self.published.iter().sum()
    }

    /// Whole messages not yet delivered to every subscriber (rounded up).
    fn in_flight(&self) -> u64 {
        let delivered_everywhere = self.deliveries.total / self.subscribers as u64;
        self.published_total().saturating_sub(delivered_everywhere)
    }

    fn record_delivery(&mut self, conn: usize, payload: &[u8], now: Instant) {
        let offset = &mut self.deliveries.text_offset[conn];
        let Some(at) = chat_text::locate_text(payload, offset) else {
            self.other_frames += 1;
            return;
        };
        let text = &payload[at..];
        let Some((publisher, seq)) = chat_text::read_stamp_head(text) else {
            self.deliveries.malformed += 1;
            return;
        };
        match self.deliveries.order.observe(conn, publisher as usize, seq) {
            Verdict::InOrder | Verdict::Gap => {}
            Verdict::Duplicate => return,
            Verdict::Unknown => {
                self.deliveries.malformed += 1;
                return;
            }
        }
        self.deliveries.total += 1;
        if self.recording {
            self.deliveries.in_window += 1;
            if conn.is_multiple_of(self.sample_every) {
                self.sample_latency(text, now);
            }
        }
    }

    fn sample_latency(&mut self, text: &[u8], now: Instant) {
        if let Some(sent) = chat_text::read_stamp_time(text) {
            let now_nanos = now.duration_since(self.epoch).as_nanos() as u64;
            self.histogram.record(now_nanos.saturating_sub(sent));
        }
    }

    /// Sends `count` messages, round-robin over the publishers.
    fn publish(&mut self, fleet: &mut Fleet, count: u64) {
        let sent_nanos = Instant::now().duration_since(self.epoch).as_nanos() as u64;
        for _ in 0..count {
            let publisher = (self.published_total() % self.publishers as u64) as usize;
            let stamp = Stamp { publisher: publisher as u16, seq: self.published[publisher], sent_nanos };
            chat_text::write_stamp(&mut self.text, stamp);
            self.payload.clear();
            self.payload.extend_from_slice(br#"{"cmd":"chat","param":{"text":""#);
            self.payload.extend_from_slice(&self.text);
            self.payload.extend_from_slice(br#""}}"#);
            if let Some(Some(client)) = fleet.clients.get_mut(self.subscribers + publisher) {
                client.queue_frame(wire::OPCODE_TEXT, &self.payload);
            }
            self.published[publisher] += 1;
        }
        for publisher in 0..self.publishers {
            if let Some(Some(client)) = fleet.clients.get_mut(self.subscribers + publisher) {
                if let Err(err) = client.flush() {
                    self.first_error.get_or_insert(format!("publisher write: {err}"));
                }
            }
        }
    }

    /// Deliveries missing at the end: published but never seen by a live subscriber.
    fn missing(&self, fleet: &Fleet) -> u64 {
        let mut missing = 0;
        for subscriber in 0..self.subscribers {
            if !matches!(fleet.clients.get(subscriber), Some(Some(_))) {
                continue;
            }
            missing += self.deliveries.order.missing_for(subscriber, &self.published);
        }
        missing
    }
}

impl FleetHandler for FanoutLoad {
    #[inline]
    fn on_frame(&mut self, conn: usize, frame: Frame<'_>, now: Instant) {
        self.last_frame = now;
        if self.publishing && conn < self.subscribers && frame.opcode == wire::OPCODE_TEXT && frame.compressed {
            self.compressed_deliveries += 1;
            match self.inflated.plain(frame.payload) {
                Some(plain) => self.record_delivery(conn, &plain, now),
                None => self.deliveries.malformed += 1,
            }
        } else if self.publishing && conn < self.subscribers && frame.opcode == wire::OPCODE_TEXT {
            self.record_delivery(conn, frame.payload, now);
        } else {
            self.other_frames += 1;
        }
    }

    fn on_close(&mut self, conn: usize, _was_open: bool, error: Option<io::Error>) {
        self.lost_subscribers += 1;
        let why = error.map_or("closed by the server".to_string(), |err| err.to_string());
        self.first_error.get_or_insert(format!("connection {conn}: {why}"));
    }
}

impl OpenAware for FanoutLoad {
    fn opened(&mut self, _conn: usize, _client: &mut Client) {}

    fn frame_while_opening(&mut self, _conn: usize, _frame: Frame<'_>, now: Instant) {
        self.last_frame = now;
        self.other_frames += 1;
    }

    fn failed(&mut self, conn: usize, error: Option<io::Error>) {
        self.on_close(conn, false, error);
    }
}

pub fn run(common: &Common, config: &FanoutConfig) -> io::Result<ScenarioResult> {
    let mut fleet = Fleet::new(common.target)?;
    let mut load = FanoutLoad::new(config);
    let joining = join_everyone(&mut fleet, &mut load, common, config)?;
    let announcements = load.other_frames;
    load.publishing = true;
    load.epoch = Instant::now();
    publish_for(&mut fleet, &mut load, config, common.warmup)?;
    load.recording = true;
    let window = CpuWindow::start(common.server_pid);
    let started = Instant::now();
    publish_for(&mut fleet, &mut load, config, common.duration)?;
    let elapsed = started.elapsed();
    let cpu = window.finish();
    load.recording = false;
    drain(&mut fleet, &mut load)?;
    let mut result = summarize(&fleet, &mut load, config, common.deflate, elapsed, cpu);
    result.notes.push(format!("joining took {:.1} s ({announcements} join announcements read)", joining.as_secs_f64()));
    Ok(result)
}

/// Opens the subscribers, then the publishers, and waits for the join announcements to stop.
/// Returns how long joining took (until the announcements stopped).
fn join_everyone(
    fleet: &mut Fleet,
    load: &mut FanoutLoad,
    common: &Common,
    config: &FanoutConfig,
) -> io::Result<Duration> {
    let started = Instant::now();
    let host = fleet.host_header().to_string();
    let path = format!("/example/socket?ch={}", config.channel);
    let offer = common.deflate.then_some(inflated::OFFER);
    let request_for = |_| wire::upgrade_request_offering(&host, &path, offer);
    let total = config.subscribers + config.publishers;
    let deadline = Instant::now() + Duration::from_secs(60);
    let opened = fleet.open_many(
        &OpenBatch {
            count: total,
            concurrency: common.connect_concurrency,
            deadline,
            request_for: &request_for,
            source_for: &|i| Some(crate::net::loopback_source(i)),
        },
        load,
    )?;
    if opened.opened < total {
        return Err(io::Error::other(format!(
            "opened only {} of {total} connections ({:?})",
            opened.opened, load.first_error
        )));
    }
    let quiet_for = Duration::from_millis(300);
    while load.last_frame.elapsed() < quiet_for && Instant::now() < deadline {
        fleet.poll_once(Some(Duration::from_millis(50)), load)?;
    }
    if load.lost_subscribers > 0 {
        return Err(io::Error::other(format!(
            "{} connections lost while joining ({})",
            load.lost_subscribers,
            load.first_error.as_deref().unwrap_or("")
        )));
    }
    Ok(started.elapsed().saturating_sub(quiet_for))
}

/// Publishes (at the configured rate or the window's maximum) for `period`.
fn publish_for(fleet: &mut Fleet, load: &mut FanoutLoad, config: &FanoutConfig, period: Duration) -> io::Result<()> {
    let started = Instant::now();
    let published_before = load.published_total();
    let window = config.window as u64;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= period || load.lost_subscribers > 0 {
            return Ok(());
        }
        let room = window.saturating_sub(load.in_flight());
        let due = match config.rate {
            None => room,
            Some(rate) => {
                let target = (rate * elapsed.as_secs_f64()) as u64 + 1;
                target.saturating_sub(load.published_total() - published_before).min(room)
            }
        };
        if due > 0 {
            load.publish(fleet, due);
        }
        let timeout = if config.rate.is_some() { Duration::from_millis(1) } else { Duration::from_millis(10) };
        fleet.poll_once(Some(timeout), load)?;
    }
}

/// Reads until every published message reached every live subscriber, or two seconds pass.
fn drain(fleet: &mut Fleet, load: &mut FanoutLoad) -> io::Result<()> {
    let until = Instant::now() + Duration::from_secs(2);
    let live = fleet.clients.iter().take(load.subscribers).flatten().count() as u64;
    let expected = load.published_total() * live;
    while load.deliveries.total < expected && Instant::now() < until {
        fleet.poll_once(Some(Duration::from_millis(10)), load)?;
    }
    Ok(())
}

fn summarize(
    fleet: &Fleet,
    load: &mut FanoutLoad,
    config: &FanoutConfig,
    deflate: bool,
    elapsed: Duration,
    cpu: CpuShares,
) -> ScenarioResult {
    let rate = match config.rate {
        None => "max rate".to_string(),
        Some(rate) => format!("{rate:.0} msgs/s"),
    };
    let mut result = ScenarioResult::new(
        "fanout",
        format!(
            "{} publisher(s) -> {} subscribers, {} B, {rate}",
            config.publishers, config.subscribers, config.payload_bytes
        ),
    );
    let deliveries_per_second = per_second(load.deliveries.in_window, elapsed);
    result.metrics.push(Metric::higher("deliveries/s", deliveries_per_second, "deliveries/s"));
    result.metrics.push(Metric::higher("messages/s", deliveries_per_second / config.subscribers as f64, "msgs/s"));
    result.latency = Some(load.histogram.summary());
    result.cpu = cpu;
    let missing = load.missing(fleet);
    let deliveries = &load.deliveries;
    result.errors = deliveries.order.duplicates
        + deliveries.order.gaps
        + deliveries.malformed
        + missing
        + load.lost_subscribers as u64;
    result.notes.push(format!(
        "exactly-once, in order: {} delivered of {} published x {} subscribers; {} duplicate, {} gaps, {} missing, {} malformed, {} subscribers lost",
        deliveries.total, load.published_total(), config.subscribers, deliveries.order.duplicates, deliveries.order.gaps, missing, deliveries.malformed, load.lost_subscribers
    ));
    if deflate {
        result.notes.push(format!(
            "permessage-deflate: {} deliveries compressed, {} messages inflated, {} compressed payload bytes",
            load.compressed_deliveries, load.inflated.inflations, load.inflated.compressed_bytes
        ));
    }
    result.notes.extend(load.first_error.take());
    result.note_bottleneck();
    result
}
