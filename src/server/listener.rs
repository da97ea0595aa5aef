//! The listening sockets: one per worker on the same address with `SO_REUSEPORT`, so the
//! kernel spreads new connections across workers. With port 0, the first bind picks the
//! port and the others share it.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

const BACKLOG: i32 = 4096;

pub fn bind_all(address: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    refuse_shared_port(address)?;
    let mut listeners = Vec::with_capacity(count);
    let mut address = address;
    for _ in 0..count {
        let listener = bind(address)?;
        address = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// `SO_REUSEPORT` would let a second server silently share a port with a running one and
/// split its clients; a probe bind without it fails with "address in use" in that case.
fn refuse_shared_port(address: SocketAddr) -> io::Result<()> {
    if address.port() == 0 {
        return Ok(());
    }
    let probe = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&address.into()).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {address}: {e}")))
}

fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}
