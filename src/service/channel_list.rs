//! The channels one connection is in, cheap for the usual case of one: a single channel is
//! held inline (its shared name, no allocation), more are an exactly sized `Vec`.
//!
//! Both the worker (`Conn`) and the registry keep one per connection, so on a server of idle
//! connections with a channel each this saves two small allocations per connection. It owns
//! the list only; joining and leaving (limits, presence, the index) are its callers' job.
//! Order is join order until a leave, which moves the last channel into the hole.

use std::sync::Arc;

/// A connection's channels (shared names).
#[derive(Debug, Clone)]
pub enum ChannelList {
    /// Exactly one channel, inline.
    One(Arc<str>),
    /// None, or two and more (exactly sized: joins are rare).
    Many(Vec<Arc<str>>),
}

impl Default for ChannelList {
    fn default() -> Self {
        ChannelList::Many(Vec::new())
    }
}

impl ChannelList {
    /// The channels, in list order.
    pub fn as_slice(&self) -> &[Arc<str>] {
        match self {
            ChannelList::One(one) => std::slice::from_ref(one),
            ChannelList::Many(many) => many,
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Arc<str>> {
        self.as_slice().iter()
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, channel: &str) -> bool {
        // The very same string (a connection's own channel, shared with its session, as most
        // messages name it) is found without comparing bytes.
        self.iter().any(|c| std::ptr::eq(&**c, channel) || &**c == channel)
    }

    /// Adds a channel (the caller checked it is not in the list).
    pub fn push(&mut self, channel: Arc<str>) {
        match self {
            ChannelList::Many(many) if many.is_empty() => *self = ChannelList::One(channel),
            ChannelList::Many(many) => {
                many.reserve_exact(1);
                many.push(channel);
            }
            ChannelList::One(one) => *self = ChannelList::Many(vec![one.clone(), channel]),
        }
    }

    /// Removes a channel (the last one takes its place); false if it was not in the list.
    pub fn remove(&mut self, channel: &str) -> bool {
        match self {
            ChannelList::One(one) if &**one == channel => *self = ChannelList::default(),
            ChannelList::One(_) => return false,
            ChannelList::Many(many) => {
                let Some(at) = many.iter().position(|c| &**c == channel) else { return false };
                many.swap_remove(at);
                if let [last] = &many[..] {
                    *self = ChannelList::One(last.clone());
                }
            }
        }
        true
    }

    /// Heap bytes of the list itself (not the names, which are shared).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ChannelList::One(_) => 0,
            ChannelList::Many(many) => many.capacity() * std::mem::size_of::<Arc<str>>(),
        }
    }
}

impl<'a> IntoIterator for &'a ChannelList {
    type Item = &'a Arc<str>;
    type IntoIter = std::slice::Iter<'a, Arc<str>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_channel_is_inline_and_the_list_is_no_bigger_than_a_vec() {
        assert_eq!(std::mem::size_of::<ChannelList>(), 24);
        let mut list = ChannelList::default();
        assert!(list.is_empty() && list.heap_bytes() == 0);
        list.push(Arc::from("a"));
        assert!(matches!(list, ChannelList::One(_)) && list.heap_bytes() == 0);
        list.push(Arc::from("b"));
        list.push(Arc::from("c"));
        assert_eq!(list.len(), 3);
        assert!(list.contains("b") && !list.contains("d"));
        assert!(list.remove("a") && !list.remove("a"));
        let names: Vec<&str> = list.iter().map(|c| &**c).collect();
        assert_eq!(names, ["c", "b"]);
        assert!(list.remove("b"));
        assert!(matches!(&list, ChannelList::One(c) if &**c == "c"), "back inline");
        assert!(list.remove("c") && list.is_empty());
    }
}
