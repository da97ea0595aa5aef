//! The seam between the Redis history and the history core: the types a recovery is asked
//! and answered with, and the two things the cluster needs from the core — deliver a live
//! message of a channel with history (it carries its offset; a worker holding live frames
//! for a recovering connection drops those at or below the replay's last offset), and hand
//! a recovery answer to the worker that owns the connection. Both only queue work on
//! worker inboxes: callable from the cluster's threads, never blocking.
//!
//! Until the core's own entry points exist these fall back to plain deliveries (the live
//! frame to the channel, the replay then `recovered`/`position` to the connection).

use std::sync::Arc;

use serde_json::json;

use super::scripts::Retention;
use crate::service::backplane::Scope;
use crate::service::bus::Command;
use crate::service::message::{encode, Envelope};
use crate::service::{ConnId, Service};
use crate::wire::frame::SharedFrame;

/// Where a channel stands: the offset of its last message and its epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub offset: u64,
    pub epoch: String,
}

/// A worker asks where a channel stands and, with `since` (the client's position), for the
/// messages after it. Exactly one `RecoveryAnswer` follows, through `answer`.
#[derive(Debug, Clone)]
pub struct RecoveryRequest {
    pub conn: ConnId,
    pub channel: Arc<str>,
    pub since: Option<Position>,
    pub retention: Retention,
}

/// What Redis said, for the connection that asked.
#[derive(Debug)]
pub struct RecoveryAnswer {
    pub conn: ConnId,
    pub channel: Arc<str>,
    /// The client's position was given (a recovery, not a plain join).
    pub asked_since: bool,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// The channel's position, the stored messages after `since` in order (each framed as
    /// it was sent live), and whether they are all of them.
    Answered { position: Position, replay: Vec<(u64, SharedFrame)>, recovered: bool },
    /// Redis is down or did not answer: `recovered:false`, position unknown.
    Unavailable,
}

impl RecoveryAnswer {
    pub fn unavailable(request: &RecoveryRequest) -> Self {
        RecoveryAnswer {
            conn: request.conn,
            channel: request.channel.clone(),
            asked_since: request.since.is_some(),
            outcome: Outcome::Unavailable,
        }
    }
}

/// A live message of a channel with history, from the pub/sub stream (every node, the
/// origin included, delivers these from Redis, so order is Redis order).
pub fn deliver_live(service: &Service, channel: &str, frame: SharedFrame, _offset: u64, except: Option<ConnId>) {
    service.deliver_from_cluster(Scope::Channel(channel), frame, except);
}

/// A write to a channel with history that Redis did not take (the link is down): delivered
/// on this node only, without offset or epoch.
pub fn deliver_unrecorded(service: &Service, channel: &str, frame: SharedFrame, except: Option<ConnId>) {
    service.deliver_from_cluster(Scope::Channel(channel), frame, except);
}

/// Hands a recovery answer to the worker that owns the connection.
pub fn answer(service: &Service, answer: RecoveryAnswer) {
    let Some(worker) = service.shared.registry.worker_of(&answer.conn) else { return };
    let Some(inbox) = service.shared.inboxes.get(worker) else { return };
    for frame in answer_frames(&answer) {
        inbox.send(Command::ToConn { id: answer.conn, frame });
    }
}

/// The frames a client gets for an answer: the replay and `recovered`, or `position`.
pub fn answer_frames(answer: &RecoveryAnswer) -> Vec<SharedFrame> {
    let channel = Envelope { from: None, channel: Some(&answer.channel) };
    let (mut frames, param, cmd) = match (&answer.outcome, answer.asked_since) {
        (Outcome::Answered { position, replay, recovered }, true) => (
            replay.iter().map(|(_, frame)| frame.clone()).collect(),
            json!({"recovered": recovered, "offset": position.offset, "epoch": position.epoch}),
            "recovered",
        ),
        (Outcome::Answered { position, .. }, false) => {
            (Vec::new(), json!({"offset": position.offset, "epoch": position.epoch}), "position")
        }
        (Outcome::Unavailable, true) => (Vec::new(), json!({"recovered": false}), "recovered"),
        (Outcome::Unavailable, false) => return Vec::new(),
    };
    frames.extend(encode(channel, cmd, &param).ok());
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(frame: &SharedFrame) -> String {
        String::from_utf8_lossy(&frame[2..]).into_owned()
    }

    fn answered(asked_since: bool, recovered: bool) -> RecoveryAnswer {
        let position = Position { offset: 3, epoch: "e1".into() };
        let replay = vec![(3, crate::wire::frame::text(br#"{"cmd":"c","offset":3,"epoch":"e1"}"#))];
        RecoveryAnswer {
            conn: ConnId::new_v4(),
            channel: Arc::from("room"),
            asked_since,
            outcome: Outcome::Answered { position, replay, recovered },
        }
    }

    #[test]
    fn a_recovery_is_the_replay_then_recovered() {
        let frames: Vec<String> = answer_frames(&answered(true, true)).iter().map(text).collect();
        assert_eq!(
            frames,
            [
                r#"{"cmd":"c","offset":3,"epoch":"e1"}"#,
                r#"{"channel":"room","cmd":"recovered","param":{"epoch":"e1","offset":3,"recovered":true}}"#
            ]
        );
    }

    #[test]
    fn a_plain_join_gets_the_position_and_redis_down_recovered_false() {
        let frames: Vec<String> = answer_frames(&answered(false, false)).iter().map(text).collect();
        assert_eq!(frames, [r#"{"channel":"room","cmd":"position","param":{"epoch":"e1","offset":3}}"#]);
        let request = RecoveryRequest {
            conn: ConnId::new_v4(),
            channel: Arc::from("room"),
            since: Some(Position { offset: 1, epoch: "e".into() }),
            retention: Retention { size: 10, ttl_ms: 0 },
        };
        let frames: Vec<String> = answer_frames(&RecoveryAnswer::unavailable(&request)).iter().map(text).collect();
        assert_eq!(frames, [r#"{"channel":"room","cmd":"recovered","param":{"recovered":false}}"#]);
    }
}
