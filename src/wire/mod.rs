//! The wire: how switchyard's messages look as bytes, with no I/O and no state. Every other
//! layer uses it; it uses none of them.
//!
//! - `channel.rs` the channel-name alphabet
//! - `credentials.rs` `Authorization: Bearer` and `Cookie` parsing (`HttpRequest::bearer_token`,
//!   `HttpRequest::cookie`)
//! - `deflate.rs` permessage-deflate negotiation: the `Sec-WebSocket-Extensions` offers read,
//!   the answer chosen (RFC 7692 7.1)
//! - `compression.rs` the permessage-deflate codec: a message deflated into one RSV1 frame,
//!   a client message inflated with a bounded output
//! - `fanout.rs` a message's frames for many recipients: the plain frame, and its compressed
//!   twin made at most once, on first need
//! - `frame.rs` server frames encoded once into a `SharedFrame`, masking, the client-frame
//!   encoder shared by tests, benches and fuzzers
//! - `http.rs`  HTTP/1.1 request parsing (httparse), `HttpRequest`/`HttpResponse`, the
//!   RFC 6455 upgrade answer

pub mod channel;
pub mod compression;
mod credentials;
pub mod deflate;
pub mod fanout;
pub mod frame;
pub mod http;
