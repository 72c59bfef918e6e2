//! The deterministic simulation: every scenario over many seeds, all checkers after every
//! run. Run with `--nocapture` to see rounds per height and throughput per scenario.

mod sim;

use std::ops::Range;
use std::time::Instant;

use sim::{run_seeds, Scenario, Stats};

/// Runs `scenario` over `seeds`, panics with the first failing seed, prints statistics.
fn check(scenario: Scenario, seeds: Range<u64>) -> Stats {
    let started = Instant::now();
    let (stats, failure) = run_seeds(&scenario, seeds.clone());
    if let Some((seed, violations)) = failure {
        panic!("{}: seed {seed} violates {violations:?}", scenario.name);
    }
    println!("{} [{} seeds]: {stats} in {:.2?}", scenario.name, seeds.end - seeds.start, started.elapsed());
    stats
}

/// The scenarios, shared with the soak test.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("4 honest, lossy until 2s", 4).lossy_until(2_000),
        Scenario::new("7 honest, lossy until 2s", 7).lossy_until(2_000),
        Scenario::new("4 with 1 byzantine twin", 4).twins(1).lossy_until(2_000),
        Scenario::new("7 with 2 byzantine twins", 7).twins(2).lossy_until(2_000),
        Scenario::new("7 with 2 silent", 7).silent(2).lossy_until(1_000),
        Scenario::new("4 with 1 crashed", 4).crashed_forever(1).lossy_until(1_000),
        Scenario::new("7 with 2 crashed", 7).crashed_forever(2),
        Scenario::new("4 with a partitioned minority", 4).partition(&[&[0], &[1, 2, 3]], 0, 3_000),
        Scenario::new("4 split 2|2", 4).split_without_quorum(&[&[0, 1], &[2, 3]], 1_000, 4_000),
        Scenario::new("4 crash and restart", 4).crash_restarts(2).lossy_until(2_000),
        Scenario::new("4 all crash at once", 4).crash_all(700, 1_000),
        Scenario::new("6 unequal power", 6).powers(&[5, 3, 2, 2, 1, 1]).twins(1).silent(1).lossy_until(1_500),
        nastiest(),
    ]
}

/// The nastiest scenario: 7 validators, 2 byzantine twins, a lossy network with a
/// partitioned minority until GST, 2 honest crash-restarts, 10% invalid blocks.
pub fn nastiest() -> Scenario {
    Scenario::new("nastiest: 7, 2 twins, lossy, minority cut, 2 restarts, bad blocks", 7)
        .twins(2)
        .lossy_until(3_000)
        .partition(&[&[0], &[1, 2, 3, 4, 5, 6]], 500, 3_000)
        .crash_restarts(2)
        .invalid_blocks(0.1)
}

#[test]
fn every_scenario_holds_on_every_seed() {
    let started = Instant::now();
    let mut total = 0;
    for scenario in scenarios() {
        total += 200;
        check(scenario, 0..200);
    }
    println!("{total} seeds in {:.2?}", started.elapsed());
}
