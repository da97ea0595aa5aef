//! The fast path of `Inbound::parse`: a hand-written scanner for the usual client message,
//! `{"channel"?: string | null, "cmd": string, "param"?: any}` with plain keys and strings
//! that need no unescaping.
//!
//! It answers only when serde_json would accept the text and give the same fields; anything
//! else (an escape or a control character in a key or string, an unknown or repeated key, a
//! missing `cmd`, a syntax error, a non-object) is `None`, and serde_json decides, as it
//! always did. `param` is still parsed and validated by serde_json, as the `RawValue` the
//! struct parse would give. Whitespace is JSON's four bytes, as serde_json skips them. No
//! allocation, no error messages (those are serde_json's).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Inbound;

/// The message, if it is a plain envelope serde_json accepts; `None` to ask serde_json.
pub(super) fn scan(text: &str) -> Option<Inbound<'_>> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    let mut channel: Option<Option<&str>> = None;
    let mut cmd: Option<&str> = None;
    let mut param: Option<&RawValue> = None;
    at += 1;
    loop {
        at = skip_whitespace(bytes, at);
        let key = Key::at(bytes.get(at..)?)?;
        at = skip_whitespace(bytes, at + key.len());
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at = skip_whitespace(bytes, at + 1);
        at = match key {
            Key::Cmd if cmd.is_none() => {
                let (value, after) = plain_string(text, at)?;
                cmd = Some(value);
                after
            }
            Key::Channel if channel.is_none() => {
                if bytes.get(at..)?.starts_with(b"null") {
                    channel = Some(None);
                    at + 4
                } else {
                    let (value, after) = plain_string(text, at)?;
                    channel = Some(Some(value));
                    after
                }
            }
            Key::Param if param.is_none() => {
                let (value, after) = raw_value(text, at)?;
                param = Some(value);
                after
            }
            _ => return None,
        };
        at = skip_whitespace(bytes, at);
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b'}') => break,
            _ => return None,
        }
    }
    if skip_whitespace(bytes, at + 1) != bytes.len() {
        return None;
    }
    // serde_json reads `"param": null` into an absent `Option`.
    let param = match param {
        Some(raw) if raw.get() == "null" => None,
        param => param,
    };
    Some(Inbound { channel: channel.flatten().map(Cow::Borrowed), cmd: Cow::Borrowed(cmd?), param })
}

/// A key of the envelope, written plainly (an escaped or unknown key is none of these).
#[derive(Clone, Copy)]
enum Key {
    Cmd,
    Channel,
    Param,
}

impl Key {
    /// The key `rest` starts with, quotes included.
    #[inline]
    fn at(rest: &[u8]) -> Option<Key> {
        if rest.starts_with(b"\"cmd\"") {
            Some(Key::Cmd)
        } else if rest.starts_with(b"\"param\"") {
            Some(Key::Param)
        } else if rest.starts_with(b"\"channel\"") {
            Some(Key::Channel)
        } else {
            None
        }
    }

    /// Its length in the text, quotes included.
    fn len(self) -> usize {
        match self {
            Key::Cmd => 5,
            Key::Channel => 9,
            Key::Param => 7,
        }
    }
}

/// The index of the first byte at or after `at` that is not JSON whitespace.
#[inline]
fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// The string starting at `at` (its opening quote) and the index after its closing quote,
/// if nothing in it needs unescaping and it has no control character (which JSON forbids).
#[inline]
fn plain_string(text: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let length = bytes.get(start..)?.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    let end = start + length;
    if bytes[end] != b'"' {
        return None;
    }
    // Both ends are ASCII quotes, so on character boundaries.
    Some((text.get(start..end)?, end + 1))
}

/// The JSON value starting at `at` (no whitespace before it), read and validated by
/// serde_json as a `RawValue`, and the index after it.
fn raw_value(text: &str, at: usize) -> Option<(&RawValue, usize)> {
    let rest = text.get(at..)?;
    let raw = <&RawValue>::deserialize(&mut serde_json::Deserializer::from_str(rest)).ok()?;
    // The raw value is a slice of `rest` from its start (no whitespace was left to skip).
    if raw.get().as_ptr() != rest.as_ptr() {
        return None;
    }
    Some((raw, at + raw.get().len()))
}

#[cfg(test)]
mod tests {
    //! The scanner against serde_json's struct parse: the same verdict, the same fields, the
    //! same error, for a corpus of tricky texts and for texts
    //! generated from envelope pieces and mutated.

    use super::*;

