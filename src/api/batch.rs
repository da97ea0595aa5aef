//! `POST /api/batch`: many calls in one request, a JSON array or newline-delimited JSON of
//! items `{"op": ..., ...that call's fields}`, run in order.
//!
//! Every item is parsed and checked before any runs: a bad item refuses the whole batch
//! (400, naming the item), so a batch never half-happens. Owns the batch format only; the
//! calls themselves are `calls.rs`.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::calls::Call;
use crate::service::Service;

/// Why a batch was refused: the item (from 0) and what is wrong with it.
#[derive(Debug)]
pub struct BadItem {
    /// The item (from 0), or `None` when the body as a whole is wrong.
    pub index: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl BadItem {
    /// The refusal's body: `{"error": "item N: ...", "item": N}`.
    pub fn to_json(&self) -> Value {
        match self.index {
            Some(index) => json!({"error": format!("item {index}: {}", self.message), "item": index}),
            None => json!({"error": self.message}),
        }
    }
}

#[derive(Deserialize)]
struct Op<'a> {
    #[serde(borrow)]
    op: std::borrow::Cow<'a, str>,
}

/// Parses every item of a batch body.
pub fn parse(body: &str) -> Result<Vec<Call>, BadItem> {
    let items = split(body)?;
    if items.is_empty() {
        return Err(BadItem { index: None, message: "the batch is empty".into() });
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let bad = |message: String| BadItem { index: Some(index), message };
            let Op { op } = serde_json::from_str(item.get()).map_err(|e| bad(e.to_string()))?;
            Call::parse(&op, item.get()).map_err(bad)
        })
        .collect()
}

/// Runs parsed calls in order; one result per call.
pub fn run(calls: &[Call], service: &Service) -> Value {
    let results: Vec<Value> = calls.iter().map(|call| call.run(service)).collect();
    json!({"ok": true, "results": results})
}

/// The items of a JSON array, or of newline-delimited JSON.
fn split(body: &str) -> Result<Vec<&RawValue>, BadItem> {
    if body.trim_start().starts_with('[') {
        return serde_json::from_str(body).map_err(|e| BadItem { index: None, message: e.to_string() });
    }
    body.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| BadItem { index: Some(index), message: e.to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_and_lines_parse_alike() {
        let item = r#"{"op":"publish","channel":"c","cmd":"x","param":1}"#;
        assert_eq!(parse(&format!("[{item},{item}]")).map(|c| c.len()).ok(), Some(2));
        assert_eq!(parse(&format!("{item}\n\n{item}\n")).map(|c| c.len()).ok(), Some(2));
    }

    #[test]
    fn a_bad_item_is_named() {
        let good = r#"{"op":"publish","channel":"c","cmd":"x"}"#;
        let bad = r#"{"op":"publish","cmd":"x"}"#;
        let refused = parse(&format!("[{good},{bad}]")).err().map(|e| e.to_json()).unwrap_or_default();
        assert_eq!(refused["item"], 1);
        assert!(refused["error"].as_str().unwrap_or_default().contains("channel"));
        assert_eq!(parse(&format!("{good}\n{{oops")).err().and_then(|e| e.index), Some(1));
        assert!(parse("[]").is_err());
        assert!(parse(r#"[{"channel":"c"}]"#).is_err());
    }
}
