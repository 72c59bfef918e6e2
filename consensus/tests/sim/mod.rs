//! A deterministic simulation of a Tally validator network built from pure consensus cores.
//!
//! * [`scenario`] — readable builders: validators and powers, byzantine twins or silent
//!   validators, crashes and restarts, partitions, a lossy network until GST.
//! * [`world`] — the simulated world: virtual time (a priority queue of events), a seeded
//!   ChaCha RNG, an in-memory router (delay, drop, duplicate, reorder, partition), nodes that
//!   play the node's role around each core (persist, timers, blocks, verdicts, sync, gossip).
//! * [`checks`] — the checkers run after every run: agreement, validity, no conflicting
//!   signature by an honest validator (across crashes), certificates, liveness after GST.
//!
//! Shared by several test files, so not every item is used by each.
#![allow(dead_code, unused_imports)]

pub mod checks;
pub mod network;
pub mod scenario;
pub mod world;

pub use checks::{Outcome, Stats, Violation};
pub use scenario::Scenario;

/// Runs `scenario` for every seed in `seeds`, returning the merged statistics and the first
/// seed with a violation (if any) with its violations.
pub fn run_seeds(scenario: &Scenario, seeds: impl IntoIterator<Item = u64>) -> (Stats, Option<(u64, Vec<Violation>)>) {
    let mut stats = Stats::default();
    for seed in seeds {
        let outcome = scenario.run(seed);
        stats.merge(&outcome.stats);
        if !outcome.violations.is_empty() {
            return (stats, Some((seed, outcome.violations)));
        }
    }
    (stats, None)
}
