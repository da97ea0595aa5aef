//! The write half of a loop turn: every connection the core marked dirty gets one vectored
//! write of its out-queue, and the socket is re-registered or shut down as the core decides.
//! This and `worker.rs` are the only places that touch sockets; the decisions are the
//! core's (`core/output.rs`).

use mio::{Interest, Registry, Token};

use super::core::{AfterWrite, WorkerCore};

/// Writes each dirty connection once (sockets start readable-only: writable interest is
/// only asked for once a socket has refused bytes, so there is no wake-up per ACK). Without
/// a registry (the hand-driven harness) nothing is re-registered.
pub(crate) fn flush_dirty(core: &mut WorkerCore, registry: Option<&Registry>) {
    let dirty = core.take_dirty();
    for &token in &dirty {
        let Some(conn) = core.writable_conn(token) else { continue };
        let result = conn.out.flush_into(&mut conn.socket);
        match core.on_flushed(token, result) {
            AfterWrite::Nothing => {}
            AfterWrite::ShutdownWrite => {
                if let Some(conn) = core.conns.get_mut(token) {
                    let _ = conn.socket.shutdown(std::net::Shutdown::Write);
                }
            }
            AfterWrite::WaitWritable => {
                if let (Some(conn), Some(registry)) = (core.conns.get_mut(token), registry) {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) = registry.reregister(&mut conn.socket, Token(token), interest) {
                        log::warn!("connection {token}: cannot wait for writability: {e}");
                    }
                }
            }
        }
    }
    core.recycle_dirty(dirty);
}
