//! The bus between threads: the commands a worker accepts from other threads, and each
//! worker's inbox (a queue plus a `mio::Waker`).
//!
//! Anything that must happen on a connection owned by another worker (a write, a join, a
//! close) travels here as a `Command`; frames travel as shared `Bytes`, never copied. A
//! sender wakes the worker only when its inbox goes from empty to non-empty. The bus does
//! not touch sockets; the receiving worker applies the commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use mio::Waker;

use super::connection::ConnId;
use crate::wire::fanout::Fanout;
use crate::wire::frame::SharedFrame;

/// Work for a worker, from another thread (or from itself, applied in place).
#[derive(Debug)]
pub enum Command {
    /// Queue a frame on one connection.
    ToConn {
        id: ConnId,
        frame: SharedFrame,
    },
    /// Queue a frame on every local member of a channel but `except`.
    ToChannel {
        channel: Arc<str>,
        frame: Fanout,
        except: Option<ConnId>,
    },
    /// Queue a frame of a channel with history on every local member but `except` (one
    /// that is recovering holds it until its replay is out). `message` is `stamped.frame`
    /// with its compressed twins, one `Fanout` for every worker of the node: the frame is
    /// compressed once per publish, not once per worker.
    ToChannelAt {
        channel: Arc<str>,
        stamped: super::history::Stamped,
        message: Fanout,
        except: Option<ConnId>,
    },
    /// Queue a frame on every local connection.
    ToAll {
        frame: Fanout,
    },
    /// Join a channel; with `since`, recover what was missed after it.
    Join {
        id: ConnId,
        channel: Arc<str>,
        since: Option<Box<super::history::Position>>,
    },
    Leave {
        id: ConnId,
        channel: Arc<str>,
    },
    /// Tell this worker's members of `channel` that these users came (`true`) or went:
    /// presence that changed on another node without its own announcement reaching us.
    Presence {
        channel: Arc<str>,
        changes: Arc<[(String, bool)]>,
    },
    /// Close a connection; with `notify`, send `close-connection` first.
    Close {
        id: ConnId,
        code: u16,
        notify: bool,
    },
    /// A history store's answer to a connection's recovery (or join position).
    Recovered(Box<super::history::Recovery>),
    /// A backend's answer to a proxied event of one of this worker's connections.
    Proxied(Box<super::proxy::ProxyReturn>),
    /// Stop accepting, close every client with 1001, exit.
    Shutdown,
}

/// The sending side of a worker's inbox.
pub struct Inbox {
    sender: Sender<Command>,
    waker: Arc<Waker>,
    pending: Arc<AtomicBool>,
}

/// The worker's side of its inbox.
pub struct InboxReceiver {
    receiver: Receiver<Command>,
    pending: Arc<AtomicBool>,
}

pub fn inbox(waker: Waker) -> (Inbox, InboxReceiver) {
    let (sender, receiver) = std::sync::mpsc::channel();
    let pending = Arc::new(AtomicBool::new(false));
    (Inbox { sender, waker: Arc::new(waker), pending: pending.clone() }, InboxReceiver { receiver, pending })
}

impl Inbox {
    /// Queues a command; false if the worker has exited.
    pub fn send(&self, command: Command) -> bool {
        if self.sender.send(command).is_err() {
            return false;
        }
        if !self.pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                log::warn!("could not wake a worker: {e}");
            }
        }
        true
    }
}

impl InboxReceiver {
    /// Takes every queued command. Call when the waker fires.
    pub fn drain(&self) -> impl Iterator<Item = Command> + '_ {
        self.pending.store(false, Ordering::Release);
        self.receiver.try_iter()
    }
}
