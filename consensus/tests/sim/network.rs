//! Virtual time and the in-memory router's link model.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::scenario::{NetworkFaults, Partition};

/// A priority queue of events in virtual time; events at the same time keep their
/// scheduling order, so a run depends only on the seed.
pub struct Queue<E> {
    heap: BinaryHeap<Reverse<Entry<E>>>,
    seq: u64,
}

struct Entry<E> {
    at: u64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<E> Queue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Queue { heap: BinaryHeap::new(), seq: 0 }
    }

    /// Schedules `event` at virtual time `at`.
    pub fn push(&mut self, at: u64, event: E) {
        self.seq += 1;
        self.heap.push(Reverse(Entry { at, seq: self.seq, event }));
    }

    /// The next event and its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.heap.pop().map(|Reverse(e)| (e.at, e.event))
    }
}

/// Which twin a node talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first twin (and honest nodes on side A).
    A,
    /// The second twin (and honest nodes on side B).
    B,
    /// Honest nodes that talk to both twins.
    Both,
}

impl Side {
    fn compatible(self, other: Side) -> bool {
        self == Side::Both || other == Side::Both || self == other
    }
}

/// Per-node facts the router needs.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The validator this node runs.
    pub validator: usize,
    /// Honest (false for twins).
    pub honest: bool,
    /// Twin side.
    pub side: Side,
}

/// The link model: who can reach whom when, with which delay.
pub struct Links {
    pub faults: NetworkFaults,
    pub partitions: Vec<Partition>,
    /// Until when honest nodes on incompatible sides cannot talk.
    pub twin_partition_until: u64,
    pub endpoints: Vec<Endpoint>,
}

impl Links {
    /// True when a message from node `a` to node `b` gets through at `now`.
    pub fn connected(&self, a: usize, b: usize, now: u64) -> bool {
        let (ea, eb) = (self.endpoints[a], self.endpoints[b]);
        let sides_ok = ea.side.compatible(eb.side);
        if (!ea.honest || !eb.honest) && !sides_ok {
            return false;
        }
        if ea.honest && eb.honest && now < self.twin_partition_until && !sides_ok {
            return false;
        }
        self.partitions.iter().all(|p| {
            if now < p.from_ms || now >= p.until_ms {
                return true;
            }
            let group = |v: usize| p.groups.iter().position(|g| g.contains(&v));
            match (group(ea.validator), group(eb.validator)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            }
        })
    }

    /// The delay of one message sent at `now`, or `None` if the network drops it.
    pub fn delay(&self, rng: &mut ChaCha8Rng, now: u64) -> Option<u64> {
        let f = &self.faults;
        if now < f.gst_ms {
            if rng.gen_bool(f.drop_before_gst) {
                return None;
            }
            Some(rng.gen_range(f.delay_before_gst.0..=f.delay_before_gst.1))
        } else {
            Some(rng.gen_range(f.delay_after_gst.0..=f.delay_after_gst.1))
        }
    }

    /// True when this message is also delivered a second time.
    pub fn duplicate(&self, rng: &mut ChaCha8Rng) -> bool {
        rng.gen_bool(self.faults.duplicate)
    }
}
