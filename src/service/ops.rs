//! The operations of the Service API, written once for both callers: a `Service` (any
//! thread: every command goes through worker inboxes) and a handler's `Context` (on a
//! worker: its own share is applied in place, the rest goes through inboxes).
//!
//! Every write serializes its message and encodes its frame exactly once, here; workers
//! only queue the shared frame, and other nodes (through the backplane) get the same bytes.
//! Owns no state.

use std::sync::Arc;

use serde::Serialize;

use super::backplane::Scope;
use super::bus::Command;
use super::connection::ConnId;
use super::history::{Appended, Position, Stamped};
use super::message::{encode, seal, serialize_body, serialize_into, Envelope};
use super::proxy::{ProxyEvent, ProxyRequest};
use super::tap::TapEvent;
use super::{Error, Shared};
use crate::wire::channel::valid_channel_name;
use crate::wire::fanout::Fanout;

/// Where commands go.
pub(crate) trait Dispatch {
    fn shared(&self) -> &Shared;

    /// A `Service` handle on the same server, usable from any thread.
    fn service(&self) -> super::Service;

    /// The worker that owns a connection.
    fn locate(&self, id: &ConnId) -> Option<usize> {
        self.shared().registry.worker_of(id)
    }

    /// The worker the caller runs on, if it is one.
    fn local_worker(&self) -> Option<usize> {
        None
    }

    /// Queues a frame on the local members of a channel (only called for `local_worker`).
    fn fan_out_here(&mut self, _channel: &str, _frame: &Fanout, _except: Option<ConnId>) {}

    /// A buffer to serialize one message into (empty); give it back with `return_scratch`.
    /// A worker lends the same one every time, so replies allocate nothing.
    fn take_scratch(&mut self) -> Vec<u8> {
        Vec::new()
    }

    /// Gives back the buffer `take_scratch` lent.
    fn return_scratch(&mut self, _scratch: Vec<u8>) {}

    /// Sends one serialized message (`payload`, JSON text) to connection `id` on `worker`:
    /// framed in place for a connection of the caller's own worker, as a frame through the
    /// inbox otherwise. False if it could not be delivered.
    fn send_text(&mut self, worker: usize, id: ConnId, payload: &[u8]) -> bool {
        self.dispatch(worker, Command::ToConn { id, frame: crate::wire::frame::text(payload) })
    }

    /// Serializes one message with `write` straight into the out-queue of connection `id`
    /// when it is on the caller's own worker, open and uncompressed (no copy); `None`, and
    /// nothing written, otherwise: the caller serializes it and calls `send_text`.
    fn send_in_place(
        &mut self,
        _worker: usize,
        _id: ConnId,
        _write: &mut dyn FnMut(&mut bytes::BytesMut) -> Result<(), serde_json::Error>,
    ) -> Option<Result<bool, serde_json::Error>> {
        None
    }

    /// Runs `command` on `worker`; false if it could not be delivered or did nothing.
    fn dispatch(&mut self, worker: usize, command: Command) -> bool {
        self.shared().inboxes.get(worker).is_some_and(|inbox| inbox.send(command))
    }

    /// Whether connection `id`'s route sends `event` to a backend (only a worker knows).
    fn proxies(&self, _id: ConnId, _event: ProxyEvent) -> bool {
        false
    }

    /// Sends an event of connection `id` to its route's backend (only on its worker).
    fn proxy(&mut self, _id: ConnId, _request: ProxyRequest) {}
}

/// Sends one tap event to every tap socket (call only when the tap is active).
pub(crate) fn tap(d: &mut (impl Dispatch + ?Sized), event: &TapEvent<'_>) {
    for (id, worker, frame) in d.shared().tap.deliveries(event) {
        d.dispatch(worker, Command::ToConn { id, frame });
    }
}

/// Taps a message the server writes (if a tap is open: the usual case costs one check).
#[inline]
fn tap_out<P: Serialize + ?Sized>(
    d: &mut (impl Dispatch + ?Sized),
    target: &'static str,
    to: Target<'_>,
    cmd: &str,
    param: &P,
) {
    if d.shared().tap.is_active() {
        tap_out_now(d, target, to, cmd, param);
    }
}

#[inline(never)]
fn tap_out_now<P: Serialize + ?Sized>(
    d: &mut (impl Dispatch + ?Sized),
    target: &'static str,
    to: Target<'_>,
    cmd: &str,
    param: &P,
) {
    let Ok(raw) = serde_json::value::to_raw_value(param) else {
        return;
    };
    let event = TapEvent {
        time: TapEvent::now_ms(),
        dir: "out",
        conn: to.conn,
        target: Some(target),
        channel: to.channel,
        user: to.user,
        cmd,
        param: &raw,
    };
    tap(d, &event);
}

