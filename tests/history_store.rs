//! The history's extension points, in process over real sockets: a channel policy that
//! gives some channels a history and not others, and a store that answers recoveries
//! later from its own thread (as one backed by a server would), with publishes continuing
//! meanwhile: the connection still gets the replay, `recovered`, then every newer message
//! once, in order.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchyard::auth::{ChannelAction, ChannelAuthorizer};
use switchyard::service::history::{
    Appended, HistoryLimits, HistoryStats, HistoryStore, MemoryHistory, Position, RecoveryTicket, Stamped,
};
use switchyard::service::message::Body;
use switchyard::{example, ConnId, Profile, Server};

/// History only for `log-*` channels, 20 messages each.
struct LogsOnly;

impl ChannelAuthorizer for LogsOnly {
    fn authorize(&self, _: &Profile, _: &str, _: ChannelAction) -> bool {
        true
    }

    fn history_size(&self, channel: &str, _default: usize) -> usize {
        if channel.starts_with("log-") {
            20
        } else {
            0
        }
    }
}

/// The memory store, but recoveries are answered 150 ms later from another thread.
struct Deferred(Arc<MemoryHistory>);

impl HistoryStore for Deferred {
    fn append(
        &self,
        channel: &str,
        size: usize,
        body: Body,
        except: Option<ConnId>,
        deliver: &mut dyn FnMut(&Stamped),
    ) -> Result<Appended, Body> {
        self.0.append(channel, size, body, except, deliver)
    }

    fn recover(&self, channel: &str, since: Option<&Position>, ticket: RecoveryTicket) {
        let replay = self.0.read(channel, since);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            ticket.answer(replay);
        });
    }

    fn len(&self, channel: &str) -> usize {
        self.0.len(channel)
    }

    fn stats(&self) -> HistoryStats {
        self.0.stats()
    }
}

fn next_in(client: &mut Client, channel: &str, cmds: &[&str]) -> Value {
    loop {
        let message = recv(client);
        if message["channel"] == channel && cmds.iter().any(|c| message["cmd"] == *c) {
            return message;
        }
    }
}

#[test]
fn the_channel_policy_decides_which_channels_keep_history() {
    let server = Server::new(config(2)).unwrap().authorize(LogsOnly).socket("/example/socket", example::handler());
    let server = server.start().unwrap();
    let mut log = connect(server.local_addr(), "/example/socket?ch=log-a");
    let position = next_in(&mut log, "log-a", &["position"]);
    send(&mut log, json!({"cmd": "chat", "param": {"text": "kept"}}));
    let kept = next_in(&mut log, "log-a", &["chat"]);
    assert_eq!((kept["offset"].as_u64(), &kept["epoch"]), (Some(1), &position["param"]["epoch"]));
    let mut plain = connect(server.local_addr(), "/example/socket?ch=lobby");
    send(&mut plain, json!({"cmd": "chat", "param": {"text": "gone"}}));
    let message = recv_cmd(&mut plain, "chat");
    assert!(message.get("offset").is_none() && message.get("epoch").is_none(), "{message}");
    assert_eq!(server.service().history_len("log-a"), 1);
    assert_eq!(server.service().history_len("lobby"), 0);
    server.shutdown();
}

#[test]
fn a_store_that_answers_later_still_gives_replay_then_recovered_then_live_once_in_order() {
    let config = switchyard::Config { history_size: 1000, ..config(2) };
    let limits = HistoryLimits { ttl: Duration::ZERO, memory: 1 << 24 };
    let server = Server::new(config).unwrap().socket("/example/socket", example::handler());
    assert!(server.service().set_history_store(Arc::new(Deferred(Arc::new(MemoryHistory::new(limits))))));
    let server = server.start().unwrap();
    let addr = server.local_addr();
    let mut publisher = connect(addr, "/example/socket?ch=slow");
    let epoch = next_in(&mut publisher, "slow", &["position"])["param"]["epoch"].as_str().unwrap().to_string();
    for n in 1..=10 {
        send(&mut publisher, json!({"cmd": "chat", "param": {"text": n.to_string()}}));
    }
    for _ in 1..=10 {
        next_in(&mut publisher, "slow", &["chat"]);
    }
    let publishing = std::thread::spawn(move || {
        for n in 11..=300 {
            send(&mut publisher, json!({"cmd": "chat", "param": {"text": n.to_string()}}));
            std::thread::sleep(Duration::from_micros(900));
        }
        publisher
    });
    std::thread::sleep(Duration::from_millis(20));
    let mut back = connect(addr, &format!("/example/socket?ch=slow&since=4&epoch={epoch}"));
    let mut last = 4;
    let mut recovered = None;
    while last < 300 {
        let message = next_in(&mut back, "slow", &["chat", "recovered"]);
        if message["cmd"] == "recovered" {
            assert_eq!(message["param"]["recovered"], true);
            assert_eq!(message["param"]["offset"].as_u64(), Some(last), "the replay ends at the answer's offset");
            recovered = Some(last);
            continue;
        }
        assert_eq!(message["offset"].as_u64(), Some(last + 1), "no gap, no duplicate: {message}");
        last += 1;
    }
    let end = recovered.expect("a recovered message");
    assert!(end > 10 && end < 290, "publishes went on during the 150 ms wait: ended at {end}");
    drop(publishing.join().unwrap());
    server.shutdown();
}
