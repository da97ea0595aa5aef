//! Presence in big channels: joins and leaves coalesced into `online-updates` (O(members)
//! frames per interval, not per join), the Go module's `online-update` kept for small channels,
//! exact `online()` at all times, and announcements switched off per channel or per server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use switchyard::auth::{ChannelAction, ChannelAuthorizer};
use switchyard::{example, Profile, Server};

fn big_channel_config() -> switchyard::Config {
    switchyard::Config {
        presence_batch_above: 4,
        presence_interval: Duration::from_millis(50),
        presence_list_max: 5,
        ..config(2)
    }
}

/// What one client learned of presence: joins and leaves (ids listed, and counted), and how
/// many presence frames it took.
#[derive(Default, Debug)]
struct Seen {
    frames: usize,
    joined: usize,
    left: usize,
}

impl Seen {
    fn take(&mut self, message: &Value) {
        match message["cmd"].as_str() {
            Some("online-update") => {
                self.frames += 1;
                if message["param"]["connected"] == true {
                    self.joined += 1;
                } else {
                    self.left += 1;
                }
            }
            Some("online-updates") => {
                self.frames += 1;
                let param = &message["param"];
                let (joined, left) = (param["joined_count"].as_u64().unwrap(), param["left_count"].as_u64().unwrap());
                let listed = param["joined"].as_array().unwrap().len() + param["left"].as_array().unwrap().len();
                assert!(param["joined"].as_array().unwrap().len() <= 5, "lists are capped: {param}");
                assert_eq!(param["truncated"], json!(listed < (joined + left) as usize), "{param}");
                self.joined += joined as usize;
                self.left += left as usize;
            }
            _ => {}
        }
    }

    /// Reads until `done` holds (or panics after 5 s).
    fn until(&mut self, client: &mut Client, done: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(self) {
            assert!(Instant::now() < deadline, "presence not complete: {self:?}");
            let message = recv(client);
            self.take(&message);
        }
    }
}

#[test]
fn a_join_storm_into_a_big_channel_is_coalesced_and_online_stays_exact() {
    let server = start_example(big_channel_config());
    let (addr, service) = (server.local_addr(), server.service());
    let mut observer = connect(addr, "/example/socket?ch=big");
    sync(&mut observer);
    let mut joiners: Vec<Client> = (0..60).map(|_| connect(addr, "/example/socket?ch=big")).collect();
    assert_eq!(service.online("big").len(), 61, "online() is exact before any announcement is sent");
    let mut seen = Seen::default();
    seen.until(&mut observer, |s| s.joined >= 60);
    assert_eq!(seen.joined, 60, "every join told exactly once");
    assert!(seen.frames < 30, "60 joins took {} presence frames: not coalesced", seen.frames);
    let last = joiners.last_mut().unwrap();
    sync(last);
    let leavers: Vec<Client> = joiners.drain(..50).collect();
    drop(leavers);
    seen.until(&mut observer, |s| s.left >= 50);
    assert_eq!(seen.left, 50, "every leave told exactly once");
    eventually(Duration::from_secs(2), "online() exact after the leaves", || service.online("big").len() == 11);
    server.shutdown();
}

#[test]
fn small_channels_keep_one_online_update_per_join() {
    let server = start_example(big_channel_config());
    let addr = server.local_addr();
    let mut observer = connect(addr, "/example/socket?ch=small");
    sync(&mut observer);
    let _others: Vec<Client> = (0..3).map(|_| connect(addr, "/example/socket?ch=small")).collect();
    for _ in 0..3 {
        let update = recv_cmd(&mut observer, "online-update");
        assert_eq!(update["param"]["connected"], true);
    }
    server.shutdown();
}

/// A policy that lets everyone in and announces nothing in `quiet-*` channels.
struct QuietChannels;

impl ChannelAuthorizer for QuietChannels {
    fn authorize(&self, _: &Profile, _: &str, _: ChannelAction) -> bool {
        true
    }

    fn announces_presence(&self, channel: &str) -> bool {
        !channel.starts_with("quiet-")
    }
}

/// Joins a second client to `channel` and returns the presence frames the first one got
/// before its echo came back.
fn presence_frames_seen(addr: std::net::SocketAddr, channel: &str) -> usize {
    let mut observer = connect(addr, &format!("/example/socket?ch={channel}"));
    sync(&mut observer);
    let other = connect(addr, &format!("/example/socket?ch={channel}"));
    std::thread::sleep(Duration::from_millis(100));
    drop(other);
    std::thread::sleep(Duration::from_millis(100));
    send(&mut observer, json!({"cmd": "echo", "param": "end"}));
    let mut frames = 0;
    loop {
        let message = recv(&mut observer);
        if message["cmd"] == "echo" {
            return frames;
        }
        frames += usize::from(message["cmd"].as_str().is_some_and(|c| c.starts_with("online-update")));
    }
}

#[test]
fn presence_can_be_switched_off_per_channel_and_per_server() {
    let server = Server::new(config(1))
        .unwrap()
        .authorize(QuietChannels)
        .socket("/example/socket", example::handler())
        .start()
        .unwrap();
    assert_eq!(presence_frames_seen(server.local_addr(), "loud-1"), 2, "a join and a leave");
    assert_eq!(presence_frames_seen(server.local_addr(), "quiet-1"), 0);
    server.shutdown();

    let server = start_example(switchyard::Config { presence: false, ..config(1) });
    assert_eq!(presence_frames_seen(server.local_addr(), "loud-2"), 0);
    server.shutdown();
}
