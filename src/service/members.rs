//! A channel's member set, cheap while small: one member is held inline (no allocation), up
//! to [`FEW`] members are a plain exactly-sized `Vec` (one allocation of a few bytes, found by
//! a short scan), more are an `IndexSet` (O(1) insert and remove). Most channels of a big
//! server have one or a few members (a channel per user, per document, per room), so the set
//! a channel costs is what an idle connection costs: nothing beyond its 24 bytes for one
//! member, tens of bytes for a few, instead of the ~150 of a hash set's smallest table.
//!
//! It owns membership only; what a member is (a worker slot, a connection id) is the
//! caller's. Order is insertion order until a removal, which moves the last member into the
//! hole (`swap_remove`) in both forms.

use std::hash::Hash;

use indexmap::IndexSet;

/// Members kept in the small form at most; a set that grows past this becomes an `IndexSet`,
/// one that shrinks to half of it becomes small again.
pub const FEW: usize = 16;

type Hasher = foldhash::fast::RandomState;

/// A set of channel members.
#[derive(Debug, Clone)]
pub enum Members<T> {
    /// Exactly one member, inline.
    One(T),
    /// None, or two to [`FEW`].
    Few(Vec<T>),
    Many(Box<IndexSet<T, Hasher>>),
}

impl<T> Default for Members<T> {
    fn default() -> Self {
        Members::Few(Vec::new())
    }
}

impl<T: Copy + Eq + Hash> Members<T> {
    /// Adds a member; false if it was one already.
    pub fn insert(&mut self, member: T) -> bool {
        match self {
            Members::One(one) if *one == member => false,
            Members::One(one) => {
                let mut few = Vec::with_capacity(2);
                few.extend([*one, member]);
                *self = Members::Few(few);
                true
            }
            Members::Few(few) if few.is_empty() => {
                *self = Members::One(member);
                true
            }
            Members::Few(few) if few.contains(&member) => false,
            Members::Few(few) if few.len() < FEW => {
                if few.len() == few.capacity() {
                    few.reserve_exact(few.len()); // 2, 4, 8, 16: doubled exactly
                }
                few.push(member);
                true
            }
            Members::Few(few) => {
                let mut many: IndexSet<T, Hasher> = few.drain(..).collect();
                many.insert(member);
                *self = Members::Many(Box::new(many));
                true
            }
            Members::Many(many) => many.insert(member),
        }
    }

    /// Removes a member (the last one takes its place); false if it was not one.
    pub fn swap_remove(&mut self, member: &T) -> bool {
        match self {
            Members::One(one) if one == member => {
                *self = Members::default();
                true
            }
            Members::One(_) => false,
            Members::Few(few) => match few.iter().position(|m| m == member) {
                Some(at) => {
                    few.swap_remove(at);
                    if let [last] = few[..] {
                        *self = Members::One(last);
                    } else if few.len() <= few.capacity() / 4 {
                        few.shrink_to_fit();
                    }
                    true
                }
                None => false,
            },
            Members::Many(many) => {
                let removed = many.swap_remove(member);
                if many.len() <= FEW / 2 {
                    *self = Members::Few(many.iter().copied().collect());
                }
                removed
            }
        }
    }

    pub fn contains(&self, member: &T) -> bool {
        match self {
            Members::One(one) => one == member,
            Members::Few(few) => few.contains(member),
            Members::Many(many) => many.contains(member),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Members::One(_) => 1,
            Members::Few(few) => few.len(),
            Members::Many(many) => many.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The members, in set order.
    pub fn iter(&self) -> Iter<'_, T> {
        match self {
            Members::One(one) => Iter::Few(std::slice::from_ref(one).iter()),
            Members::Few(few) => Iter::Few(few.iter()),
            Members::Many(many) => Iter::Many(many.iter()),
        }
    }
}

/// An iterator over [`Members`].
pub enum Iter<'a, T> {
    Few(std::slice::Iter<'a, T>),
    Many(indexmap::set::Iter<'a, T>),
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    #[inline]
    fn next(&mut self) -> Option<&'a T> {
        match self {
            Iter::Few(few) => few.next(),
            Iter::Many(many) => many.next(),
        }
    }
}

impl<'a, T: Copy + Eq + Hash> IntoIterator for &'a Members<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_into_a_set_and_back_keeping_every_member_once() {
        let mut members = Members::default();
        for slot in 0..100usize {
            assert!(members.insert(slot));
            assert!(!members.insert(slot), "no member twice");
        }
        assert!(matches!(members, Members::Many(_)));
        assert_eq!(members.len(), 100);
        for slot in 0..95usize {
            assert!(members.swap_remove(&slot));
            assert!(!members.swap_remove(&slot));
        }
        assert!(matches!(members, Members::Few(_)), "small again");
        let mut left: Vec<usize> = members.iter().copied().collect();
        left.sort();
        assert_eq!(left, vec![95, 96, 97, 98, 99]);
        assert!(members.contains(&97) && !members.contains(&3));
    }

    #[test]
    fn one_member_is_inline_and_two_cost_two_slots() {
        let mut members = Members::default();
        members.insert(7usize);
        assert!(matches!(members, Members::One(7)), "one member allocates nothing");
        members.insert(8);
        let Members::Few(few) = &members else { panic!("two members are few") };
        assert_eq!(few.capacity(), 2);
        assert!(members.swap_remove(&7));
        assert!(matches!(members, Members::One(8)), "back inline");
        assert_eq!(members.iter().copied().collect::<Vec<_>>(), vec![8]);
        assert!(members.swap_remove(&8) && members.is_empty() && !members.contains(&8));
        assert_eq!(std::mem::size_of::<Members<usize>>(), 24, "no bigger than a Vec");
        assert_eq!(std::mem::size_of::<Members<crate::service::connection::ConnId>>(), 24);
    }
}
