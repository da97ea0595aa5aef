//! The two Lua scripts that keep channel history in Redis, and their arguments. Publishing
//! runs in one script so the offset, the stored entry and the pub/sub message are one
//! atomic step: every node sees the same offsets in the same order. Text and argument
//! building only: no socket, no parsing of replies (`reply.rs`).
//!
//! Keys per channel: `{prefix}:hist:{channel}`, a stream whose entry ids are `0-{offset}`
//! (fields `t`, Redis time in ms, and `d`, the message JSON as sent live, offset and epoch
//! included), capped with `XADD MAXLEN`; and `{prefix}:meta:{channel}`, a hash with the
//! current offset `o` and epoch `e`. A new epoch (the hash lost: first use, a Redis restart
//! without persistence, expiry) starts offsets again at 1.

/// Publishes one message to a channel with history.
/// KEYS: stream, meta. ARGV: pub/sub topic, envelope head, message JSON (an object), size,
/// stream TTL ms (0: none), meta TTL ms (0: none), epoch to use if there is none.
/// Publishes `head .. offset .. ":" .. epoch .. ":" .. json` and returns the offset.
pub const PUBLISH: &str = r#"
local offset = redis.call('HINCRBY', KEYS[2], 'o', 1)
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[7]
  redis.call('HSET', KEYS[2], 'e', epoch)
end
if offset == 1 then
  redis.call('DEL', KEYS[1])
end
local n = string.format('%d', offset)
local json = string.sub(ARGV[3], 1, -2) .. ',"offset":' .. n .. ',"epoch":"' .. epoch .. '"}'
local t = redis.call('TIME')
local ms = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], '0-' .. n, 't', ms, 'd', json)
if tonumber(ARGV[5]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
if tonumber(ARGV[6]) > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. n .. ':' .. epoch .. ':' .. json)
return offset
"#;

/// Reads a channel's position and, for a recovery, the messages after `since`, then
/// publishes the marker on the channel's pub/sub subject: the asking node's subscriber sees
/// every message published before the read before it, every later one after it.
/// KEYS: stream, meta. ARGV: since ('' for the position only), the client's epoch, stream
/// TTL ms (0: none), meta TTL ms (0: none), epoch to use if there is none, most entries,
/// pub/sub topic, marker ('' for none).
/// Returns `{epoch, offset, recovered (0|1), offset1, json1, offset2, json2, ...}`: the
/// entries only when the epoch matches; `recovered` when every message after `since` is
/// still stored (and younger than the TTL).
pub const READ: &str = r#"
local function answer(reply)
  if ARGV[8] ~= '' then
    redis.call('PUBLISH', ARGV[7], ARGV[8])
  end
  return reply
end
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[5]
  redis.call('HSET', KEYS[2], 'e', epoch)
  if tonumber(ARGV[4]) > 0 then
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
end
local offset = tonumber(redis.call('HGET', KEYS[2], 'o') or '0')
local reply = {epoch, offset, 0}
if ARGV[1] == '' or ARGV[2] ~= epoch then
  return answer(reply)
end
local since = tonumber(ARGV[1])
if not since or since > offset then
  return answer(reply)
end
if since == offset then
  reply[3] = 1
  return answer(reply)
end
local ttl = tonumber(ARGV[3])
local oldest = 0
if ttl > 0 then
  local t = redis.call('TIME')
  oldest = t[1] * 1000 + math.floor(t[2] / 1000) - ttl
end
local first = nil
local count = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '0-' .. string.format('%d', since + 1), '+', 'COUNT', ARGV[6])) do
  local fields = entry[2]
  local t, d = nil, nil
  for i = 1, #fields, 2 do
    if fields[i] == 't' then t = tonumber(fields[i + 1]) elseif fields[i] == 'd' then d = fields[i + 1] end
  end
  if d and (t or 0) >= oldest then
    local n = tonumber(string.sub(entry[1], 3))
    first = first or n
    count = count + 1
    reply[#reply + 1] = n
    reply[#reply + 1] = d
  end
end
if first == since + 1 and count == offset - since then
  reply[3] = 1
end
return answer(reply)
"#;

/// The Redis names of a channel's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryKeys {
    pub stream: String,
    pub meta: String,
}

/// How long a channel's history and position live in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept.
    pub size: u32,
    /// Age limit of a message, and how long the stream lives after the last publish (0: none).
    pub ttl_ms: u64,
}

impl Retention {
    /// The position (offset, epoch) outlives the messages so a client that missed nothing
    /// still recovers after they expired: a day, or ten TTLs if longer (0: no TTL at all).
    pub fn meta_ttl_ms(&self) -> u64 {
        if self.ttl_ms == 0 {
            0
        } else {
            self.ttl_ms.saturating_mul(10).max(24 * 3600 * 1000)
        }
    }
}

/// One history publish: everything the script needs but the script itself.
pub struct PublishArgs<'a> {
    pub keys: &'a HistoryKeys,
    pub topic: &'a str,
    /// The envelope head (origin node, `except`), see `envelope::history_head`.
    pub head: &'a [u8],
    /// The message JSON, one object, without offset and epoch.
    pub json: &'a [u8],
    pub retention: Retention,
    /// The epoch the channel gets if it has none.
    pub new_epoch: &'a str,
}

/// `EVALSHA sha 2 keys... argv...` (or `EVAL script ...`) for a publish.
pub fn publish_command(out: &mut Vec<u8>, call: Call<'_>, args: &PublishArgs<'_>) {
    let (size, ttl, meta_ttl) = numbers(args.retention);
    let argv: [&[u8]; 7] = [
        args.topic.as_bytes(),
        args.head,
        args.json,
        size.as_bytes(),
        ttl.as_bytes(),
        meta_ttl.as_bytes(),
        args.new_epoch.as_bytes(),
    ];
    script_command(out, call, args.keys, &argv);
}

