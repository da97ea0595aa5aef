//! One worker: a thread with its own `mio::Poll`, its own `SO_REUSEPORT` listener, its
//! inbox, and the loop that turns readiness into calls on its `WorkerCore`.
//!
//! The loop, per turn: read every readable socket into the worker's one scratch
//! buffer (connections hold no read buffer of their own), apply inbox commands, accept new
//! connections, then flush the connections that have something queued with one vectored
//! write each (every reply, then fan-out within a budget per turn: `core/flushlist.rs`),
//! close the sockets of ended connections, and run the timer sweep when due. Accepts and
//! closes are bounded per turn, like fan-out, so a storm of connects or disconnects never
//! makes one turn (and every reply in it) wait for all of it. It never blocks except in
//! `poll`. This file does all of a worker's socket I/O (reads, writes, re-registration);
//! what to write and when is the core's decision (`core/output.rs`). On a TLS server the
//! same reads and writes go through `tls/transport.rs`, which the loop calls instead of the
//! socket.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Registry, Token};

use super::conn::{Conn, Slot};
use super::core::{AfterWrite, List, WorkerCore, FANOUT_TURN_BUDGET, FANOUT_WRITES_PER_CHECK};
use super::routes::Routes;
use super::tls::TlsTransport;
use crate::service::bus::{Command, InboxReceiver};
use crate::service::Service;

pub const LISTENER: Token = Token(usize::MAX - 1);
pub const WAKER: Token = Token(usize::MAX - 2);

/// Most readiness events handled per loop turn: a turn's reads (a storm of handshakes or of
/// disconnects costs ~10 µs each) stay short enough for every reply to go out within a few
/// milliseconds; events not taken wait in the kernel's ready list for the next turn.
const EVENTS_PER_TURN: usize = 256;

/// Connections accepted per loop turn; the rest wait in the listen backlog for the next
/// turns (the loop polls without sleeping until the listener has none left). Accepting
/// everything a storm has queued (hundreds) made one turn, and every reply in it, wait for
/// all of their handshakes.
const ACCEPTS_PER_TURN: usize = 64;

/// Sockets of ended connections closed per loop turn, oldest first (the rest wait for the
/// next turns, and the loop polls without sleeping while any wait). A close costs the kernel
/// ~15 µs: 3,000 clients dropping at once, closed in one turn, held every other client's
/// reply for 40 ms; 64 per turn hold it for about 1 ms.
const REAPS_PER_TURN: usize = 64;

/// Size of the per-worker read buffer.
const SCRATCH_BYTES: usize = 64 * 1024;

pub struct Worker {
    poll: Poll,
    listener: Option<TcpListener>,
    inbox: InboxReceiver,
    core: WorkerCore,
    scratch: Vec<u8>,
    shutdown_deadline: Option<Instant>,
    /// The listener may have connections left to accept (a turn stopped at
    /// `ACCEPTS_PER_TURN`; edge-triggered, it gets no new event for them).
    accept_pending: bool,
    /// On a TLS server, every connection's TLS state.
    tls: Option<TlsTransport>,
}

