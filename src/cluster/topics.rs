//! Names of the cluster's Redis channels and keys, from the prefix: `{prefix}:ch:{channel}`,
//! `{prefix}:user:{id}`, `{prefix}:all`, the presence and heartbeat channel
//! `{prefix}:nodes`, the expiring keys `{prefix}:node:{id}`, and a channel's history keys
//! `{prefix}:hist:{channel}` and `{prefix}:meta:{channel}`. Naming only.

use crate::service::backplane::Scope;

/// A scope that owns its name, to cross threads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OwnedScope {
    Channel(String),
    User(String),
    All,
}

impl OwnedScope {
    pub fn of(scope: Scope<'_>) -> Self {
        match scope {
            Scope::Channel(c) => OwnedScope::Channel(c.to_string()),
            Scope::User(u) => OwnedScope::User(u.to_string()),
            Scope::All => OwnedScope::All,
        }
    }
}

/// What a Redis channel carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Topic<'a> {
    Write(Scope<'a>),
    Nodes,
}

#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(prefix: &str) -> Self {
        Topics { prefix: prefix.to_string() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn of(&self, scope: &OwnedScope) -> String {
        match scope {
            OwnedScope::Channel(c) => format!("{}:ch:{c}", self.prefix),
            OwnedScope::User(u) => format!("{}:user:{u}", self.prefix),
            OwnedScope::All => format!("{}:all", self.prefix),
        }
    }

    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    pub fn node_key(&self, node: &uuid::Uuid) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    /// A channel's stored messages and its position (see `history/scripts.rs`).
    pub fn history(&self, channel: &str) -> super::history::scripts::HistoryKeys {
        let prefix = &self.prefix;
        super::history::scripts::HistoryKeys {
            stream: format!("{prefix}:hist:{channel}"),
            meta: format!("{prefix}:meta:{channel}"),
        }
    }

    /// What a Redis channel name means, if it is one of ours.
    pub fn parse<'a>(&self, name: &'a str) -> Option<Topic<'a>> {
        let rest = name.strip_prefix(self.prefix.as_str())?.strip_prefix(':')?;
        if let Some(channel) = rest.strip_prefix("ch:") {
            return Some(Topic::Write(Scope::Channel(channel)));
        }
        if let Some(user) = rest.strip_prefix("user:") {
            return Some(Topic::Write(Scope::User(user)));
        }
        match rest {
            "all" => Some(Topic::Write(Scope::All)),
            "nodes" => Some(Topic::Nodes),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let topics = Topics::new("sy");
        for scope in [OwnedScope::Channel("a:b".into()), OwnedScope::User("u".into()), OwnedScope::All] {
            let name = topics.of(&scope);
            let Some(Topic::Write(parsed)) = topics.parse(&name) else { panic!("{name}") };
            assert_eq!(OwnedScope::of(parsed), scope);
        }
        assert_eq!(topics.parse("sy:nodes"), Some(Topic::Nodes));
        assert_eq!(topics.parse("syx:all"), None);
        assert_eq!(topics.parse("other:ch:x"), None);
    }
}