/// One history read: the position, and the messages after `since` when given.
pub struct ReadArgs<'a> {
    pub keys: &'a HistoryKeys,
    /// The client's position (offset, epoch); `None` for the position only.
    pub since: Option<(u64, &'a str)>,
    pub retention: Retention,
    pub new_epoch: &'a str,
    /// The channel's pub/sub subject and the marker to publish there after the read.
    pub topic: &'a str,
    pub marker: &'a [u8],
}

/// `EVALSHA sha 2 keys... argv...` (or `EVAL script ...`) for a read.
pub fn read_command(out: &mut Vec<u8>, call: Call<'_>, args: &ReadArgs<'_>) {
    let (size, ttl, meta_ttl) = numbers(args.retention);
    let (since, epoch) = match args.since {
        Some((offset, epoch)) => (offset.to_string(), epoch),
        None => (String::new(), ""),
    };
    let argv: [&[u8]; 8] = [
        since.as_bytes(),
        epoch.as_bytes(),
        ttl.as_bytes(),
        meta_ttl.as_bytes(),
        args.new_epoch.as_bytes(),
        size.as_bytes(),
        args.topic.as_bytes(),
        args.marker,
    ];
    script_command(out, call, args.keys, &argv);
}

fn numbers(retention: Retention) -> (String, String, String) {
    (retention.size.max(1).to_string(), retention.ttl_ms.to_string(), retention.meta_ttl_ms().to_string())
}

/// How a script is called: by its SHA1 (loaded), or with its text (the fallback).
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    Sha(&'a str),
    Text(&'a str),
}

fn script_command(out: &mut Vec<u8>, call: Call<'_>, keys: &HistoryKeys, argv: &[&[u8]]) {
    let (verb, body): (&[u8], &str) = match call {
        Call::Sha(sha) => (b"EVALSHA", sha),
        Call::Text(text) => (b"EVAL", text),
    };
    let mut args: Vec<&[u8]> = vec![verb, body.as_bytes(), b"2", keys.stream.as_bytes(), keys.meta.as_bytes()];
    args.extend_from_slice(argv);
    super::super::resp::command(out, &args);
}

/// A fresh epoch: eight hex digits from the OS's randomness.
pub fn new_epoch() -> String {
    let id = uuid::Uuid::new_v4();
    let bytes = id.as_bytes();
    format!("{:02x}{:02x}{:02x}{:02x}", bytes[0], bytes[1], bytes[2], bytes[3])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::resp::{parse, Value};

    fn keys() -> HistoryKeys {
        HistoryKeys { stream: "sy:hist:room".into(), meta: "sy:meta:room".into() }
    }

    fn strings(wire: &[u8]) -> Vec<Vec<u8>> {
        let (value, used) = parse(wire).expect("valid").expect("complete");
        assert_eq!(used, wire.len());
        let Value::Array(Some(items)) = value else { panic!("an array") };
        items.iter().map(|v| v.bytes().expect("bulk").to_vec()).collect()
    }

    #[test]
    fn publish_arguments_in_the_script_s_order() {
        let mut out = Vec::new();
        let retention = Retention { size: 100, ttl_ms: 60_000 };
        let keys = keys();
        let args = PublishArgs {
            keys: &keys,
            topic: "sy:ch:room",
            head: b"H",
            json: b"{\"cmd\":\"x\"}",
            retention,
            new_epoch: "abcd0123",
        };
        publish_command(&mut out, Call::Sha("f00"), &args);
        let expected: Vec<&[u8]> = vec![
            b"EVALSHA",
            b"f00",
            b"2",
            b"sy:hist:room",
            b"sy:meta:room",
            b"sy:ch:room",
            b"H",
            b"{\"cmd\":\"x\"}",
            b"100",
            b"60000",
            b"86400000",
            b"abcd0123",
        ];
        assert_eq!(strings(&out), expected);
    }

    #[test]
    fn read_arguments_with_and_without_since() {
        let keys = keys();
        let retention = Retention { size: 5, ttl_ms: 0 };
        let mut out = Vec::new();
        read_command(
            &mut out,
            Call::Text("return 1"),
            &ReadArgs { keys: &keys, since: Some((17, "e1")), retention, new_epoch: "n", topic: "t", marker: b"M" },
        );
        let expected: Vec<&[u8]> = vec![
            b"EVAL",
            b"return 1",
            b"2",
            b"sy:hist:room",
            b"sy:meta:room",
            b"17",
            b"e1",
            b"0",
            b"0",
            b"n",
            b"5",
            b"t",
            b"M",
        ];
        assert_eq!(strings(&out), expected);
        out.clear();
        let args = ReadArgs { keys: &keys, since: None, retention, new_epoch: "n", topic: "t", marker: b"" };
        read_command(&mut out, Call::Sha("s"), &args);
        assert_eq!(strings(&out)[5..7], [b"".to_vec(), b"".to_vec()]);
    }

    #[test]
    fn the_position_outlives_the_messages() {
        assert_eq!(Retention { size: 1, ttl_ms: 0 }.meta_ttl_ms(), 0);
        assert_eq!(Retention { size: 1, ttl_ms: 1000 }.meta_ttl_ms(), 86_400_000);
        assert_eq!(Retention { size: 1, ttl_ms: 3 * 86_400_000 }.meta_ttl_ms(), 2_592_000_000);
    }

    #[test]
    fn epochs_are_short_and_differ() {
        let (a, b) = (new_epoch(), new_epoch());
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
