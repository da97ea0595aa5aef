//! The peer's channel registry: a `tokio::sync::broadcast` sender per channel name, created on
//! first join and removed when the last member leaves. Generic over the message type, so each
//! engine broadcasts its own cheaply cloned text (tungstenite's `Utf8Bytes`, `bytes::Bytes`);
//! it knows nothing of sockets.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

pub type Sender<M> = broadcast::Sender<M>;

pub struct Registry<M> {
    capacity: usize,
    channels: Mutex<HashMap<String, Sender<M>>>,
}

impl<M: Clone> Registry<M> {
    pub fn new(capacity: usize) -> Self {
        Registry { capacity: capacity.max(1), channels: Mutex::new(HashMap::new()) }
    }

    /// The channel's sender, creating the channel if needed.
    pub fn sender(&self, name: &str) -> Sender<M> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(name.to_string()).or_insert_with(|| broadcast::channel(self.capacity).0).clone()
    }

    /// The sender of an existing channel.
    pub fn existing(&self, name: &str) -> Option<Sender<M>> {
        let channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.get(name).cloned()
    }

    /// Forgets the channel when nobody subscribes to it any more.
    pub fn release(&self, name: &str) {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if channels.get(name).is_some_and(|sender| sender.receiver_count() == 0) {
            channels.remove(name);
        }
    }
}
