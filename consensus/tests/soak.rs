//! The soak: 100,000 seeds over every scenario. `cargo test -p tally-consensus --release
//! --test soak -- --ignored --nocapture`.

mod sim;

use sim::{catalog, check};

#[test]
#[ignore = "soak: 100,000 seeds, run explicitly"]
fn soak_100k_seeds() {
    let scenarios = catalog::all();
    let per = 100_000 / scenarios.len() as u64 + 1;
    // Seeds above those of the normal run.
    for scenario in scenarios {
        check(scenario, 1_000_000..1_000_000 + per);
    }
}
