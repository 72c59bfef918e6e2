//! The deterministic simulation: every scenario over many seeds, all checkers after every
//! run (agreement, validity, no conflicting signatures across crashes, certificates,
//! liveness after GST). Run with `--nocapture` to see rounds per height and throughput.
//! Each scenario is its own test so that the test runner spreads them over the cores.

mod sim;

use sim::{catalog, check};

/// Seeds per cheap scenario (4 validators) and per expensive one (7 validators, long
/// disruptions); together at least 2,000 seeds.
const CHEAP: u64 = 200;
const EXPENSIVE: u64 = 100;

#[test]
fn four_honest() {
    check(catalog::four_honest(), 0..CHEAP);
}

#[test]
fn seven_honest() {
    check(catalog::seven_honest(), 0..EXPENSIVE);
}

#[test]
fn four_with_one_byzantine_twin() {
    check(catalog::four_one_twin(), 0..CHEAP);
}

#[test]
fn seven_with_two_byzantine_twins() {
    check(catalog::seven_two_twins(), 0..EXPENSIVE);
}

#[test]
fn seven_with_two_silent() {
    check(catalog::seven_two_silent(), 0..EXPENSIVE);
}

#[test]
fn four_with_one_crashed() {
    check(catalog::four_one_crashed(), 0..CHEAP);
}

#[test]
fn seven_with_two_crashed() {
    check(catalog::seven_two_crashed(), 0..EXPENSIVE);
}

#[test]
fn partitioned_minority() {
    check(catalog::partitioned_minority(), 0..CHEAP);
}

#[test]
fn split_two_two_decides_only_after_heal() {
    check(catalog::split_two_two(), 0..CHEAP);
}

#[test]
fn crash_and_restart_from_persisted_state() {
    check(catalog::crash_restarts(), 0..CHEAP);
}

#[test]
fn all_crash_at_once_and_restart() {
    check(catalog::crash_all(), 0..CHEAP);
}

#[test]
fn unequal_voting_power() {
    check(catalog::unequal_power(), 0..CHEAP);
}

#[test]
fn nastiest() {
    check(catalog::nastiest(), 0..EXPENSIVE);
}

/// Throughput of one 4-validator run on one core: decisions per second of virtual time and
/// of wall-clock time.
#[test]
fn throughput_of_a_four_validator_run() {
    let started = std::time::Instant::now();
    let outcome = catalog::steady_four().run(7);
    let wall = started.elapsed();
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    let s = &outcome.stats;
    let virtual_s = s.virtual_ms as f64 / 1000.0;
    println!(
        "steady 4: {} heights in {virtual_s:.1}s virtual = {:.2} decisions per virtual second; \
         {:.2?} wall on one core = {:.0} decisions per wall second",
        s.heights,
        s.heights as f64 / virtual_s,
        wall,
        s.heights as f64 / wall.as_secs_f64()
    );
}
