//! The seam between the Redis history and the history core (`service::history`): a
//! recovery as the link thread carries it (the core's ticket, the client's position, what
//! the channel keeps), and the two ways back into the core — a live message of a channel
//! with history goes to every worker stamped (`Command::ToChannelAt`: a connection that is
//! recovering holds it), a recovery's answer goes through its ticket. Both only queue work
//! on worker inboxes: callable from the cluster's threads, never blocking.

use std::sync::Arc;

use super::scripts::Retention;
use crate::service::backplane::Scope;
use crate::service::bus::Command;
use crate::service::history::{Position, RecoveryTicket, Replay, Stamped};
use crate::service::{ConnId, Service};
use crate::wire::fanout::Fanout;
use crate::wire::frame::SharedFrame;

/// A worker asks where a channel stands and, with `since` (the client's position), for the
/// messages after it. Exactly one answer follows, through the ticket.
pub struct RecoveryRequest {
    pub ticket: RecoveryTicket,
    pub since: Option<Position>,
    pub retention: Retention,
}

impl RecoveryRequest {
    pub fn channel(&self) -> &str {
        self.ticket.channel()
    }
}

/// A recovery's answer on its way to the worker.
pub struct RecoveryAnswer {
    pub ticket: RecoveryTicket,
    pub replay: Replay,
}

impl RecoveryAnswer {
    /// Redis is down or did not answer: `recovered:false`, at offset 0 of no epoch (a
    /// plain join is told that position).
    pub fn unavailable(ticket: RecoveryTicket) -> Self {
        let replay = Replay { frames: Vec::new(), offset: 0, epoch: Arc::from(""), recovered: false };
        RecoveryAnswer { ticket, replay }
    }
}

/// Hands a recovery answer to the worker that owns the connection.
pub fn answer(answer: RecoveryAnswer) {
    answer.ticket.answer(answer.replay);
}

/// A live message of a channel with history, from the pub/sub stream (every node, the
/// origin included, delivers these from Redis, so order is Redis order): to every worker.
pub fn deliver_live(service: &Service, channel: &str, stamped: Stamped, except: Option<ConnId>) {
    let channel: Arc<str> = Arc::from(channel);
    let message = Fanout::new(stamped.frame.clone(), service.shared.config.compression);
    for inbox in &service.shared.inboxes {
        let (stamped, message) = (stamped.clone(), message.clone());
        inbox.send(Command::ToChannelAt { channel: channel.clone(), stamped, message, except });
    }
}

/// A write to a channel with history that Redis did not take after all (the link went
/// down): delivered on this node only, without offset or epoch.
pub fn deliver_unrecorded(service: &Service, channel: &str, frame: SharedFrame, except: Option<ConnId>) {
    service.deliver_from_cluster(Scope::Channel(channel), frame, except);
}
