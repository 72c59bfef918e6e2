//! Negative controls: the checkers must find violations when the assumptions are broken.
//! These tests pass by finding a violation.

mod sim;

use sim::{catalog, find_violation, Violation};

/// f + 1 byzantine twins can make honest validators decide different blocks.
#[test]
fn f_plus_one_twins_break_agreement() {
    let seed = find_violation(catalog::too_many_twins(), 0..300, |v| matches!(v, Violation::Disagreement { .. }));
    assert!(seed.is_some(), "no seed broke agreement with f+1 twins: the checker is blind");
}

/// A validator that restarts without its persisted state signs conflicting messages (or
/// lets the network disagree).
#[test]
fn restart_without_state_breaks_safety() {
    let seed = find_violation(catalog::amnesia(), 0..300, |v| {
        matches!(v, Violation::ConflictingSignature { .. } | Violation::Disagreement { .. })
    });
    assert!(seed.is_some(), "no seed showed a conflicting signature after amnesia: the checker is blind");
}
