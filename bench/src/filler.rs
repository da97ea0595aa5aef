//! Payload filler for `echo` and `fanout`: one repeated character (the default; it deflates to
//! almost nothing) or everyday words with an 8-digit hex id every fourth token or so (`--words`;
//! deflates about 2x, like chat text with ids in it), so compressed runs measure a realistic
//! payload. Only ASCII letters, digits and spaces: it sits inside a JSON string unescaped. It
//! owns no I/O.

const WORDS: &[&str] = &[
    "hello",
    "everyone",
    "how",
    "is",
    "it",
    "going",
    "today",
    "the",
    "build",
    "passed",
    "again",
    "and",
    "deploy",
    "scheduled",
    "for",
    "tonight",
    "after",
    "review",
    "meeting",
    "lunch",
    "coffee",
    "anyone",
    "up",
    "a",
    "walk",
    "later",
    "thanks",
    "see",
    "you",
    "tomorrow",
    "order",
    "shipped",
    "price",
    "user",
];

/// `len` bytes: `fill` repeated, or words when `words` is set.
pub fn text(len: usize, fill: u8, words: bool) -> Vec<u8> {
    if !words {
        return vec![fill; len];
    }
    let mut out = Vec::with_capacity(len + 16);
    let mut state: u32 = 0x9e37_79b9;
    while out.len() < len {
        if next(&mut state).is_multiple_of(4) {
            out.extend_from_slice(format!("{:08x}", next(&mut state)).as_bytes());
        } else {
            out.extend_from_slice(WORDS[next(&mut state) as usize % WORDS.len()].as_bytes());
        }
        out.push(b' ');
    }
    out.truncate(len);
    out
}

/// xorshift: deterministic, so every run sends the same text.
fn next(state: &mut u32) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_fills_have_the_asked_length_and_need_no_json_escape() {
        for len in [0, 1, 64, 1024] {
            for words in [false, true] {
                let text = text(len, b'x', words);
                assert_eq!(text.len(), len);
                assert!(text.iter().all(|b| b.is_ascii_alphanumeric() || *b == b' '));
            }
        }
        assert_ne!(text(64, b'x', true), text(64, b'x', false));
    }
}
