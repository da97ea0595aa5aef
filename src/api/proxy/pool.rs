//! The threads that call the backend: `--proxy-concurrency` of them, fed through a bounded
//! queue (`--proxy-queue`), each sending its answer to the worker that asked, through that
//! worker's inbox.
//!
//! Owns the threads and the queue. A full queue refuses a call at once (the worker answers
//! `backend-unavailable`), so a stalled backend holds at most concurrency + queue calls in
//! memory; an event loop never waits here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::client::Client;
use super::{events, Urls};
use crate::service::bus::Command;
use crate::service::proxy::{ProxyCall, ProxyReturn};
use crate::service::Service;

/// The sending side of the pool.
pub struct Pool {
    sender: SyncSender<ProxyCall>,
}

impl Pool {
    /// Starts `threads` threads fed by a queue of `queue` calls.
    pub fn start(
        threads: usize,
        queue: usize,
        client: Client,
        urls: Arc<Urls>,
        service: Service,
    ) -> std::io::Result<Pool> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads.max(1) {
            let (receiver, client, urls, service) = (receiver.clone(), client.clone(), urls.clone(), service.clone());
            std::thread::Builder::new()
                .name(format!("switchyard-proxy-{index}"))
                .spawn(move || serve(&receiver, &client, &urls, &service))?;
        }
        Ok(Pool { sender })
    }

    /// Queues a call; gives it back when the queue is full.
    pub fn submit(&self, call: ProxyCall) -> Result<(), Box<ProxyCall>> {
        match self.sender.try_send(call) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(call) | TrySendError::Disconnected(call)) => Err(Box::new(call)),
        }
    }
}

/// One thread: take a call, make it, send the answer to the worker; until the pool is gone.
fn serve(receiver: &Mutex<Receiver<ProxyCall>>, client: &Client, urls: &Urls, service: &Service) {
    loop {
        let next = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(call) = next else { return };
        let answer = events::call(client, urls, &call.request);
        if let Err(failure) = &answer {
            log_failure(failure);
        }
        let answer = ProxyReturn { slot: call.slot, ticket: call.ticket, seq: call.seq, answer };
        if let Some(inbox) = service.shared.inboxes.get(call.worker) {
            inbox.send(Command::Proxied(Box::new(answer)));
        }
    }
}

/// Logs a failed call: at most one warning a second (a dead backend fails every call), the
/// rest at debug level; `/metrics` counts them all.
fn log_failure(failure: &crate::service::proxy::ProxyFailure) {
    static LAST_WARNING: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if LAST_WARNING.swap(now, Ordering::Relaxed) != now {
        log::warn!("event proxy: {failure}");
    } else {
        log::debug!("event proxy: {failure}");
    }
}