/// Whom a tapped write went to.
#[derive(Default)]
struct Target<'a> {
    conn: Option<ConnId>,
    channel: Option<&'a str>,
    user: Option<&'a str>,
}

pub(crate) fn join(d: &mut (impl Dispatch + ?Sized), id: ConnId, channel: &str) -> bool {
    join_from(d, id, channel, None)
}

/// A join; with `since`, the connection recovers what it missed (in a channel with history).
pub(crate) fn join_from(d: &mut (impl Dispatch + ?Sized), id: ConnId, channel: &str, since: Option<Position>) -> bool {
    if !valid_channel_name(channel) {
        return false;
    }
    let Some(worker) = d.locate(&id) else {
        return false;
    };
    d.dispatch(worker, Command::Join { id, channel: Arc::from(channel), since: since.map(Box::new) })
}

pub(crate) fn leave(d: &mut (impl Dispatch + ?Sized), id: ConnId, channel: &str) -> bool {
    let Some(worker) = d.locate(&id) else {
        return false;
    };
    d.dispatch(worker, Command::Leave { id, channel: Arc::from(channel) })
}

pub(crate) fn close(d: &mut (impl Dispatch + ?Sized), id: ConnId, code: u16, notify: bool) -> bool {
    let Some(worker) = d.locate(&id) else {
        return false;
    };
    d.dispatch(worker, Command::Close { id, code, notify })
}

pub(crate) fn write_connection<P: Serialize + ?Sized>(
    d: &mut (impl Dispatch + ?Sized),
    envelope: Envelope<'_>,
    cmd: &str,
    param: &P,
    id: ConnId,
) -> Result<bool, Error> {
    let Some(worker) = d.locate(&id) else {
        return Ok(false);
    };
    let mut write = |out: &mut bytes::BytesMut| serialize_into(out, envelope, cmd, param);
    let sent = match d.send_in_place(worker, id, &mut write) {
        Some(sent) => sent,
        None => {
            let mut payload = d.take_scratch();
            let serialized = serialize_into(&mut payload, envelope, cmd, param);
            let sent = serialized.map(|()| d.send_text(worker, id, &payload));
            d.return_scratch(payload);
            sent
        }
    };
    tap_out(d, "conn", Target { conn: Some(id), ..Target::default() }, cmd, param);
    Ok(sent?)
}

/// An application message to a channel: kept in its history (with an offset) if it has one.
pub(crate) fn write_channel<P: Serialize + ?Sized>(
    d: &mut (impl Dispatch + ?Sized),
    from: Option<&ConnId>,
    cmd: &str,
    param: &P,
    channel: &str,
    except: Option<ConnId>,
) -> Result<(), Error> {
    let size = d.shared().history_size(channel);
    if size > 0 {
        return write_with_history(d, from, cmd, param, (channel, size), except);
    }
    write_channel_plain(d, from, cmd, param, channel, except)
}

/// A message to a channel's members that is never kept in history (presence).
pub(crate) fn write_channel_plain<P: Serialize + ?Sized>(
    d: &mut (impl Dispatch + ?Sized),
    from: Option<&ConnId>,
    cmd: &str,
    param: &P,
    channel: &str,
    except: Option<ConnId>,
) -> Result<(), Error> {
    let frame = fanout(d, encode(Envelope { from, channel: Some(channel) }, cmd, param)?);
    tap_out(d, "channel", Target { conn: from.copied(), channel: Some(channel), ..Target::default() }, cmd, param);
    deliver_everywhere(d, Scope::Channel(channel), &frame, except);
    Ok(())
}

/// A write to a channel with history: serialized here, then stamped, stored and handed to
/// every worker's inbox (this one's too, never applied in place) inside the store's
/// critical section, so each worker receives the channel's frames in offset order.
fn write_with_history<P: Serialize + ?Sized>(
    d: &mut (impl Dispatch + ?Sized),
    from: Option<&ConnId>,
    cmd: &str,
    param: &P,
    (channel, size): (&str, usize),
    except: Option<ConnId>,
) -> Result<(), Error> {
    let body = serialize_body(Envelope { from, channel: Some(channel) }, cmd, param)?;
    tap_out(d, "channel", Target { conn: from.copied(), channel: Some(channel), ..Target::default() }, cmd, param);
    let shared = d.shared();
    let name: Arc<str> = Arc::from(channel);
    let mut deliver = |stamped: &Stamped| {
        // One set of compressed twins for every worker: compressed once per publish.
        let message = Fanout::new(stamped.frame.clone(), shared.config.compression);
        for inbox in &shared.inboxes {
            let (stamped, message) = (stamped.clone(), message.clone());
            inbox.send(Command::ToChannelAt { channel: name.clone(), stamped, message, except });
        }
    };
    let frame = match shared.history().append(channel, size, body, except, &mut deliver) {
        Ok(Appended::Here(stamped)) => stamped.frame,
        Ok(Appended::Cluster) => return Ok(()),
        Err(body) => {
            let frame = seal(body, None);
            send_to_channel(d, channel, &fanout(d, frame.clone()), except);
            frame
        }
    };
    if let Some(backplane) = d.shared().backplane.get() {
        backplane.publish(Scope::Channel(channel), &frame, except);
    }
    Ok(())
}