impl Worker {
    pub fn new(
        index: usize,
        poll: Poll,
        listener: TcpListener,
        inbox: InboxReceiver,
        service: Service,
        routes: Arc<Routes>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let mut listener = listener;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Worker {
            poll,
            listener: Some(listener),
            inbox,
            core: WorkerCore::new(index, service, routes),
            scratch: vec![0; SCRATCH_BYTES],
            shutdown_deadline: None,
            accept_pending: false,
            tls: tls.map(TlsTransport::new),
        })
    }

    pub fn run(mut self) {
        let tick = self.core.service.shared.config.tick();
        let mut events = Events::with_capacity(EVENTS_PER_TURN);
        let mut next_sweep = Instant::now() + tick;
        loop {
            let wake_at = self.core.presence_due().map_or(next_sweep, |due| due.min(next_sweep));
            // Fan-out due to be written: look for reads and go on writing at once.
            let wake_at = self.core.fanout_due().map_or(wake_at, |due| due.min(wake_at));
            // Sockets still to close or connections to accept: look for events, go on at once.
            let busy = self.core.doomed_waiting() || self.accept_pending;
            let wake_at = if busy { Instant::now() } else { wake_at };
            let timeout = wake_at.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("worker {}: poll failed: {e}", self.core.index);
                    return;
                }
            }
            self.core.now = Instant::now();
            let mut listener_ready = self.accept_pending;
            for event in events.iter() {
                match event.token() {
                    LISTENER => listener_ready = true,
                    WAKER => self.drain_inbox(),
                    Token(slot) => {
                        if event.is_writable() {
                            self.core.on_writable(slot);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read_all(slot, event.is_read_closed() || event.is_error());
                        }
                    }
                }
            }
            if listener_ready {
                self.accept_some();
            }
            if self.core.presence_due().is_some_and(|due| self.core.now >= due) {
                self.core.flush_due_presence();
            }
            flush_dirty_via(&mut self.core, Some(self.poll.registry()), self.tls.as_mut(), Some(FANOUT_TURN_BUDGET));
            self.reap(REAPS_PER_TURN);
            if self.core.now >= next_sweep {
                self.core.sweep();
                flush_dirty_via(&mut self.core, Some(self.poll.registry()), self.tls.as_mut(), Some(Duration::ZERO));
                self.reap(REAPS_PER_TURN);
                next_sweep = self.core.now + tick;
            }
            self.core.turn_ended();
            if self.finished() {
                // Departures still waiting to be coalesced are told before the worker ends.
                self.core.flush_presence();
                flush_dirty_via(&mut self.core, Some(self.poll.registry()), self.tls.as_mut(), None);
                self.reap(usize::MAX);
                return;
            }
        }
    }

    fn finished(&self) -> bool {
        match self.shutdown_deadline {
            Some(deadline) => self.core.conns.is_empty() || self.core.now >= deadline,
            None => false,
        }
    }

    /// Accepts up to `ACCEPTS_PER_TURN` connections; `accept_pending` says whether more may
    /// wait.
    fn accept_some(&mut self) {
        self.accept_pending = false;
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((socket, remote)) => self.add_connection(socket, remote),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept: retry next event.
                    log::warn!("worker {}: accept failed: {e}", self.core.index);
                    return;
                }
            }
        }
        self.accept_pending = true;
    }

    fn add_connection(&mut self, mut socket: mio::net::TcpStream, remote: SocketAddr) {
        let _ = socket.set_nodelay(true);
        let entry = self.core.conns.vacant_entry();
        let slot = entry.key();
        if let Err(e) = self.poll.registry().register(&mut socket, Token(slot), Interest::READABLE) {
            log::warn!("worker {}: cannot register a connection: {e}", self.core.index);
            return;
        }
        entry.insert(Conn::new(socket, remote, self.core.now));
        self.core.opened();
        if let Some(Err(e)) = self.tls.as_mut().map(|tls| tls.open(slot)) {
            log::warn!("worker {}: cannot start TLS on a connection: {e}", self.core.index);
            let mut conn = self.core.conns.remove(slot);
            let _ = self.poll.registry().deregister(&mut conn.socket);
        }
    }

    /// Reads until the socket is drained, feeding the core. A short read means it is drained,
    /// unless the peer has also closed its side (`peer_closed`): then the FIN that came with
    /// the data gets no event of its own, so reading goes on to the end of the stream.
    fn read_all(&mut self, slot: Slot, peer_closed: bool) {
        if self.core.conns.get(slot).is_none_or(|conn| conn.doomed) {
            return; // ended: its socket waits to be closed, nothing it sends matters now
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        if let Some(tls) = self.tls.as_mut() {
            tls.read_all(&mut self.core, slot, &mut scratch, peer_closed);
            self.scratch = scratch;
            return;
        }
        while let Some(conn) = self.core.conns.get_mut(slot) {
            match conn.socket.read(&mut scratch) {
                Ok(0) => {
                    self.core.on_peer_gone(slot);
                    break;
                }
                Ok(n) => {
                    self.core.on_bytes(slot, &mut scratch[..n]);
                    if n < scratch.len() && !peer_closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("connection {slot}: read failed: {e}");
                    self.core.on_peer_gone(slot);
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    fn drain_inbox(&mut self) {
        let commands: Vec<Command> = self.inbox.drain().collect();
        for command in commands {
            if matches!(command, Command::Shutdown) {
                self.begin_shutdown();
            }
            self.core.apply(command);
        }
    }

    fn begin_shutdown(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let grace = self.core.service.shared.config.shutdown_grace;
        self.shutdown_deadline = Some(Instant::now() + grace);
    }

    /// Drops the sockets of connections that have ended.
    /// Closes the sockets of up to `most` ended connections, oldest first.
    fn reap(&mut self, most: usize) {
        for _ in 0..most {
            let Some(slot) = self.core.next_doomed() else { return };
            if self.core.conns.contains(slot) {
                // Dropping the socket closes its descriptor, the process's only one for it,
                // which takes it out of the epoll set too: no `deregister` call (as nginx).
                drop(self.core.conns.remove(slot));
                if let Some(tls) = self.tls.as_mut() {
                    tls.forget(slot);
                }
            }
        }
    }
}

/// Writes the listed connections (`core/flushlist.rs`): every reply, then fan-out that is
/// due (`--coalesce-us`), oldest first, until `fanout_budget` has passed (checked every
/// `FANOUT_WRITES_PER_CHECK` writes; `None`: all of it); the rest wait for the next turn.
/// Sockets start readable-only: writable interest is only asked for once a socket has
/// refused bytes, so there is no wake-up per ACK. Without a registry (the hand-driven harness) nothing is re-registered.
#[cfg(feature = "test-util")]
pub(crate) fn flush_dirty(core: &mut WorkerCore, registry: Option<&Registry>, fanout_budget: Option<Duration>) {
    flush_dirty_via(core, registry, None, fanout_budget);
}

/// `flush_dirty`, through the TLS transport on a TLS server.
fn flush_dirty_via(
    core: &mut WorkerCore,
    registry: Option<&Registry>,
    mut tls: Option<&mut TlsTransport>,
    fanout_budget: Option<Duration>,
) {
    let replies = core.take_replies();
    for &slot in &replies {
        write_listed(core, registry, tls.as_deref_mut(), slot, List::Replies);
    }
    core.recycle_replies(replies);
    let started = Instant::now();
    // Without a budget, what is still coalescing is written too.
    let due_by = fanout_budget.map(|_| started);
    while core.fanout_waiting() {
        if fanout_budget.is_some_and(|budget| started.elapsed() >= budget) {
            return;
        }
        for _ in 0..FANOUT_WRITES_PER_CHECK {
            let Some(slot) = core.next_fanout(due_by) else { return };
            write_listed(core, registry, tls.as_deref_mut(), slot, List::Fanout);
        }
    }
}

/// Writes one listed connection's out-queue, with one vectored write per 1,024 chunks (`IOV_MAX`).
fn write_listed(
    core: &mut WorkerCore,
    registry: Option<&Registry>,
    mut tls: Option<&mut TlsTransport>,
    slot: Slot,
    list: List,
) {
    let Some(conn) = core.writable_conn(slot, list) else { return };
    let result = match tls.as_deref_mut() {
        Some(tls) => tls.flush(slot, conn),
        None => conn.out.flush_into(&mut conn.socket),
    };
    match core.on_flushed(slot, result) {
        AfterWrite::Nothing => {}
        AfterWrite::ShutdownWrite => {
            if let Some(conn) = core.conns.get_mut(slot) {
                if let Some(tls) = tls {
                    tls.close_notify(slot, &mut conn.socket);
                }
                let _ = conn.socket.shutdown(std::net::Shutdown::Write);
            }
        }
        AfterWrite::WaitWritable => {
            if let (Some(conn), Some(registry)) = (core.conns.get_mut(slot), registry) {
                let interest = Interest::READABLE | Interest::WRITABLE;
                if let Err(e) = registry.reregister(&mut conn.socket, Token(slot), interest) {
                    log::warn!("connection {slot}: cannot wait for writability: {e}");
                }
            }
        }
    }
}
