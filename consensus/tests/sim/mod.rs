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

pub mod catalog;
pub mod checks;
pub mod network;
pub mod scenario;
pub mod world;

pub use checks::{Outcome, Stats, Violation};
pub use scenario::Scenario;

use std::ops::Range;
use std::time::Instant;

/// Runs `scenario` over `seeds`; panics with the first failing seed and its violations;
/// prints the statistics (rounds per height, throughput) and the wall time.
pub fn check(scenario: Scenario, seeds: Range<u64>) -> Stats {
    let started = Instant::now();
    let (stats, failure) = run_seeds(&scenario, seeds.clone());
    if let Some((seed, violations)) = failure {
        panic!("{}: seed {seed} violates {violations:?}", scenario.name);
    }
    println!("{} [{} seeds]: {stats} in {:.2?}", scenario.name, seeds.end - seeds.start, started.elapsed());
    stats
}

/// Runs a negative control: some seed in `seeds` must break a property that `wanted`
/// accepts. Returns that seed.
pub fn find_violation(scenario: Scenario, seeds: Range<u64>, wanted: impl Fn(&Violation) -> bool) -> Option<u64> {
    for seed in seeds {
        let outcome = scenario.run(seed);
        if let Some(v) = outcome.violations.iter().find(|v| wanted(v)) {
            println!("{}: seed {seed} found {v:?}", scenario.name);
            return Some(seed);
        }
    }
    None
}

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
