//! Replies of the history scripts, parsed from RESP values: the offset a publish got, the
//! position and messages a read returned, the SHA1 `SCRIPT LOAD` answers, and `NOSCRIPT`
//! (the script cache was flushed: call again with the text). Parsing only; it must not
//! panic on any reply.

use crate::cluster::resp::Value;

/// A reply that is not what the script returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Redis no longer has the script (`EVALSHA` after a `SCRIPT FLUSH` or a restart).
    #[error("the script is not loaded")]
    NoScript,
    /// Redis refused the call.
    #[error("redis: {0}")]
    Redis(String),
    #[error("unexpected reply: {0}")]
    Malformed(&'static str),
}

/// A history read: the channel's position and, for a recovery, what followed `since`.
#[derive(Debug, PartialEq, Eq)]
pub struct ReadReply<'a> {
    pub epoch: String,
    pub offset: u64,
    /// Every message after `since` is in `entries` (false too when the epoch differs).
    pub recovered: bool,
    /// (offset, message JSON as sent live), in order.
    pub entries: Vec<(u64, &'a [u8])>,
}

fn refused(value: &Value<'_>) -> Option<ReplyError> {
    let Value::Error(e) = value else { return None };
    Some(if e.starts_with(b"NOSCRIPT") {
        ReplyError::NoScript
    } else {
        ReplyError::Redis(String::from_utf8_lossy(e).into_owned())
    })
}

/// The offset a publish was given.
pub fn publish(value: &Value<'_>) -> Result<u64, ReplyError> {
    if let Some(e) = refused(value) {
        return Err(e);
    }
    match value {
        Value::Int(n) => u64::try_from(*n).map_err(|_| ReplyError::Malformed("a negative offset")),
        _ => Err(ReplyError::Malformed("the publish script returns an integer")),
    }
}

/// What a read returned.
pub fn read<'a>(value: &Value<'a>) -> Result<ReadReply<'a>, ReplyError> {
    if let Some(e) = refused(value) {
        return Err(e);
    }
    let items = value.items().ok_or(ReplyError::Malformed("the read script returns an array"))?;
    let [epoch, offset, recovered, rest @ ..] = items else {
        return Err(ReplyError::Malformed("a read reply has at least three items"));
    };
    let epoch = epoch.bytes().and_then(|e| std::str::from_utf8(e).ok()).ok_or(ReplyError::Malformed("epoch"))?;
    if rest.len() % 2 != 0 {
        return Err(ReplyError::Malformed("entries come in pairs"));
    }
    let mut entries = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks_exact(2) {
        entries.push((count(&pair[0])?, pair[1].bytes().ok_or(ReplyError::Malformed("an entry's message"))?));
    }
    Ok(ReadReply { epoch: epoch.to_string(), offset: count(offset)?, recovered: count(recovered)? == 1, entries })
}

fn count(value: &Value<'_>) -> Result<u64, ReplyError> {
    match value {
        Value::Int(n) => u64::try_from(*n).map_err(|_| ReplyError::Malformed("a negative number")),
        _ => Err(ReplyError::Malformed("a number")),
    }
}

/// The SHA1 `SCRIPT LOAD` answers.
pub fn loaded(value: &Value<'_>) -> Result<String, ReplyError> {
    if let Some(e) = refused(value) {
        return Err(e);
    }
    let sha = value.bytes().and_then(|b| std::str::from_utf8(b).ok()).ok_or(ReplyError::Malformed("a SHA1"))?;
    if sha.len() == 40 && sha.bytes().all(|c| c.is_ascii_hexdigit()) {
        Ok(sha.to_string())
    } else {
        Err(ReplyError::Malformed("a SHA1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::resp::parse;

    fn value(wire: &[u8]) -> Value<'_> {
        parse(wire).expect("valid").expect("complete").0
    }

    #[test]
    fn a_read_with_entries() {
        let wire = b"*7\r\n$8\r\na1b2c3d4\r\n:18\r\n:1\r\n:17\r\n$3\r\n{a}\r\n:18\r\n$3\r\n{b}\r\n";
        let reply = read(&value(wire)).expect("a read reply");
        assert_eq!(
            reply,
            ReadReply {
                epoch: "a1b2c3d4".into(),
                offset: 18,
                recovered: true,
                entries: vec![(17, &b"{a}"[..]), (18, b"{b}")]
            }
        );
    }

    #[test]
    fn a_position_only_read() {
        let reply = read(&value(b"*3\r\n$2\r\nep\r\n:0\r\n:0\r\n")).expect("a read reply");
        assert_eq!((reply.epoch.as_str(), reply.offset, reply.recovered, reply.entries.len()), ("ep", 0, false, 0));
    }

    #[test]
    fn malformed_reads_are_errors() {
        for wire in [
            &b"*2\r\n$2\r\nep\r\n:0\r\n"[..],
            b"*4\r\n$2\r\nep\r\n:0\r\n:0\r\n:1\r\n",
            b"*3\r\n$2\r\nep\r\n:-1\r\n:0\r\n",
            b"*3\r\n:5\r\n:1\r\n:0\r\n",
            b"*5\r\n$2\r\nep\r\n:1\r\n:1\r\n$1\r\nx\r\n$1\r\ny\r\n",
            b":3\r\n",
            b"$-1\r\n",
        ] {
            assert!(matches!(read(&value(wire)), Err(ReplyError::Malformed(_))), "{wire:?}");
        }
    }

    #[test]
    fn errors_and_noscript() {
        assert_eq!(publish(&value(b"-NOSCRIPT No matching script.\r\n")), Err(ReplyError::NoScript));
        assert_eq!(read(&value(b"-NOSCRIPT No matching script.\r\n")), Err(ReplyError::NoScript));
        assert_eq!(publish(&value(b"-ERR oom\r\n")), Err(ReplyError::Redis("ERR oom".into())));
        assert_eq!(publish(&value(b":42\r\n")), Ok(42));
        assert!(publish(&value(b"+OK\r\n")).is_err());
    }

    #[test]
    fn script_load_answers_a_sha1() {
        let sha = "a42059b356c875f0717db19a51f6aaca9ae659ea";
        let wire = format!("${}\r\n{sha}\r\n", sha.len());
        assert_eq!(loaded(&value(wire.as_bytes())), Ok(sha.to_string()));
        assert!(loaded(&value(b"$3\r\nabc\r\n")).is_err());
    }
}
