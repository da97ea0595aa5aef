//! One TCP connection to Redis: connect with a timeout, log in, send commands, read replies
//! into a reusable buffer. Blocking by design: it runs only on the cluster's own threads,
//! never on an event loop.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::resp::{self, Value};
use super::url::RedisUrl;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection and its read buffer.
pub struct RedisConn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl RedisConn {
    /// Connects, logs in (`AUTH`) if the URL has a password, and sets the I/O timeouts.
    pub fn connect(url: &RedisUrl, name: &str, timeout: Duration) -> io::Result<Self> {
        let stream = connect_any(&url.address())?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut conn = RedisConn { stream, buf: Vec::with_capacity(64 << 10), start: 0 };
        if let Some(password) = &url.password {
            let user = url.user.as_deref().unwrap_or("default");
            conn.call(&[b"AUTH", user.as_bytes(), password.as_bytes()])?;
        }
        conn.call(&[b"CLIENT", b"SETNAME", name.as_bytes()])?;
        Ok(conn)
    }

    /// A second handle on the socket, for writing from another thread.
    pub fn writer(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Sends one command and waits for its reply; a Redis error reply is an error.
    pub fn call(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::new();
        resp::command(&mut out, args);
        self.stream.write_all(&out)?;
        self.next(|value| match value {
            Value::Error(e) => Err(io::Error::other(String::from_utf8_lossy(e).into_owned())),
            _ => Ok(()),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads the next value and hands it to `f` (it borrows the buffer).
    pub fn next<T>(&mut self, f: impl FnOnce(Value<'_>) -> io::Result<T>) -> io::Result<T> {
        loop {
            if let Some((value, used)) = resp::parse(&self.buf[self.start..])? {
                let result = f(value);
                self.start += used;
                return result;
            }
            self.fill()?;
        }
    }

    /// Reads more bytes, first dropping what was consumed.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + (64 << 10), 0);
        let read = self.stream.read(&mut self.buf[len..]);
        self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
        match read? {
            0 => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "redis closed the connection")),
            _ => Ok(()),
        }
    }

    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn connect_any(address: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{address}: no address"));
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}