/// A message encoded once, to fan out: compressible (once, lazily) when the server offers
/// compression.
pub(crate) fn fanout(d: &(impl Dispatch + ?Sized), frame: crate::wire::frame::SharedFrame) -> Fanout {
    Fanout::new(frame, d.shared().config.compression)
}

/// Sends an encoded frame to a channel's members on every worker of this node.
pub(crate) fn send_to_channel(d: &mut (impl Dispatch + ?Sized), channel: &str, frame: &Fanout, except: Option<ConnId>) {
    let workers = d.shared().inboxes.len();
    let local = d.local_worker();
    let mut shared_name: Option<Arc<str>> = None;
    for worker in 0..workers {
        if Some(worker) == local {
            d.fan_out_here(channel, frame, except);
        } else {
            let name = shared_name.get_or_insert_with(|| Arc::from(channel)).clone();
            d.dispatch(worker, Command::ToChannel { channel: name, frame: frame.clone(), except });
        }
    }
}

/// Delivers an encoded frame to this node's connections in `scope`; returns how many
/// connections it was queued for (users) or 0 (channels and everyone: counted by workers).
pub(crate) fn deliver_here(
    d: &mut (impl Dispatch + ?Sized),
    scope: Scope<'_>,
    frame: &Fanout,
    except: Option<ConnId>,
) -> usize {
    match scope {
        Scope::Channel(channel) => {
            send_to_channel(d, channel, frame, except);
            0
        }
        Scope::User(user) => {
            let mut delivered = 0;
            for (id, worker) in d.shared().registry.user_connections(user) {
                if Some(id) != except {
                    let frame = frame.plain().clone();
                    delivered += usize::from(d.dispatch(worker, Command::ToConn { id, frame }));
                }
            }
            delivered
        }
        Scope::All => {
            for worker in 0..d.shared().inboxes.len() {
                d.dispatch(worker, Command::ToAll { frame: frame.clone() });
            }
            0
        }
    }
}

/// Delivers on this node, then hands the write to the other nodes (if scaled out).
fn deliver_everywhere(
    d: &mut (impl Dispatch + ?Sized),
    scope: Scope<'_>,
    frame: &Fanout,
    except: Option<ConnId>,
) -> usize {
    let delivered = deliver_here(d, scope, frame, except);
    if let Some(backplane) = d.shared().backplane.get() {
        backplane.publish(scope, frame.plain(), except);
    }
    delivered
}

/// Presence that changed on another node without its own `online-update` reaching this
/// node (the node died, said goodbye, or came back): users who came (`true`) or went. Every
/// worker tells its own members of `channel`, in the form the channel's size calls for. Not
/// published: every node tells its own members. The one entry point for such announcements.
pub(crate) fn announce_presence(d: &mut impl Dispatch, channel: &str, changes: Vec<(String, bool)>) {
    if changes.is_empty() {
        return;
    }
    for (user, connected) in &changes {
        let param = serde_json::json!({"userID": user, "connected": connected});
        tap_out(d, "channel", Target { channel: Some(channel), ..Target::default() }, "online-update", &param);
    }
    let (channel, changes): (Arc<str>, Arc<[(String, bool)]>) = (Arc::from(channel), changes.into());
    for worker in 0..d.shared().inboxes.len() {
        d.dispatch(worker, Command::Presence { channel: channel.clone(), changes: changes.clone() });
    }
}

/// Writes to every connection of a user, on every worker (and node); returns how many on this node.
pub(crate) fn write_user<P: Serialize + ?Sized>(
    d: &mut (impl Dispatch + ?Sized),
    from: Option<&ConnId>,
    cmd: &str,
    param: &P,
    user: &str,
) -> Result<usize, Error> {
    let frame = fanout(d, encode(Envelope { from, channel: None }, cmd, param)?);
    tap_out(d, "user", Target { conn: from.copied(), user: Some(user), ..Target::default() }, cmd, param);
    Ok(deliver_everywhere(d, Scope::User(user), &frame, None))
}

pub(crate) fn write_all<P: Serialize + ?Sized>(
    d: &mut (impl Dispatch + ?Sized),
    from: Option<&ConnId>,
    cmd: &str,
    param: &P,
) -> Result<(), Error> {
    let frame = fanout(d, encode(Envelope { from, channel: None }, cmd, param)?);
    tap_out(d, "all", Target { conn: from.copied(), ..Target::default() }, cmd, param);
    deliver_everywhere(d, Scope::All, &frame, None);
    Ok(())
}
