//! The load scenarios (echo, fanout, conns, storm, churn, api) and what they share: the target, the
//! server's pid, and the warm-up and measuring times.

pub mod api;
mod api_io;
pub mod churn;
pub mod conns;
pub mod echo;
pub mod fanout;
pub mod storm;

use std::net::SocketAddr;
use std::time::Duration;

/// Settings every scenario takes.
#[derive(Debug, Clone)]
pub struct Common {
    pub target: SocketAddr,
    /// The server's pid, for its CPU and RSS.
    pub server_pid: Option<u32>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Connections upgrading at once while opening.
    pub connect_concurrency: usize,
    /// Offer permessage-deflate (`client_no_context_takeover`) and inflate compressed frames.
    pub deflate: bool,
}

/// Connections that share a channel when a path template says `{g}`.
pub const GROUP_SIZE: usize = 100;

/// Expands a path template: `{i}` is the connection index, `{g}` its group of [`GROUP_SIZE`].
pub fn path_for(template: &str, index: usize) -> String {
    template.replace("{i}", &index.to_string()).replace("{g}", &(index / GROUP_SIZE).to_string())
}

/// How `conns` spreads its connections over channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelLayout {
    /// A channel of its own per connection (no presence traffic at all).
    Each,
    /// Channels of [`GROUP_SIZE`].
    Groups,
    /// All in the one channel of this name.
    One(String),
}

/// The channel every connection of a one-channel run joins by default.
pub const BIG_CHANNEL: &str = "big";

impl ChannelLayout {
    /// `each`, `groups` or `one` (into [`BIG_CHANNEL`]).
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "each" => Ok(ChannelLayout::Each),
            "groups" => Ok(ChannelLayout::Groups),
            "one" => Ok(ChannelLayout::One(BIG_CHANNEL.into())),
            other => Err(format!("--channels {other}: expected one, each or groups")),
        }
    }

    /// The route template for [`path_for`].
    pub fn path_template(&self) -> String {
        match self {
            ChannelLayout::Each => "/example/socket?ch=idle-{i}".into(),
            ChannelLayout::Groups => "/example/socket?ch=idle-{g}".into(),
            ChannelLayout::One(name) => format!("/example/socket?ch={name}"),
        }
    }

    /// Short name for tables: `a channel each`, `channels of 100`, `one channel`.
    pub fn describe(&self) -> &'static str {
        match self {
            ChannelLayout::Each => "a channel each",
            ChannelLayout::Groups => "channels of 100",
            ChannelLayout::One(_) => "one channel",
        }
    }
}

/// Events per second.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_expand_to_paths() {
        let each = ChannelLayout::parse("each").map(|layout| layout.path_template());
        assert_eq!(each.map(|t| path_for(&t, 7)), Ok("/example/socket?ch=idle-7".into()));
        let groups = ChannelLayout::parse("groups").map(|layout| path_for(&layout.path_template(), 250));
        assert_eq!(groups, Ok("/example/socket?ch=idle-2".into()));
        let one = ChannelLayout::parse("one").map(|layout| path_for(&layout.path_template(), 9_999));
        assert_eq!(one, Ok("/example/socket?ch=big".into()));
        let named = ChannelLayout::One("lobby".into()).path_template();
        assert_eq!(path_for(&named, 3), "/example/socket?ch=lobby");
        assert!(ChannelLayout::parse("many").is_err());
    }
}
