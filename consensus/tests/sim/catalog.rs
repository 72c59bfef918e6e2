//! The named scenarios, shared by the normal simulation tests, the soak and the report.

use super::scenario::Scenario;

/// 4 honest validators, lossy network until 2 s.
pub fn four_honest() -> Scenario {
    Scenario::new("4 honest, lossy until 2s", 4).lossy_until(2_000)
}

/// 7 honest validators, lossy network until 2 s.
pub fn seven_honest() -> Scenario {
    Scenario::new("7 honest, lossy until 2s", 7).lossy_until(2_000)
}

/// 4 validators, f = 1 byzantine twin.
pub fn four_one_twin() -> Scenario {
    Scenario::new("4 with 1 byzantine twin", 4).twins(1).lossy_until(2_000)
}

/// 7 validators, f = 2 byzantine twins.
pub fn seven_two_twins() -> Scenario {
    Scenario::new("7 with 2 byzantine twins", 7).twins(2).lossy_until(2_000)
}

/// 7 validators, f = 2 silent.
pub fn seven_two_silent() -> Scenario {
    Scenario::new("7 with 2 silent", 7).silent(2).lossy_until(1_000)
}

/// 4 validators, f = 1 crashed for good.
pub fn four_one_crashed() -> Scenario {
    Scenario::new("4 with 1 crashed", 4).crashed_forever(1).lossy_until(1_000)
}

/// 7 validators, f = 2 crashed for good.
pub fn seven_two_crashed() -> Scenario {
    Scenario::new("7 with 2 crashed", 7).crashed_forever(2)
}

/// One validator cut off from the others for 2 s.
pub fn partitioned_minority() -> Scenario {
    Scenario::new("4 with a partitioned minority", 4).partition(&[&[0], &[1, 2, 3]], 0, 2_000)
}

/// A 2|2 split: no decision during it, decisions after it heals.
pub fn split_two_two() -> Scenario {
    Scenario::new("4 split 2|2", 4).split_without_quorum(&[&[0, 1], &[2, 3]], 600, 2_500)
}

/// Two honest validators crash and restart from their persisted state.
pub fn crash_restarts() -> Scenario {
    Scenario::new("4 crash and restart", 4).crash_restarts(2).lossy_until(2_000)
}

/// Every validator crashes at once and restarts.
pub fn crash_all() -> Scenario {
    Scenario::new("4 all crash at once", 4).crash_all(700, 1_000)
}

/// Unequal voting power with one twin and one silent validator (byzantine power 2 of 14).
pub fn unequal_power() -> Scenario {
    Scenario::new("6 unequal power", 6).powers(&[5, 3, 2, 2, 1, 1]).twins(1).silent(1).lossy_until(1_500)
}

/// The nastiest scenario: 7 validators, 2 byzantine twins, a lossy network with a
/// partitioned minority until GST, 2 honest crash-restarts, 10% invalid blocks.
///
/// The round bound is looser: the two twins propose in consecutive rounds (equal power,
/// adjacent in the rotation) and any honest block may be invalid, so a height can need
/// 2 twin rounds + several invalid-block rounds before a good proposer; 8 rounds is far
/// beyond what luck alone produces over thousands of seeds.
pub fn nastiest() -> Scenario {
    Scenario::new("nastiest: 7, 2 twins, lossy, minority cut, 2 restarts, bad blocks", 7)
        .twins(2)
        .lossy_until(3_000)
        .partition(&[&[0], &[1, 2, 3, 4, 5, 6]], 500, 3_000)
        .crash_restarts(2)
        .invalid_blocks(0.1)
        .max_rounds(8)
}

/// A steady 4-validator network for throughput: no faults, 200 heights, each height started
/// as soon as the previous one is committed.
pub fn steady_four() -> Scenario {
    Scenario::new("steady 4 honest, 200 heights", 4).heights(200).budget(200_000).commit_delay(0)
}

/// Negative control: f + 1 = 2 byzantine twins among 4.
pub fn too_many_twins() -> Scenario {
    Scenario::new("negative: 4 with 2 byzantine twins (f+1)", 4).twins(2).lossy_until(2_000)
}

/// Negative control: restarts that throw the persisted state away.
pub fn amnesia() -> Scenario {
    Scenario::new("negative: restart without persisted state", 4).crash_restarts(2).amnesia().lossy_until(2_000)
}

/// Every scenario that must hold on every seed.
pub fn all() -> Vec<Scenario> {
    vec![
        four_honest(),
        seven_honest(),
        four_one_twin(),
        seven_two_twins(),
        seven_two_silent(),
        four_one_crashed(),
        seven_two_crashed(),
        partitioned_minority(),
        split_two_two(),
        crash_restarts(),
        crash_all(),
        unequal_power(),
        nastiest(),
    ]
}
