//! The generator's single-threaded event loop: a `mio::Poll` over a slab of [`Client`]s,
//! opening connections with bounded concurrency and dispatching their events to the running
//! scenario through [`FleetHandler`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::client::Client;
use crate::wire::Frame;

/// Scratch buffer shared by every read; frames are scanned in place here.
const SCRATCH_BYTES: usize = 256 * 1024;

/// What a scenario does with the connections' events.
pub trait FleetHandler {
    /// A data frame arrived on connection `conn` at `now`.
    fn on_frame(&mut self, conn: usize, frame: Frame<'_>, now: Instant);
    /// Called after each readable event, with the connection, to queue replies.
    fn after_read(&mut self, _conn: usize, _client: &mut Client, _now: Instant) {}
    /// The upgrade of `conn` completed.
    fn on_open(&mut self, _conn: usize, _client: &mut Client, _now: Instant) {}
    /// `conn` closed or failed (after its upgrade when `was_open`); the fleet dropped it.
    fn on_close(&mut self, _conn: usize, _was_open: bool, _error: Option<io::Error>) {}
    /// The server sent `conn` a close frame with this code (called just before `on_close`).
    fn on_close_code(&mut self, _conn: usize, _code: u16) {}
}

pub struct Fleet {
    poll: Poll,
    events: Events,
    scratch: Vec<u8>,
    ready: Vec<(usize, bool, bool)>,
    pub clients: Vec<Option<Client>>,
    pub target: SocketAddr,
    host_header: String,
}

/// A batch of connections to open: how many, how many upgrading at once, until when, and
/// each one's upgrade request and source address.
pub struct OpenBatch<'a> {
    pub count: usize,
    pub concurrency: usize,
    pub deadline: Instant,
    pub request_for: &'a dyn Fn(usize) -> Vec<u8>,
    pub source_for: &'a dyn Fn(usize) -> Option<IpAddr>,
}

/// How opening a batch of connections went.
#[derive(Debug, Clone, Copy)]
pub struct OpenReport {
    pub opened: usize,
    pub failed: usize,
    pub elapsed: Duration,
}

impl Fleet {
    pub fn new(target: SocketAddr) -> io::Result<Self> {
        Ok(Fleet {
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            scratch: vec![0; SCRATCH_BYTES],
            ready: Vec::with_capacity(4096),
            clients: Vec::new(),
            target,
            host_header: target.to_string(),
        })
    }

    pub fn host_header(&self) -> &str {
        &self.host_header
    }

    /// Starts connecting slot `conn` (replacing whatever was there).
    pub fn connect(&mut self, conn: usize, source: Option<IpAddr>, request: &[u8]) -> io::Result<()> {
        self.drop_client(conn);
        if self.clients.len() <= conn {
            self.clients.resize_with(conn + 1, || None);
        }
        let mut client = Client::connect(self.target, source, request, conn as u32 + 1)?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll.registry().register(&mut client.stream, Token(conn), interest)?;
        self.clients[conn] = Some(client);
        Ok(())
    }

