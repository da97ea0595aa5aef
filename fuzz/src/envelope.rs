//! Body of the `envelope` fuzz target: a client message read two ways, by `Inbound::parse`
//! (a hand-written scanner for the plain envelope, serde_json for anything else) and by
//! serde_json's struct parse alone, which is what `Inbound::parse` was before the scanner.
//! On every text they must agree: both accept with the same `channel`, `cmd` and raw
//! `param`, or both refuse with the same error.

use switchyard::service::message::Inbound;

pub fn run(data: &[u8]) {
    // A WebSocket text message is UTF-8 (the frame reader checks it before any parse).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = Inbound::parse(text);
    let serde = serde_json::from_str::<Inbound<'_>>(text);
    match (&ours, &serde) {
        (Ok(ours), Ok(serde)) => {
            assert_eq!(ours.channel.as_deref(), serde.channel.as_deref(), "channel of {text:?}");
            assert_eq!(ours.cmd, serde.cmd, "cmd of {text:?}");
            assert_eq!(ours.param.map(|p| p.get()), serde.param.map(|p| p.get()), "param of {text:?}");
        }
        (Err(ours), Err(serde)) => assert_eq!(ours.to_string(), serde.to_string(), "error of {text:?}"),
        _ => panic!("{text:?}: Inbound::parse accepts: {}, serde_json accepts: {}", ours.is_ok(), serde.is_ok()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_odd_and_broken_envelopes_agree() {
        for text in [
            r#"{"cmd":"echo","param":"x"}"#,
            r#" {"channel": null, "param": [1, {"a": "\u00e9"}], "cmd": "c"} "#,
            r#"{"cmd":"a","cmd":"b"}"#,
            r#"{"c\u006dd":"a"}"#,
            r#"{"cmd":"a","param":nul}"#,
            r#"["room","cmd",1]"#,
            "{\"cmd\":\"tab\there\"}",
            "",
        ] {
            super::run(text.as_bytes());
        }
        super::run(b"\xff{\"cmd\":\"a\"}");
    }
}
