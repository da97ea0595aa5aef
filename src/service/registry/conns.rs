//! The registry's connections, keyed by the id inside each entry's `Connection`: a hash
//! table of entries alone (40-byte buckets), not a map that stores a 16-byte copy of every
//! id beside its entry.
//!
//! Owns lookup by id only; what an entry holds and means is the registry's.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::Entry;
use crate::service::connection::ConnId;

type Hasher = foldhash::fast::RandomState;

#[derive(Default)]
pub(super) struct Conns {
    table: HashTable<Entry>,
    hasher: Hasher,
}

impl Conns {
    fn hash(&self, id: &ConnId) -> u64 {
        self.hasher.hash_one(id)
    }

    pub(super) fn get(&self, id: &ConnId) -> Option<&Entry> {
        self.table.find(self.hash(id), |e| e.conn.id == *id)
    }

    pub(super) fn get_mut(&mut self, id: &ConnId) -> Option<&mut Entry> {
        let hash = self.hash(id);
        self.table.find_mut(hash, |e| e.conn.id == *id)
    }

    /// Adds an entry, replacing one of the same id.
    pub(super) fn insert(&mut self, entry: Entry) {
        let id = entry.conn.id;
        if let Some(old) = self.get_mut(&id) {
            *old = entry;
            return;
        }
        let Conns { table, hasher } = self;
        let hasher = &*hasher;
        table.insert_unique(hasher.hash_one(id), entry, |e| hasher.hash_one(e.conn.id));
    }

    pub(super) fn remove(&mut self, id: &ConnId) -> Option<Entry> {
        let hash = self.hash(id);
        self.table.find_entry(hash, |e| e.conn.id == *id).ok().map(|found| found.remove().0)
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }
}
