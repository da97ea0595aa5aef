//! HTTP/1.1 on the shared port: the incremental request parser (httparse), the RFC 6455
//! upgrade check and its `101` answer, and plain responses.
//!
//! Owns the bytes of a connection before it becomes a WebSocket. It parses whatever has
//! arrived (a request may come one byte at a time), bounds the head and the body, and turns
//! a bad request into the right status code. It does not route and does no I/O.

use std::net::SocketAddr;

use base64::Engine;
use bytes::Bytes;

/// Largest request head (request line and headers) accepted; larger gets 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most headers accepted; more gets 431.
pub const MAX_HEADERS: usize = 64;
/// Largest request body accepted (admin actions); larger gets 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A parsed HTTP request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The request method, e.g. `GET`.
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The raw query string (after `?`), possibly empty.
    pub query: String,
    /// Every header, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (at most the body limit).
    pub body: Vec<u8>,
    /// The client's address.
    pub remote: SocketAddr,
    /// HTTP minor version (1 for HTTP/1.1).
    pub version: u8,
}

impl HttpRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first query parameter named `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

/// A response to a plain HTTP request (the connection closes after it).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl HttpResponse {
    /// A response with a status, content type and body.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        HttpResponse { status, content_type, headers: Vec::new(), body: body.into() }
    }

    /// A short plain-text response; the body ends with a newline.
    pub fn text(status: u16, body: &str) -> Self {
        Self::new(status, "text/plain; charset=utf-8", format!("{body}\n"))
    }

    /// A `200` HTML page.
    pub fn html(body: &'static str) -> Self {
        Self::new(200, "text/html; charset=utf-8", body)
    }

    /// A JSON response.
    pub fn json(status: u16, body: String) -> Self {
        Self::new(status, "application/json", body)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The response on the wire; the connection closes after it.
    pub fn to_bytes(&self) -> Bytes {
        self.encode("close")
    }

    /// The response on the wire; the connection stays open for the next request.
    pub fn to_bytes_keep_alive(&self) -> Bytes {
        self.encode("keep-alive")
    }

    fn encode(&self, connection: &str) -> Bytes {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {connection}\r\nCache-Control: no-store\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = Vec::with_capacity(head.len() + self.body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.body);
        out.into()
    }
}

/// The standard reason phrase of a status code (RFC 9110 and the IANA registry); empty for
/// a code without one (RFC 9112 allows an empty reason phrase).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        _ => error_reason_phrase(status),
    }
}

fn error_reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Progress of the incremental parser.
#[derive(Debug)]
pub enum Parse {
    /// More bytes are needed.
    Partial,
    /// A complete request, and how many bytes of the buffer it took.
    Complete(Box<HttpRequest>, usize),
}

/// Parses `buffer` (everything received so far), bodies up to `MAX_BODY_BYTES`. Errors
/// are the response to send.
pub fn parse_request(buffer: &[u8], remote: SocketAddr) -> Result<Parse, HttpResponse> {
    parse_request_limited(buffer, remote, &|_| MAX_BODY_BYTES)
}

/// `parse_request` with the largest body accepted decided per path (the server API takes
/// larger bodies than the other routes).
pub fn parse_request_limited(
    buffer: &[u8],
    remote: SocketAddr,
    body_limit: &dyn Fn(&str) -> usize,
) -> Result<Parse, HttpResponse> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buffer.len() > MAX_HEAD_BYTES => {
            return Err(HttpResponse::text(431, "request head too large"))
        }
        Ok(httparse::Status::Partial) => return Ok(Parse::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpResponse::text(431, "too many headers")),
        Err(e) => return Err(HttpResponse::text(400, &format!("bad request: {e}"))),
    };
    if head_len > MAX_HEAD_BYTES {
        return Err(HttpResponse::text(431, "request head too large"));
    }
    let target = request.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let body_len = content_length(request.headers, body_limit(path))?;
    if buffer.len() < head_len + body_len {
        return Ok(Parse::Partial);
    }
    let parsed = HttpRequest {
        method: request.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: request
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
            .collect(),
        body: buffer[head_len..head_len + body_len].to_vec(),
        remote,
        version: request.version.unwrap_or(0),
    };
    Ok(Parse::Complete(Box::new(parsed), head_len + body_len))
}

fn content_length(headers: &[httparse::Header<'_>], limit: usize) -> Result<usize, HttpResponse> {
    if headers.iter().any(|h| h.name.eq_ignore_ascii_case("transfer-encoding")) {
        return Err(HttpResponse::text(501, "chunked request bodies are not supported"));
    }
    let Some(header) = headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")) else {
        return Ok(0);
    };
    let length = std::str::from_utf8(header.value)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| HttpResponse::text(400, "bad Content-Length"))?;
    if length > limit {
        // JSON, so a backend calling the server API can read it like every other API error.
        let error = serde_json::json!({ "error": format!("request body too large: at most {limit} bytes") });
        return Err(HttpResponse::json(413, error.to_string()));
    }
    Ok(length)
}

/// Checks a WebSocket upgrade as RFC 6455 section 4.2.1 asks; returns `Sec-WebSocket-Accept`.
pub fn check_upgrade(request: &HttpRequest) -> Result<String, HttpResponse> {
    let bad = |why: &str| Err(HttpResponse::text(400, why));
    if request.method != "GET" {
        return Err(HttpResponse::text(405, "a WebSocket upgrade must be a GET").with_header("Allow", "GET"));
    }
    if request.version != 1 {
        return bad("a WebSocket upgrade needs HTTP/1.1");
    }
    if request.header("host").is_none_or(|h| h.trim().is_empty()) {
        return bad("missing Host header");
    }
    if !request.header("upgrade").is_some_and(|v| header_has_token(v, "websocket")) {
        return bad("missing 'Upgrade: websocket'");
    }
    if !request.header("connection").is_some_and(|v| header_has_token(v, "upgrade")) {
        return bad("missing 'Connection: upgrade'");
    }
    if request.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(
            HttpResponse::text(426, "unsupported WebSocket version; use 13").with_header("Sec-WebSocket-Version", "13")
        );
    }
    let key = request.header("sec-websocket-key").map(str::trim).unwrap_or("");
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(decoded) if decoded.len() == 16 => Ok(accept_key(key)),
        _ => bad("Sec-WebSocket-Key must be 16 bytes in base64"),
    }
}

/// Whether a comma-separated header value holds `token` (any case).
fn header_has_token(value: &str, token: &str) -> bool {
    value.split(',').any(|part| part.trim().eq_ignore_ascii_case(token))
}

/// `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.digest().bytes())
}