    type Fields<'a> = (Option<&'a str>, &'a str, Option<&'a str>);

    /// The fields' values. (Not whether they borrow: serde_json copies every `channel` into
    /// a `String`, where the scanner borrows a plain one.)
    fn fields<'a>(m: &'a Inbound<'_>) -> Fields<'a> {
        (m.channel.as_deref(), &m.cmd, m.param.map(RawValue::get))
    }

    /// Checks one text; true if the scanner answered it.
    fn same_as_serde_json(text: &str) -> bool {
        let expected = serde_json::from_str::<Inbound<'_>>(text);
        let scanned = scan(text);
        if let Some(scanned) = &scanned {
            match &expected {
                Ok(expected) => assert_eq!(fields(scanned), fields(expected), "{text:?}"),
                Err(e) => panic!("scanned what serde_json rejects ({e}): {text:?}"),
            }
        }
        match (Inbound::parse(text), &expected) {
            (Ok(ours), Ok(expected)) => assert_eq!(fields(&ours), fields(expected), "{text:?}"),
            (Err(ours), Err(expected)) => assert_eq!(ours.to_string(), expected.to_string(), "{text:?}"),
            (ours, _) => panic!("{text:?}: parse says {:?}, serde_json {:?}", ours.is_ok(), expected.is_ok()),
        }
        scanned.is_some()
    }

    #[test]
    fn tricky_texts() {
        let scanned = [
            r#"{"cmd":"echo","param":"xyz"}"#,
            r#"{"cmd":"echo"}"#,
            r#"{"channel":"room","cmd":"chat","param":{"text":"hi \"x\"","n":[1,2.5e-3,null,true]}}"#,
            r#"{"param":[],"channel":null,"cmd":""}"#,
            " \t\r\n{ \"cmd\" : \"a\" , \"param\" : null } \n",
            r#"{"cmd":"a","param":"\ud83d\ude00 \\ \/ \b\f\n\r\t"}"#,
            "{\"cmd\":\"caf\u{e9} \u{1f600}\u{7f}\",\"channel\":\"\u{e9}\"}",
            r#"{"cmd":"a","param":-0}"#,
            r#"{"cmd":"a","param":[[[[[[[[[[{}]]]]]]]]]]}"#,
            // serde_json checks a skipped string's escapes, not what they stand for.
            r#"{"cmd":"a","param":"\ud800"}"#,
        ];
        for text in scanned {
            assert!(same_as_serde_json(text), "not scanned: {text:?}");
        }
        let asked = [
            "",
            " ",
            "{}",
            "[]",
            r#"["room","echo",1]"#,
            r#"{"cmd":"a""#,
            r#"{"cmd":"a",}"#,
            r#"{,"cmd":"a"}"#,
            r#"{"cmd":"a"} x"#,
            r#"{"cmd":"a"}{}"#,
            r#"{"cmd":"a","cmd":"b"}"#,
            r#"{"channel":null,"cmd":"a","channel":"b"}"#,
            r#"{"cmd":"a","param":1,"param":1}"#,
            r#"{"c\u006dd":"ping"}"#,
            r#"{"cmd":"p\u0069ng"}"#,
            r#"{"cmd":"a\"b"}"#,
            r#"{"cmd":"a","channel":"x\/y"}"#,
            "{\"cmd\":\"tab\there\"}",
            "{\"cmd\":\"a\",\"param\":\"\u{1}\"}",
            r#"{"cmd":"a","from":"00000000-0000-0000-0000-000000000000"}"#,
            r#"{"from":{"deep":[1,2]},"cmd":"a"}"#,
            r#"{"cmd":null}"#,
            r#"{"cmd":1}"#,
            r#"{"cmd":"a","channel":1}"#,
            r#"{"cmd":"a","channel":nul}"#,
            r#"{"cmd":"a","channel":nullx}"#,
            r#"{"cmd":"a","param":nul}"#,
            r#"{"cmd":"a","param":01}"#,
            r#"{"cmd":"a","param":1.}"#,
            r#"{"cmd":"a","param":[1,]}"#,
            r#"{"cmd":"a","param":"\x"}"#,
            r#"{"cmd":"a","param":'x'}"#,
            r#"{"cmd":"a","param":}"#,
            r#"{"cmd":"a","param"}"#,
            r#"{"cmd" "a"}"#,
            r#"{cmd:"a"}"#,
            "{\"cmd\":\"a\"}\u{a0}",
            "\u{feff}{\"cmd\":\"a\"}",
            "{\"cmd\":\"a\"\u{c}}",
            r#"{"CMD":"a"}"#,
            r#"{"param":1}"#,
        ];
        for text in asked {
            assert!(!same_as_serde_json(text), "scanned: {text:?}");
        }
    }

    /// A small deterministic generator (xorshift64*): the same texts on every run.
    struct Texts(u64);

    impl Texts {
        fn next(&mut self, below: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % below
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.next(from.len())]
        }

        /// Mostly one of `usual`, now and then (1 in 40) one of `odd`.
        fn piece<'a>(&mut self, usual: &[&'a str], odd: &[&'a str]) -> &'a str {
            if self.next(40) == 0 {
                self.pick(odd)
            } else {
                self.pick(usual)
            }
        }

        /// An envelope of up to four members, sometimes broken on purpose.
        fn envelope(&mut self) -> String {
            const SPACE: &[&str] = &["", "", "", "", " ", "\n", "\t", "\r", " \n\t "];
            const ODD_SPACE: &[&str] = &["\u{a0}", "\u{c}", "x", "\u{feff}", "\u{0}"];
            const KEYS: &[&str] = &[r#""cmd""#, r#""param""#, r#""channel""#];
            const ODD_KEYS: &[&str] = &[
                r#""from""#,
                r#""c\u006dd""#,
                r#""CMD""#,
                r#""cmd ""#,
                r#""""#,
                "cmd",
                r#""param"#,
                r#""chan\nnel""#,
                "\"cm\u{1}d\"",
            ];
            const VALUES: &[&str] = &[
                r#""echo""#,
                r#""""#,
                r#""room-1""#,
                "null",
                "true",
                "0",
                "-0",
                "1.5e3",
                r#""a\"b""#,
                r#""\u00e9t\u00e9""#,
                "\"caf\u{e9}\"",
                r#""\ud800""#,
                r#""\ud83d\ude00""#,
                "[]",
                r#"[1,{"a":[null,{}]}]"#,
                "{}",
                "[[[[[[[[]]]]]]]]",
                r#""\/""#,
                "\"\u{7f}\u{1f600}\"",
            ];
            const ODD_VALUES: &[&str] = &[
                "nul",
                "nulll",
                "fals",
                "01",
                "1.",
                "-",
                "1e",
                "\"tab\there\"",
                r#""\q""#,
                "[1,2",
                "[1,]",
                r#"{"a":1,}"#,
                r#"{"a" 1}"#,
                r#"{"a":"\u0000"}"#,
                "'x'",
                "",
                "\"\u{1}\"",
                r#""x"#,
                "{",
                "]",
            ];
            const STRINGS: &[&str] = &[r#""echo""#, r#""""#, r#""room-1""#, "\"caf\u{e9}\"", r#""a\"b""#, r#""\/""#];
            let mut text = String::from(self.piece(SPACE, ODD_SPACE));
            text.push_str(self.piece(&["{"], &["[", "", "{{"]));
            // Usually each key at most once, in varied orders (`cmd` sometimes left out).
            let mut keys = KEYS.to_vec();
            keys.swap(1, 1 + self.next(2));
            let first = self.next(3).min(self.next(3));
            keys.swap(0, first);
            keys.truncate(1 + self.next(3));
            for (member, key) in keys.into_iter().enumerate() {
                if member > 0 {
                    text.push_str(self.piece(&[","], &[",,", "", ";"]));
                }
                let key = self.piece(&[key], ODD_KEYS);
                for piece in [self.piece(SPACE, ODD_SPACE), key, self.piece(SPACE, ODD_SPACE)] {
                    text.push_str(piece);
                }
                text.push_str(self.piece(&[":"], &["", "::", "="]));
                let value = match key {
                    r#""cmd""# => self.piece(STRINGS, VALUES),
                    r#""channel""# => self.piece(STRINGS, &["null", "nul", "1"]),
                    _ => self.piece(VALUES, ODD_VALUES),
                };
                for piece in [self.piece(SPACE, ODD_SPACE), value, self.piece(SPACE, ODD_SPACE)] {
                    text.push_str(piece);
                }
            }
            if self.next(8) == 0 {
                text.push_str(r#","cmd":"again""#);
            }
            text.push_str(self.piece(&["}"], &[",}", "", "}}", "]"]));
            text.push_str(self.piece(SPACE, ODD_SPACE));
            text
        }

        /// `text` with one character inserted, removed or replaced, or cut short.
        fn mutate(&mut self, text: &str) -> String {
            const CHARS: &[&str] = &["\"", "\\", ",", ":", "{", "}", "[", "]", " ", "\n", "n", "0", "\u{1}", "\u{e9}"];
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let at = boundaries[self.next(boundaries.len())];
            let next = boundaries.iter().copied().find(|&i| i > at).unwrap_or(at);
            let insert = self.pick(CHARS);
            match self.next(4) {
                0 => format!("{}{insert}{}", &text[..at], &text[at..]),
                1 => format!("{}{}", &text[..at], &text[next..]),
                2 => format!("{}{insert}{}", &text[..at], &text[next..]),
                _ => text[..at].to_string(),
            }
        }
    }

    #[test]
    fn generated_and_mutated_texts() {
        let mut texts = Texts(0x5eed_1234_abcd_0001);
        let (mut total, mut scanned) = (0, 0);
        for _ in 0..40_000 {
            let text = texts.envelope();
            let mutated = texts.mutate(&text);
            for text in [text, mutated] {
                total += 1;
                scanned += usize::from(same_as_serde_json(&text));
            }
        }
        let valid = [
            r#"{"cmd":"echo","param":"0123456789"}"#,
            r#"{"channel":"room","cmd":"chat","param":{"text":"hi","list":[1,2,{"a":null}]}}"#,
        ];
        for text in valid {
            for _ in 0..5_000 {
                total += 1;
                scanned += usize::from(same_as_serde_json(&texts.mutate(text)));
            }
        }
        println!("{scanned} of {total} texts scanned by hand");
        // The generator reaches both paths, each often.
        assert!(scanned > total / 20 && scanned < total * 19 / 20, "{scanned} of {total} scanned");
    }
}
