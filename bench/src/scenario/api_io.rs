//! Blocking helpers of the `api` scenario: a keep-alive HTTP/1.1 client for the server API,
//! a blocking WebSocket client (upgrade, masked frames out, frames in), and the backend the
//! event proxy calls (a std `TcpListener`, a thread per keep-alive connection, answering
//! every command with `{"reply": {"cmd", "param"}}`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::wire;

/// One keep-alive connection to the server API.
pub struct HttpClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
}

impl HttpClient {
    pub fn connect(target: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(target)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(HttpClient { writer: stream.try_clone()?, reader: BufReader::new(stream), host: target.to_string() })
    }

    /// POSTs `body`; the status and the answer's body.
    pub fn post(&mut self, path: &str, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.writer.write_all(&request)?;
        read_response(&mut self.reader)
    }
}

fn read_response(reader: &mut BufReader<TcpStream>) -> io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other("no status"))?;
    let mut length = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| io::Error::other("bad length"))?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((status, body))
}

/// A blocking WebSocket client (buffered reads: one syscall for many frames).
pub struct WsClient {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl WsClient {
    pub fn connect(target: SocketAddr, path: &str) -> io::Result<Self> {
        let mut stream = TcpStream::connect(target)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(&wire::upgrade_request(&target.to_string(), path))?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte)?;
            head.push(byte[0]);
        }
        if !head.starts_with(b"HTTP/1.1 101") {
            return Err(io::Error::other(format!("upgrade refused: {}", String::from_utf8_lossy(&head))));
        }
        Ok(WsClient { reader: BufReader::with_capacity(256 * 1024, stream.try_clone()?), stream })
    }

    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        let mut frame = Vec::with_capacity(text.len() + 14);
        wire::encode_client_frame(&mut frame, wire::OPCODE_TEXT, text.as_bytes(), [0x11, 0x22, 0x33, 0x44]);
        self.stream.write_all(&frame)
    }

    /// The next text message (pings are answered, other control frames skipped).
    pub fn read_text(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let mut header = [0u8; 2];
            self.reader.read_exact(&mut header)?;
            let length = match header[1] & 0x7f {
                126 => {
                    let mut ext = [0u8; 2];
                    self.reader.read_exact(&mut ext)?;
                    u16::from_be_bytes(ext) as usize
                }
                127 => {
                    let mut ext = [0u8; 8];
                    self.reader.read_exact(&mut ext)?;
                    u64::from_be_bytes(ext) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0; length];
            self.reader.read_exact(&mut payload)?;
            match header[0] & 0x0f {
                wire::OPCODE_TEXT => return Ok(payload),
                wire::OPCODE_PING => {
                    let mut pong = Vec::new();
                    wire::encode_client_frame(&mut pong, wire::OPCODE_PONG, &payload, [1, 2, 3, 4]);
                    self.stream.write_all(&pong)?;
                }
                wire::OPCODE_CLOSE => return Err(io::ErrorKind::ConnectionAborted.into()),
                _ => {}
            }
        }
    }
}

/// Starts the backend on a free loopback port; it serves until the process exits.
pub fn start_backend() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let _ = serve_backend(stream);
            });
        }
    });
    Ok(addr)
}

fn serve_backend(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let answer = serde_json::json!({"reply": {"cmd": event["cmd"], "param": event["param"]}}).to_string();
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", answer.len());
        writer.write_all(format!("{head}{answer}").as_bytes())?;
    }
}
