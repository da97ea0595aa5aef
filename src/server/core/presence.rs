//! Presence announcements: who joined or left a channel, told to its other members.

use super::*;

#[derive(Serialize)]
struct OnlineUpdate<'a> {
    #[serde(rename = "userID")]
    user_id: &'a str,
    connected: bool,
}

impl WorkerCore {
    /// `online-update` to the other members of a channel, on every worker.
    pub(super) fn announce(&mut self, channel: &str, user: &str, connected: bool, except: ConnId) {
        let update = OnlineUpdate { user_id: user, connected };
        if let Err(e) = ops::write_channel(self, None, "online-update", &update, channel, Some(except)) {
            log::warn!("online-update not sent: {e}");
        }
    }
}
