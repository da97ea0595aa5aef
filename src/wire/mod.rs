//! The wire: how switchyard's messages look as bytes, with no I/O and no state. Every other
//! layer uses it; it uses none of them.
//!
//! - `channel.rs` the channel-name alphabet
//! - `credentials.rs` `Authorization: Bearer` and `Cookie` parsing (`HttpRequest::bearer_token`,
//!   `HttpRequest::cookie`)
//! - `frame.rs` server frames encoded once into a `SharedFrame`, masking, the client-frame
//!   encoder shared by tests, benches and fuzzers
//! - `http.rs`  HTTP/1.1 request parsing (httparse), `HttpRequest`/`HttpResponse`, the
//!   RFC 6455 upgrade answer

pub mod channel;
mod credentials;
pub mod frame;
pub mod http;