/// The `101` answer to an accepted upgrade, with the negotiated extensions if any.
pub fn switching_protocols(accept: &str, extensions: Option<&str>) -> Bytes {
    let extensions = extensions.map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n")).unwrap_or_default();
    format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extensions}\r\n")
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    const GOOD: &str = "GET /example/socket?ch=room%201 HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn parse(text: &str) -> HttpRequest {
        match parse_request(text.as_bytes(), remote()) {
            Ok(Parse::Complete(request, _)) => *request,
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn accepts_the_rfc_example() {
        let request = parse(GOOD);
        assert_eq!(request.path, "/example/socket");
        assert_eq!(request.query_param("ch").as_deref(), Some("room 1"));
        assert_eq!(check_upgrade(&request).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn every_prefix_is_partial() {
        for end in 0..GOOD.len() {
            assert!(matches!(parse_request(&GOOD.as_bytes()[..end], remote()), Ok(Parse::Partial)), "at {end}");
        }
    }

    #[test]
    fn rejections_have_the_right_status() {
        let cases = [
            (GOOD.replace("GET", "POST"), 405),
            (GOOD.replace("HTTP/1.1", "HTTP/1.0"), 400),
            (GOOD.replace("Host: x\r\n", ""), 400),
            (GOOD.replace("Upgrade: WebSocket", "Upgrade: h2c"), 400),
            (GOOD.replace("keep-alive, Upgrade", "keep-alive"), 400),
            (GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), 400),
            (GOOD.replace("Version: 13", "Version: 8"), 426),
        ];
        for (text, status) in cases {
            assert_eq!(check_upgrade(&parse(&text)).unwrap_err().status, status, "{text}");
        }
    }

    #[test]
    fn oversized_heads_get_431_and_garbage_400() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(parse_request(big.as_bytes(), remote()).unwrap_err().status, 431);
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("X{i}: y\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse_request(text.as_bytes(), remote()).unwrap_err().status, 431);
        assert_eq!(parse_request(b"\x16\x03\x01garbage\r\n\r\n", remote()).unwrap_err().status, 400);
    }

    #[test]
    fn status_lines_carry_the_standard_reason_phrase() {
        let line = |status| {
            let bytes = HttpResponse::text(status, "x").to_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            text.lines().next().unwrap_or_default().to_string()
        };
        assert_eq!(line(302), "HTTP/1.1 302 Found");
        assert_eq!(line(303), "HTTP/1.1 303 See Other");
        assert_eq!(line(415), "HTTP/1.1 415 Unsupported Media Type");
        assert_eq!(line(299), "HTTP/1.1 299 ");
    }

    #[test]
    fn the_body_limit_is_per_path() {
        let text = format!("POST /api/x HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY_BYTES + 1);
        assert_eq!(parse_request(text.as_bytes(), remote()).unwrap_err().status, 413);
        let larger = |path: &str| if path.starts_with("/api/") { 1 << 20 } else { MAX_BODY_BYTES };
        assert!(matches!(parse_request_limited(text.as_bytes(), remote(), &larger), Ok(Parse::Partial)));
        let other = text.replace("/api/x", "/other");
        assert_eq!(parse_request_limited(other.as_bytes(), remote(), &larger).unwrap_err().status, 413);
    }

    #[test]
    fn waits_for_the_body() {
        let text = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab";
        assert!(matches!(parse_request(text.as_bytes(), remote()), Ok(Parse::Partial)));
        let full = format!("{text}cde");
        assert_eq!(parse(&full).body, b"abcde");
    }
}
