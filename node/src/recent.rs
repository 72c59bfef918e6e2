//! A map that remembers only its newest entries: the mempool's memory of recent outcomes,
//! committed hashes and block-verified transfers, each bounded so a busy node's memory is too.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Up to `capacity` entries; inserting past it forgets the oldest.
pub struct Recent<K, V> {
    capacity: usize,
    entries: HashMap<K, V>,
    /// Keys, oldest first.
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Copy, V> Recent<K, V> {
    /// An empty memory of at most `capacity` entries.
    pub fn new(capacity: usize) -> Recent<K, V> {
        Recent { capacity, entries: HashMap::new(), order: VecDeque::new() }
    }

    /// Remembers `value` under `key` (a key already held keeps its place and takes the value).
    pub fn insert(&mut self, key: K, value: V) {
        if self.entries.insert(key, value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }

    /// The value under `key`, if still remembered.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }

    /// True if `key` is still remembered.
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_and_a_rewritten_key_keeps_its_place() {
        let mut recent = Recent::new(3);
        for i in 0..3 {
            recent.insert(i, i * 10);
        }
        recent.insert(0, 99);
        assert_eq!(recent.get(&0), Some(&99));
        recent.insert(3, 30);
        assert!(!recent.contains(&0), "the oldest key goes first, rewritten or not");
        assert!((1..=3).all(|i| recent.contains(&i)));
        assert_eq!(recent.entries.len(), recent.order.len());
    }
}