    /// Closes and forgets slot `conn`.
    pub fn drop_client(&mut self, conn: usize) {
        if let Some(mut client) = self.clients.get_mut(conn).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut client.stream);
        }
    }

    pub fn open_count(&self) -> usize {
        self.clients.iter().flatten().filter(|client| client.is_open()).count()
    }

    /// Opens `batch.count` connections (slots `0..count`), at most `batch.concurrency`
    /// upgrading at once, until all are open or the batch's deadline.
    pub fn open_many(&mut self, batch: &OpenBatch<'_>, handler: &mut dyn OpenAware) -> io::Result<OpenReport> {
        let started = Instant::now();
        let mut tracker = OpenTracker { handler, pending: 0, opened: 0, failed: 0, end: batch.count };
        let mut next = 0;
        while tracker.opened + tracker.failed < batch.count && Instant::now() < batch.deadline {
            while next < batch.count && tracker.pending < batch.concurrency {
                match self.connect(next, (batch.source_for)(next), &(batch.request_for)(next)) {
                    Ok(()) => tracker.pending += 1,
                    Err(err) => tracker.note_failure(next, err),
                }
                next += 1;
            }
            self.poll_once(Some(Duration::from_millis(50)), &mut tracker)?;
        }
        Ok(OpenReport { opened: tracker.opened, failed: tracker.failed, elapsed: started.elapsed() })
    }

    /// Waits for events up to `timeout` and dispatches them.
    pub fn poll_once(&mut self, timeout: Option<Duration>, handler: &mut impl FleetHandler) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(err) => return Err(err),
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|event| {
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            (event.token().0, readable, event.is_writable())
        }));
        for &(conn, readable, writable) in &ready {
            self.dispatch(conn, readable, writable, handler);
        }
        self.ready = ready;
        Ok(())
    }

    fn dispatch(&mut self, conn: usize, readable: bool, writable: bool, handler: &mut impl FleetHandler) {
        let Some(Some(client)) = self.clients.get_mut(conn) else {
            return;
        };
        let result = drive_client(client, conn, readable, writable, &mut self.scratch, handler);
        let was_open = client.was_upgraded();
        match result {
            Ok(true) => {}
            Ok(false) => {
                self.drop_client(conn);
                handler.on_close(conn, was_open, None);
            }
            Err(err) => {
                self.drop_client(conn);
                handler.on_close(conn, was_open, Some(err));
            }
        }
    }
}

/// Runs one event for one client; `Ok(false)` when it closed.
fn drive_client(
    client: &mut Client,
    conn: usize,
    readable: bool,
    writable: bool,
    scratch: &mut Vec<u8>,
    handler: &mut impl FleetHandler,
) -> io::Result<bool> {
    if writable {
        client.on_writable()?;
    }
    if !readable {
        return Ok(true);
    }
    let now = Instant::now();
    let outcome = client.on_readable(scratch, &mut |frame| handler.on_frame(conn, frame, now))?;
    if outcome.opened {
        handler.on_open(conn, client, now);
    }
    if outcome.closed {
        if let Some(code) = outcome.close_code {
            handler.on_close_code(conn, code);
        }
        return Ok(false);
    }
    handler.after_read(conn, client, now);
    Ok(true)
}

/// A handler that can be told about connections while a batch is being opened.
pub trait OpenAware {
    fn opened(&mut self, conn: usize, client: &mut Client);
    fn frame_while_opening(&mut self, _conn: usize, _frame: Frame<'_>, _now: Instant) {}
    fn failed(&mut self, conn: usize, error: Option<io::Error>);
    /// The server sent `conn` a close frame with this code (called just before `failed`).
    fn close_code(&mut self, _conn: usize, _code: u16) {}
}

struct OpenTracker<'a> {
    handler: &'a mut dyn OpenAware,
    pending: usize,
    opened: usize,
    failed: usize,
    end: usize,
}

impl OpenTracker<'_> {
    fn in_batch(&self, conn: usize) -> bool {
        conn < self.end
    }

    fn note_failure(&mut self, conn: usize, error: io::Error) {
        self.failed += 1;
        self.handler.failed(conn, Some(error));
    }
}

impl FleetHandler for OpenTracker<'_> {
    fn on_frame(&mut self, conn: usize, frame: Frame<'_>, now: Instant) {
        self.handler.frame_while_opening(conn, frame, now);
    }

    fn on_open(&mut self, conn: usize, client: &mut Client, _now: Instant) {
        if self.in_batch(conn) {
            self.pending -= 1;
            self.opened += 1;
        }
        self.handler.opened(conn, client);
    }

    fn on_close(&mut self, conn: usize, was_open: bool, error: Option<io::Error>) {
        if self.in_batch(conn) && !was_open {
            self.pending = self.pending.saturating_sub(1);
            self.failed += 1;
        }
        self.handler.failed(conn, error);
    }

    fn on_close_code(&mut self, conn: usize, code: u16) {
        self.handler.close_code(conn, code);
    }
}
