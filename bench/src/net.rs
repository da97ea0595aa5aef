//! Opening non-blocking client sockets: the optional source address (127.0.0.2 and up, so
//! tens of thousands of connections do not run out of ephemeral ports), `TCP_NODELAY`, and
//! the hand-over to `mio`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Connections opened from one source address before moving to the next.
pub const CONNECTIONS_PER_SOURCE: usize = 1_000;

/// The loopback source address for the `index`-th connection: 127.0.0.2, 127.0.0.3, ...
pub fn loopback_source(index: usize) -> IpAddr {
    let step = (index / CONNECTIONS_PER_SOURCE) as u32;
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + step))
}

/// Loopback source addresses that short-lived connections rotate over (TIME_WAIT spreads).
pub const ROTATING_SOURCES: u32 = 200;

/// The source address for the `count`-th short-lived connection: 127.0.0.2 ..= 127.0.0.201.
pub fn rotating_source(count: u64) -> IpAddr {
    let step = (count % u64::from(ROTATING_SOURCES)) as u32;
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + step))
}

/// Starts a non-blocking connect to `target`, bound to `source` when given.
pub fn start_connect(target: SocketAddr, source: Option<IpAddr>) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(source) = source {
        bind_source_without_port(&socket)?;
        socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    }
    match socket.connect(&SockAddr::from(target)) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// Lets the kernel pick the source port at connect time (by the whole 4-tuple), not at bind.
fn bind_source_without_port(socket: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let enable: libc::c_int = 1;
    // SAFETY: a valid socket fd and a pointer to a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&enable as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A free loopback port right now (bound and released; good enough for a fresh server).
pub fn free_loopback_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_advance_every_block() {
        assert_eq!(loopback_source(0), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        let next = loopback_source(CONNECTIONS_PER_SOURCE);
        assert_eq!(next, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    }
}
