//! `Context`: what a handler can do, on the worker that runs it.
//!
//! The same operations as `Service`, but the worker's own share is done in place (a reply
//! to the sender, a write to a channel's local members) with no inbox hop; other workers
//! get theirs through their inboxes. Writes made while handling a connection's message
//! carry that connection's id as `from`. A handler must not block: for slow work, clone
//! `ctx.service()` into another thread and write the result back from there.

use serde::Serialize;

use super::connection::ConnId;
use super::message::Envelope;
use super::ops::{self, Dispatch};
use super::{Error, Service, Status};

/// What a handler can do while it handles an event: the Service API, done in place on the
/// worker that runs it (through `Dispatch`, which the worker core implements).
pub struct Context<'a> {
    core: &'a mut dyn Dispatch,
    current: Option<ConnId>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(core: &'a mut dyn Dispatch, current: Option<ConnId>) -> Self {
        Context { core, current }
    }

    /// A handle usable from any thread.
    pub fn service(&self) -> Service {
        self.core.service()
    }

    /// Whether `conn`'s route sends `event` to a backend (the edge route's handler asks).
    pub(crate) fn proxies(&self, conn: ConnId, event: super::proxy::ProxyEvent) -> bool {
        self.core.proxies(conn, event)
    }

    /// Sends an event of `conn` to its route's backend; the answer is applied later, in the
    /// order of the connection's calls.
    pub(crate) fn proxy(&mut self, conn: ConnId, request: super::proxy::ProxyRequest) {
        self.core.proxy(conn, request);
    }

    /// The connection whose event is being handled.
    pub fn current(&self) -> Option<ConnId> {
        self.current
    }

    /// Joins `conn` to `channel` (created if new); false if unknown, already a member, or
    /// the name is invalid.
    pub fn join(&mut self, conn: ConnId, channel: &str) -> bool {
        ops::join(self.core, conn, channel)
    }

    /// Joins `conn` to `channel` from a position it saw before (`since`, `epoch`): in a
    /// channel with history it is sent every message it missed, then `recovered`.
    pub fn join_from(&mut self, conn: ConnId, channel: &str, since: u64, epoch: &str) -> bool {
        let since = super::history::Position { offset: since, epoch: epoch.to_string() };
        ops::join_from(self.core, conn, channel, Some(since))
    }

    /// Removes `conn` from `channel` (deleted when its last member leaves).
    pub fn leave(&mut self, conn: ConnId, channel: &str) -> bool {
        ops::leave(self.core, conn, channel)
    }

    /// Sends `{cmd, param}` to one connection; false if it is not connected.
    pub fn write_connection<P: Serialize + ?Sized>(
        &mut self,
        cmd: &str,
        param: &P,
        conn: ConnId,
    ) -> Result<bool, Error> {
        ops::write_connection(self.core, Envelope::default(), cmd, param, conn)
    }

    /// Sends to every member of `channel`, on every worker.
    pub fn write_channel<P: Serialize + ?Sized>(&mut self, cmd: &str, param: &P, channel: &str) -> Result<(), Error> {
        ops::write_channel(self.core, self.current.as_ref(), cmd, param, channel, None)
    }

    /// Sends to every member of `channel` except `except`.
    pub fn write_channel_except<P: Serialize + ?Sized>(
        &mut self,
        cmd: &str,
        param: &P,
        channel: &str,
        except: ConnId,
    ) -> Result<(), Error> {
        ops::write_channel(self.core, self.current.as_ref(), cmd, param, channel, Some(except))
    }

    /// Sends to every connection of a user; returns how many.
    pub fn write_user<P: Serialize + ?Sized>(&mut self, cmd: &str, param: &P, user: &str) -> Result<usize, Error> {
        ops::write_user(self.core, self.current.as_ref(), cmd, param, user)
    }

    /// Sends to every connection of the server.
    pub fn write_all<P: Serialize + ?Sized>(&mut self, cmd: &str, param: &P) -> Result<(), Error> {
        ops::write_all(self.core, self.current.as_ref(), cmd, param)
    }

    /// Closes a connection (close code 1000).
    pub fn close(&mut self, conn: ConnId) -> bool {
        ops::close(self.core, conn, 1000, false)
    }

    /// The service's counters, summed over workers.
    pub fn status(&self) -> Status {
        self.core.service().status()
    }
}
