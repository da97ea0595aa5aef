//! The registry's presence transitions and views, tested without a server.

use super::*;
use crate::service::Profile;

fn conn(user: &str) -> Arc<Connection> {
    let id = ConnId::new_v4();
    let mut profile = Profile::anonymous(id);
    profile.id = user.to_string();
    profile.anonymous = false;
    Arc::new(Connection {
        id,
        profile,
        remote: "127.0.0.1:1".parse().unwrap(),
        path: "/s".into(),
        channel: "c".into(),
        connected_at: 0,
        counters: Default::default(),
    })
}

#[test]
fn presence_transitions_are_per_user_and_per_node() {
    let registry = Registry::default();
    let (tab1, tab2, other) = (conn("ann"), conn("ann"), conn("bob"));
    assert!(registry.add(tab1.clone(), 0));
    assert!(!registry.add(tab2.clone(), 1), "second tab of the same user");
    assert!(registry.add(other.clone(), 0));
    assert_eq!(
        registry.join(&tab1.id, "room"),
        Joined { joined: true, user_first: true, channel_created: true, members: 1 }
    );
    assert_eq!(
        registry.join(&tab2.id, "room"),
        Joined { joined: true, user_first: false, channel_created: false, members: 2 }
    );
    assert_eq!(registry.join(&tab2.id, "room"), Joined::default(), "already a member");
    assert!(registry.join(&other.id, "room").user_first);
    assert_eq!(registry.online("room"), vec!["ann", "bob"]);
    assert_eq!(registry.channels()[0], ChannelInfo { name: "room".into(), members: 3, users: 2, history: 0 });
    assert_eq!(
        registry.leave(&tab1.id, "room"),
        Left { left: true, user_last: false, channel_deleted: false, members: 2 }
    );
    assert_eq!(
        registry.leave(&tab2.id, "room"),
        Left { left: true, user_last: true, channel_deleted: false, members: 1 }
    );
    assert_eq!(
        registry.leave(&other.id, "room"),
        Left { left: true, user_last: true, channel_deleted: true, members: 0 }
    );
    assert_eq!(registry.channel_count(), 0);
    assert!(!registry.remove(&tab1.id));
    assert!(registry.remove(&tab2.id), "last connection of ann");
    assert_eq!(registry.users().len(), 1);
}

#[test]
fn anonymous_connections_are_users_of_their_own() {
    let registry = Registry::default();
    let (a, b) = (Arc::new(anonymous()), Arc::new(anonymous()));
    assert!(registry.add(a.clone(), 0) && registry.add(b.clone(), 1));
    assert!(registry.join(&a.id, "lobby").user_first && registry.join(&b.id, "lobby").user_first);
    let mut expected = vec![a.id.to_string(), b.id.to_string()];
    expected.sort();
    assert_eq!(registry.online("lobby"), expected);
    assert_eq!(registry.channels()[0].users, 2);
    assert_eq!(registry.user_connections(&a.id.to_string()), vec![(a.id, 0)]);
    assert!(registry.users().is_empty(), "no user entries for anonymous clients");
    assert!(registry.leave(&a.id, "lobby").user_last);
    assert_eq!(registry.online("lobby"), vec![b.id.to_string()]);
}

fn anonymous() -> Connection {
    let id = ConnId::new_v4();
    Connection {
        id,
        profile: Profile::anonymous(id),
        remote: "127.0.0.1:1".parse().unwrap(),
        path: "/s".into(),
        channel: "c".into(),
        connected_at: 0,
        counters: Default::default(),
    }
}

/// What an idle connection pays in the registry (README, "What one idle connection holds"):
/// these must not silently grow.
#[test]
fn a_channel_entry_stays_small() {
    use std::mem::size_of;
    assert_eq!(size_of::<Entry>(), 40, "connection map value (+16 of key per bucket)");
    assert_eq!(size_of::<ChannelEntry>(), 32, "channel entry (+16 of name per B-tree slot)");
    let registry = Registry::default();
    let (ann, anon) = (conn("ann"), Arc::new(anonymous()));
    registry.add(ann.clone(), 0);
    registry.add(anon.clone(), 0);
    registry.join(&anon.id, "room");
    {
        let inner = registry.read();
        let entry = &inner.channels["room"];
        assert!(entry.users.is_none(), "anonymous members need no user table");
        assert!(matches!(entry.members, Members::One(_)), "one member is inline");
        assert!(
            matches!(inner.conns.get(&anon.id).expect("registered").channels, ChannelList::One(_)),
            "one channel is inline"
        );
    }
    assert!(registry.join(&ann.id, "room").user_first);
    assert_eq!(registry.channels()[0].users, 2);
    assert!(registry.has_user("room", "ann") && registry.has_user("room", &anon.id.to_string()));
    assert!(registry.leave(&ann.id, "room").user_last);
    assert!(registry.read().channels["room"].users.is_none(), "the user table goes with its last user");
    assert_eq!(registry.channels()[0].users, 1);
}
