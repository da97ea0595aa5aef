//! permessage-deflate negotiation (RFC 7692 section 7.1): reads a client's
//! `Sec-WebSocket-Extensions` offers and picks the first one the server can honour, with
//! the parameters it answers.
//!
//! The server always answers `server_no_context_takeover` (it compresses each message on
//! its own, so one compressed frame can serve every recipient and no connection holds a
//! compressor), and `client_no_context_takeover` when the client offers it. An offer of
//! `server_max_window_bits=N` (8 to 15) is answered with the same N, and the server then
//! compresses for that connection with a window of 2^N bytes (2^9 for N = 8: zlib cannot
//! open an 8-bit raw deflate window, but a 9-bit one never reaches back more than 250 bytes,
//! which an 8-bit window reads). Owns parsing and the answer's text only: no I/O, no
//! compression (that is `compression.rs`).

/// The extension's registered name.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// The largest window, and the one the server compresses with unless asked for less.
pub const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window the server compresses with (an offer of 8 is served with it).
pub const MIN_COMPRESS_WINDOW_BITS: u8 = 9;

/// What the server and a client agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The client compresses each message on its own (`client_no_context_takeover`): the
    /// server inflates it with a shared, reset decompressor and keeps nothing per connection.
    pub client_no_context_takeover: bool,
    /// The window the server compresses this connection's messages with, in bits (9 to 15).
    pub server_window_bits: u8,
    /// The `Sec-WebSocket-Extensions` value of the `101` answer.
    pub response: String,
}

/// One offer's parameters, as far as the server cares.
#[derive(Debug, Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: bool,
}

/// Picks the first permessage-deflate offer the server can honour, from every
/// `Sec-WebSocket-Extensions` header value of the request (in order); `None` declines.
pub fn negotiate<'a>(header_values: impl IntoIterator<Item = &'a str>) -> Option<Agreement> {
    negotiate_with(header_values, false)
}

/// `negotiate`, and with `always_client_no_context` the server answers
/// `client_no_context_takeover` even when the client did not offer it (RFC 7692 7.1.1.2
/// allows it): no client then needs an inflater of its own.
pub fn negotiate_with<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    always_client_no_context: bool,
) -> Option<Agreement> {
    header_values
        .into_iter()
        .flat_map(split_outside_quotes::<','>)
        .filter_map(|extension| {
            let mut parts = split_outside_quotes::<';'>(extension);
            let name = parts.next()?.trim();
            name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE).then_some(parts)
        })
        .find_map(|params| parse_offer(params).and_then(|offer| accept(offer, always_client_no_context)))
}

/// An offer's parameters; `None` for a malformed or unknown parameter, a repeated one, or
/// a window size outside 8..=15 (RFC 7692 7.1: such an offer must be declined).
fn parse_offer<'a>(params: impl Iterator<Item = &'a str>) -> Option<Offer> {
    let mut offer = Offer::default();
    let mut seen = Vec::new();
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
            None => (param.trim(), None),
        };
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return None;
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) => offer.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => offer.client_no_context_takeover = true,
            ("server_max_window_bits", Some(bits)) => offer.server_max_window_bits = Some(window_bits(bits)?),
            ("client_max_window_bits", None) => offer.client_max_window_bits = true,
            ("client_max_window_bits", Some(bits)) => {
                window_bits(bits)?;
                offer.client_max_window_bits = true;
            }
            _ => return None,
        }
        seen.push(name);
    }
    Some(offer)
}

/// The answer to an offer, or `None` when the server cannot honour it.
fn accept(offer: Offer, always_client_no_context: bool) -> Option<Agreement> {
    let client_no_context_takeover = offer.client_no_context_takeover || always_client_no_context;
    let mut response = format!("{PERMESSAGE_DEFLATE}; server_no_context_takeover");
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    // RFC 7692 7.1.2.1: the answer is the same or a smaller value; the same, always.
    if let Some(bits) = offer.server_max_window_bits {
        response.push_str(&format!("; server_max_window_bits={bits}"));
    }
    // `client_max_window_bits` offered without our answering it: the client keeps its
    // window (any size up to 15 bits), which the server inflates with a 15-bit window.
    let _ = offer.client_max_window_bits;
    let server_window_bits = offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS).max(MIN_COMPRESS_WINDOW_BITS);
    Some(Agreement { client_no_context_takeover, server_window_bits, response })
}

/// A window size parameter: a decimal 8 to 15 with no sign or leading zero.
fn window_bits(value: &str) -> Option<u8> {
    let valid = matches!(value.len(), 1 | 2) && value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0');
    let bits: u8 = value.parse().ok().filter(|_| valid)?;
    (8..=15).contains(&bits).then_some(bits)
}

/// A parameter value as a token or a quoted string (RFC 7692 7.1: the same meaning).
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|inner| !inner.contains(['"', '\\'])),
        None => Some(value).filter(|v| !v.is_empty() && !v.contains('"')),
    }
}

/// Splits on `SEP` outside double quotes.
fn split_outside_quotes<const SEP: char>(text: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    text.split(move |c: char| {
        if c == '"' {
            quoted = !quoted;
        }
        c == SEP && !quoted
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(offers: &[&str]) -> Option<String> {
        negotiate(offers.iter().copied()).map(|a| a.response)
    }

    #[test]
    fn a_browser_offer_is_answered_without_context_takeover_by_the_server() {
        let agreed = negotiate(["permessage-deflate; client_max_window_bits"]).unwrap();
        assert_eq!(agreed.response, "permessage-deflate; server_no_context_takeover");
        assert!(!agreed.client_no_context_takeover);
        let agreed = negotiate(["permessage-deflate; client_no_context_takeover"]).unwrap();
        assert_eq!(agreed.response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        assert!(agreed.client_no_context_takeover);
    }

    #[test]
    fn the_server_may_ask_every_client_to_reset_its_context() {
        let agreed = negotiate_with(["permessage-deflate; client_max_window_bits"], true).unwrap();
        assert_eq!(agreed.response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        assert!(agreed.client_no_context_takeover);
    }

    #[test]
    fn every_server_window_from_8_to_15_is_honoured_with_the_same_value() {
        for bits in 8..=15u8 {
            let agreed = negotiate([format!("permessage-deflate; server_max_window_bits={bits}").as_str()]).unwrap();
            assert_eq!(
                agreed.response,
                format!("permessage-deflate; server_no_context_takeover; server_max_window_bits={bits}")
            );
            assert_eq!(agreed.server_window_bits, bits.max(9), "8 is served with a 9-bit window");
        }
        assert_eq!(negotiate(["permessage-deflate"]).unwrap().server_window_bits, 15);
        assert_eq!(
            answer(&["permessage-deflate; server_max_window_bits=\"10\"; client_no_context_takeover"]).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"
            ),
        );
        assert!(answer(&["permessage-deflate; client_max_window_bits=\"9\""]).is_some());
    }

    #[test]
    fn malformed_offers_are_declined() {
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=015",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; mystery",
            "permessage-deflate; client_max_window_bits=\"1",
            "x-webkit-deflate-frame",
            "",
        ] {
            assert_eq!(answer(&[bad]), None, "{bad}");
        }
    }

    #[test]
    fn offers_span_several_headers_and_ignore_case_and_space() {
        assert_eq!(
            answer(&["foo; a=\"x,y\"", "  PerMessage-Deflate ;Client_No_Context_Takeover "]).as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
    }
}
