//! The README against the code: the embedding example is `examples/chat.rs` verbatim (which
//! `cargo test` and clippy build), every `error` code the server can send is in the README's
//! list, and the documented limits and refusals are the ones the code has.

mod common;

use std::path::PathBuf;

use common::rust_files;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The section of the README under `heading`, up to the next heading of any level.
fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme.find(heading).unwrap_or_else(|| panic!("README has no {heading}"));
    let body = &readme[start + heading.len()..];
    let end = ["\n## ", "\n### "].iter().filter_map(|h| body.find(h)).min().unwrap_or(body.len());
    &body[..end]
}

/// The quoted string literal right after each occurrence of `marker` in `text`.
fn literals_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let trimmed = rest.trim_start();
        if let Some(literal) = trimmed.strip_prefix('"') {
            if let Some(end) = literal.find('"') {
                found.push(&literal[..end]);
            }
        }
    }
    found
}

/// Every `code` an `error` message can carry: `send_error(slot, "code", ..)` in the worker
/// core, and each arm of `HandlerError::code`.
fn error_codes_in_source() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut codes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for code in literals_after(&text, "send_error(slot,") {
            codes.push(code.to_string());
        }
        if let Some(start) = text.find("pub fn code(&self) -> &'static str") {
            let body = &text[start..start + text[start..].find("\n    }\n").unwrap()];
            codes.extend(literals_after(body, "=>").into_iter().map(str::to_string));
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn every_error_code_the_server_sends_is_listed() {
    let codes = error_codes_in_source();
    for expected in ["bad-json", "bad-param", "limit", "unknown-command", "error", "refresh-failed"] {
        assert!(codes.iter().any(|c| c == expected), "the source scan finds {expected}: {codes:?}");
    }
    let readme = read("README.md");
    let list = section(&readme, "### Error codes");
    for code in &codes {
        assert!(list.contains(&format!("| `{code}` |")), "README's error codes lack `{code}`");
    }
    let listed = list.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(listed, codes.len(), "README lists a code the server never sends: {codes:?}\n{list}");
}

#[test]
fn the_embedding_example_is_examples_chat_verbatim() {
    let readme = read("README.md");
    let embedding = section(&readme, "## Embedding");
    let start = embedding.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let block = &embedding[start..start + embedding[start..].find("```").unwrap()];
    let example = read("examples/chat.rs");
    let code: Vec<&str> = example.lines().skip_while(|l| l.starts_with("//!") || l.is_empty()).collect();
    assert_eq!(block.trim_end(), code.join("\n").trim_end(), "README's embedding block differs from examples/chat.rs");
    assert!(block.contains("fn main()"), "a complete program");
}

#[test]
fn documented_limits_and_refusals_match_the_code() {
    let readme = read("README.md");
    assert_eq!(switchyard::example::MAX_TEXT, 4096);
    assert!(readme.contains("at most 4,096 bytes"), "the chat text limit");
    assert!(readme.contains(&format!("at most {} characters", switchyard::example::MAX_NAME_CHARS)));
    let loopback = serde_json::json!({ "error": switchyard::admin::auth::LOOPBACK_ONLY.message }).to_string();
    let cross_site = serde_json::json!({ "error": switchyard::admin::auth::CROSS_SITE.message }).to_string();
    assert!(readme.contains(&loopback), "README quotes the loopback refusal {loopback}");
    assert!(readme.contains(&cross_site), "README quotes the cross-site refusal {cross_site}");
    assert!(!readme.contains("say nothing else"));
    assert!(readme.contains("1 to 128 bytes of letters and digits"));
    assert_eq!(switchyard::wire::channel::MAX_CHANNEL_NAME_BYTES, 128);
}
