//! Presence as an observer sees it: reading the server's announcements — one
//! `online-update {"userID","connected"}` per join or leave, or the coalesced
//! `online-updates {"joined":[..],"left":[..],"joined_count","left_count","truncated"}` — into
//! counts, and working out how late the observer learned of a phase's joins. Pure functions:
//! no sockets, no clocks.

use std::time::Duration;

use serde::Deserialize;

/// Joins and leaves one presence frame announces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresenceDelta {
    pub joined: u64,
    pub left: u64,
}

#[derive(Deserialize)]
struct Message {
    cmd: String,
    #[serde(default)]
    param: serde_json::Value,
}

/// The joins and leaves a server frame announces; `None` when it is no presence frame.
pub fn presence_delta(payload: &[u8]) -> Option<PresenceDelta> {
    memchr::memmem::find(payload, b"\"online-update")?;
    let message: Message = serde_json::from_slice(payload).ok()?;
    let param = &message.param;
    match message.cmd.as_str() {
        "online-update" => match param.get("connected")?.as_bool()? {
            true => Some(PresenceDelta { joined: 1, left: 0 }),
            false => Some(PresenceDelta { joined: 0, left: 1 }),
        },
        "online-updates" => Some(PresenceDelta {
            joined: count(param, "joined_count", "joined"),
            left: count(param, "left_count", "left"),
        }),
        _ => None,
    }
}

/// The exact count when given (lists may be capped), else the list's length.
fn count(param: &serde_json::Value, count_key: &str, list_key: &str) -> u64 {
    let exact = param.get(count_key).and_then(serde_json::Value::as_u64);
    let listed = || param.get(list_key).and_then(serde_json::Value::as_array).map(|list| list.len() as u64);
    exact.or_else(listed).unwrap_or(0)
}

/// How late the observer learned of one phase's joins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinLag {
    /// From the last join until the observer had been told of every join (None: it never was).
    pub complete_after_last_join: Option<Duration>,
    /// The longest wait between the k-th join and the observer learning of its k-th join.
    pub worst: Option<Duration>,
    /// Joins the observer was told of (may exceed the joins when others joined too).
    pub told: usize,
}

/// Matches the k-th join (times since a common epoch) with the k-th join the observer was
/// told of: presence names anonymous users the generator cannot map to its connections, so
/// order is what ties them together.
pub fn join_lag(joins: &[Duration], told: &[Duration]) -> JoinLag {
    let mut joins = joins.to_vec();
    let mut told = told.to_vec();
    joins.sort_unstable();
    told.sort_unstable();
    let worst = joins.iter().zip(&told).map(|(joined, learned)| learned.saturating_sub(*joined)).max();
    let complete_after_last_join = match (joins.last(), told.get(joins.len().wrapping_sub(1))) {
        (Some(last_join), Some(learned)) => Some(learned.saturating_sub(*last_join)),
        _ => None,
    };
    JoinLag { complete_after_last_join, worst, told: told.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&value| Duration::from_millis(value)).collect()
    }

    #[test]
    fn reads_single_updates() {
        let join = br#"{"channel":"big","cmd":"online-update","param":{"userID":"u1","connected":true}}"#;
        assert_eq!(presence_delta(join), Some(PresenceDelta { joined: 1, left: 0 }));
        let leave = br#"{"cmd":"online-update","param":{"userID":"u1","connected":false},"channel":"big"}"#;
        assert_eq!(presence_delta(leave), Some(PresenceDelta { joined: 0, left: 1 }));
        assert_eq!(presence_delta(br#"{"cmd":"online-update","param":{"userID":"u1"}}"#), None);
    }

    #[test]
    fn reads_coalesced_updates_by_their_exact_counts() {
        let capped = br#"{"cmd":"online-updates","channel":"big","param":{"joined":["a","b"],"left":["c"],
            "joined_count":250,"left_count":1,"truncated":true}}"#;
        assert_eq!(presence_delta(capped), Some(PresenceDelta { joined: 250, left: 1 }));
        let listed = br#"{"cmd":"online-updates","param":{"joined":["a","b","c"],"left":[]}}"#;
        assert_eq!(presence_delta(listed), Some(PresenceDelta { joined: 3, left: 0 }));
    }

    #[test]
    fn ignores_everything_else() {
        assert_eq!(presence_delta(br#"{"cmd":"echo","param":"x"}"#), None);
        let chat = br#"{"cmd":"chat","param":{"text":"\"online-update"}}"#;
        assert_eq!(presence_delta(chat), None);
        assert_eq!(presence_delta(br#"{"cmd":"online-update""#), None);
    }

    #[test]
    fn lag_pairs_joins_and_notices_in_order() {
        let lag = join_lag(&ms(&[10, 20, 30]), &ms(&[15, 120, 40]));
        assert_eq!(lag.worst, Some(Duration::from_millis(90)));
        assert_eq!(lag.complete_after_last_join, Some(Duration::from_millis(90)));
        assert_eq!(lag.told, 3);
    }

    #[test]
    fn lag_is_open_until_every_join_was_told() {
        let lag = join_lag(&ms(&[10, 20, 30]), &ms(&[11, 21]));
        assert_eq!(lag.complete_after_last_join, None);
        assert_eq!(lag.worst, Some(Duration::from_millis(1)));
        assert_eq!(join_lag(&[], &ms(&[5])).complete_after_last_join, None);
        // A notice before the join it is matched with (clocks of two loops) counts as no wait.
        assert_eq!(join_lag(&ms(&[10]), &ms(&[9])).worst, Some(Duration::ZERO));
    }
}
