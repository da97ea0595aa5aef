//! Channel names: the alphabet every way in (upgrade, `join-room`, `Service::join`, the
//! admin and the server API) applies, so a name is safe to show, log and use as a key.
//! Pure functions; it must not know where a channel lives.

/// Longest channel name, in bytes.
pub const MAX_CHANNEL_NAME_BYTES: usize = 128;

/// The channel-name rule in words, for error messages and the README.
pub const CHANNEL_NAME_RULE: &str =
    "a channel name is 1 to 128 bytes of letters, digits and - _ . : @ (no spaces, no '/', no '..')";

/// A channel name anyone may use (upgrade, `join`, `join-room`, the admin): 1 to 128 bytes of
/// letters and digits (any script) and `-_.:@`, without `..`. So no whitespace, control or
/// bidirectional-override characters, no `/`, nothing that reads as a path.
pub fn valid_channel_name(name: &str) -> bool {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@');
    !name.is_empty() && name.len() <= MAX_CHANNEL_NAME_BYTES && name.chars().all(allowed) && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_follow_the_alphabet() {
        for good in ["lobby", "example-1a2b3c4d", "team_7.general", "user:alice@example.com", "café", "部屋", "a.b"]
        {
            assert!(valid_channel_name(good), "{good:?} should be accepted");
        }
        let long = "a".repeat(MAX_CHANNEL_NAME_BYTES + 1);
        for bad in [
            "",
            "room 1",
            "../..",
            "..",
            "a/b",
            "a\\b",
            "evil\u{202e}txt",
            "tab\there",
            "nl\n",
            "nbsp\u{a0}x",
            "zw\u{200b}j",
            "a?b",
            "<b>",
            long.as_str(),
        ] {
            assert!(!valid_channel_name(bad), "{bad:?} should be refused");
        }
        assert!(valid_channel_name(&"a".repeat(MAX_CHANNEL_NAME_BYTES)));
    }
}
