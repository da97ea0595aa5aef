//! One proxied event as HTTP: the JSON body POSTed for `connect`, `subscribe` and
//! `command` (with `"event"` naming it, and the `X-Switchyard-Event` header), and the
//! backend's answer parsed into what the worker applies.
//!
//! Owns the wire shapes on the backend side; runs on the pool's threads.

use serde::Serialize;

use super::client::Client;
use super::Urls;
use crate::service::proxy::{CommandAnswer, ConnectAnswer, ProxyAnswer, ProxyFailure, ProxyRequest, SubscribeAnswer};

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    event: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// Calls the backend about one event.
pub fn call(client: &Client, urls: &Urls, request: &ProxyRequest) -> Result<ProxyAnswer, ProxyFailure> {
    let unavailable = || ProxyFailure::Unavailable("no URL for this event".into());
    match request {
        ProxyRequest::Connect(event) => {
            let answer = post(client, urls.connect.as_deref().ok_or_else(unavailable)?, "connect", event)?;
            Ok(ProxyAnswer::Connect(parse_or::<ConnectAnswer>(answer, Some(ConnectAnswer::default()))?))
        }
        ProxyRequest::Subscribe(event) => {
            let answer = post(client, urls.subscribe.as_deref().ok_or_else(unavailable)?, "subscribe", event)?;
            let verdict = parse_or::<SubscribeAnswer>(answer, None)?;
            Ok(ProxyAnswer::Subscribe(event.channel.clone(), verdict))
        }
        ProxyRequest::Command(event) => {
            let answer = post(client, urls.command.as_deref().ok_or_else(unavailable)?, "command", event)?;
            let answer = parse_or::<CommandAnswer>(answer, Some(CommandAnswer::default()))?;
            Ok(ProxyAnswer::Command(event.channel.clone(), answer))
        }
    }
}

fn post<T: Serialize>(
    client: &Client,
    url: &str,
    event: &'static str,
    body: &T,
) -> Result<Option<Vec<u8>>, ProxyFailure> {
    let json = serde_json::to_vec(&Tagged { event, body }).map_err(|e| ProxyFailure::BadAnswer(e.to_string()))?;
    client.post(url, event, &json)
}

/// The answer parsed, or `empty` when there was none (`None`: an answer is required).
fn parse_or<T: serde::de::DeserializeOwned>(answer: Option<Vec<u8>>, empty: Option<T>) -> Result<T, ProxyFailure> {
    match answer {
        Some(body) => serde_json::from_slice(&body).map_err(|e| ProxyFailure::BadAnswer(e.to_string())),
        None => empty.ok_or_else(|| ProxyFailure::BadAnswer("empty answer".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::proxy::CommandEvent;

    #[test]
    fn events_carry_their_name_and_raw_param() {
        let event = CommandEvent {
            conn: uuid::Uuid::nil(),
            user: "u".into(),
            channel: "c".into(),
            cmd: "say".into(),
            param: serde_json::value::RawValue::from_string(r#"{"a": [1, 2]}"#.into()).unwrap(),
        };
        let json = serde_json::to_string(&Tagged { event: "command", body: &event }).unwrap();
        assert!(json.starts_with(r#"{"event":"command","conn":"#), "{json}");
        assert!(json.ends_with(r#""param":{"a": [1, 2]}}"#), "{json}");
    }

    #[test]
    fn garbage_answers_are_bad_answers() {
        let garbage = parse_or::<CommandAnswer>(Some(b"<html>".to_vec()), None);
        assert!(matches!(garbage, Err(ProxyFailure::BadAnswer(_))));
        assert!(parse_or::<SubscribeAnswer>(None, None).is_err());
        assert!(parse_or::<CommandAnswer>(None, Some(CommandAnswer::default())).is_ok());
    }
}
