//! RESP2, the Redis wire protocol, for the handful of commands the cluster link uses:
//! encoding commands (arrays of bulk strings) and parsing replies and pub/sub pushes from a
//! byte buffer. Owns no socket and no state; it must not allocate per parsed bulk string
//! (replies borrow from the buffer) and must not panic on any input.

use std::io;

/// The largest bulk string or array accepted from Redis (a guard against garbage).
const MAX_LEN: usize = 64 << 20;
/// The deepest nesting of arrays accepted (pub/sub pushes are two deep): parsing recurses,
/// so this bounds the stack whatever the input.
pub const MAX_DEPTH: usize = 8;

/// One reply or push, borrowing its strings from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Int(i64),
    Bulk(Option<&'a [u8]>),
    Array(Option<Vec<Value<'a>>>),
}

impl<'a> Value<'a> {
    /// The bytes of a bulk or simple string.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Simple(b) | Value::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn items(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Array(Some(items)) => Some(items),
            _ => None,
        }
    }
}

fn protocol_error(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad reply from redis: {what}"))
}

/// Parses one value at the start of `buf`: `Ok(None)` if it is not complete yet, else the
/// value and how many bytes it took.
pub fn parse(buf: &[u8]) -> io::Result<Option<(Value<'_>, usize)>> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> io::Result<Option<(Value<'_>, usize)>> {
    let Some((line, next)) = line_at(buf, pos) else { return Ok(None) };
    let Some((&kind, rest)) = line.split_first() else { return Err(protocol_error("empty line")) };
    match kind {
        b'+' => Ok(Some((Value::Simple(rest), next))),
        b'-' => Ok(Some((Value::Error(rest), next))),
        b':' => Ok(Some((Value::Int(integer(rest)?), next))),
        b'$' => bulk(buf, integer(rest)?, next),
        b'*' if depth >= MAX_DEPTH => Err(protocol_error("arrays nested too deep")),
        b'*' => array(buf, integer(rest)?, next, depth + 1),
        _ => Err(protocol_error("unknown type byte")),
    }
}

/// The line starting at `pos` (without CRLF) and where the next one starts.
fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..end], pos + end + 2))
}

fn integer(text: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or_else(|| protocol_error("bad integer"))
}

fn length(n: i64) -> io::Result<Option<usize>> {
    match usize::try_from(n) {
        Ok(len) if len <= MAX_LEN => Ok(Some(len)),
        Ok(_) => Err(protocol_error("length over the limit")),
        Err(_) if n == -1 => Ok(None),
        Err(_) => Err(protocol_error("negative length")),
    }
}

fn bulk(buf: &[u8], n: i64, start: usize) -> io::Result<Option<(Value<'_>, usize)>> {
    let Some(len) = length(n)? else { return Ok(Some((Value::Bulk(None), start))) };
    let end = start + len;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(protocol_error("bulk string without CRLF"));
    }
    Ok(Some((Value::Bulk(Some(&buf[start..end])), end + 2)))
}

fn array(buf: &[u8], n: i64, start: usize, depth: usize) -> io::Result<Option<(Value<'_>, usize)>> {
    let Some(len) = length(n)? else { return Ok(Some((Value::Array(None), start))) };
    let mut items = Vec::with_capacity(len.min(16));
    let mut pos = start;
    for _ in 0..len {
        let Some((item, next)) = parse_at(buf, pos, depth)? else { return Ok(None) };
        items.push(item);
        pos = next;
    }
    Ok(Some((Value::Array(Some(items)), pos)))
}

/// Appends a command (an array of bulk strings).
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    array_header(out, args.len());
    for arg in args {
        bulk_string(out, &[arg]);
    }
}

/// Appends `PUBLISH topic <head><body>` without joining `head` and `body` first.
pub fn publish(out: &mut Vec<u8>, topic: &[u8], head: &[u8], body: &[u8]) {
    array_header(out, 3);
    bulk_string(out, &[b"PUBLISH"]);
    bulk_string(out, &[topic]);
    bulk_string(out, &[head, body]);
}

fn array_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// One bulk string made of `parts`, in order.
fn bulk_string(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.push(b'$');
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for part in parts {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_pubsub_message() {
        let wire = b"*3\r\n$7\r\nmessage\r\n$4\r\nsy:x\r\n$4\r\na\r\nb\r\n+OK\r\n";
        let (value, used) = parse(wire).expect("valid").expect("complete");
        let items = value.items().expect("array");
        assert_eq!(items[0].bytes(), Some(&b"message"[..]));
        assert_eq!(items[2].bytes(), Some(&b"a\r\nb"[..]));
        assert_eq!(parse(&wire[used..]).expect("valid").expect("complete").0, Value::Simple(b"OK"));
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        let wire = b"*3\r\n$7\r\nmessage\r\n$4\r\nsy:x\r\n$3\r\nab";
        for end in 0..wire.len() {
            assert!(parse(&wire[..end]).expect("valid so far").is_none(), "at {end}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for wire in [&b"?x\r\n"[..], b"$-5\r\n", b"*abc\r\n", b"$3\r\nabcde\r\n", b"\r\n", b":99999999999999999999\r\n"]
        {
            assert!(parse(wire).is_err(), "{wire:?}");
        }
        assert_eq!(parse(b"$-1\r\n").expect("nil").expect("complete").0, Value::Bulk(None));
        assert_eq!(parse(b":-3\r\n").expect("int").expect("complete").0, Value::Int(-3));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = b"*1\r\n".repeat(200_000);
        assert!(parse(&deep).is_err());
        let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
        ok.extend_from_slice(b":1\r\n");
        assert!(parse(&ok).expect("within the limit").is_some());
    }

    #[test]
    fn encodes_commands_and_publish() {
        let mut out = Vec::new();
        command(&mut out, &[b"SUBSCRIBE", b"a"]);
        publish(&mut out, b"t", b"hd", b"body");
        assert_eq!(out, b"*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n*3\r\n$7\r\nPUBLISH\r\n$1\r\nt\r\n$6\r\nhdbody\r\n");
    }
}
