//! Load shedding: how many waiting transfers make the pool "behind".
//!
//! Past saturation, a pool that takes every valid transfer only makes everyone wait longer: it
//! fills to its hard limit (`mempool.max_transfers`), and every payment then waits for that many
//! to commit first. Instead the node estimates how many transfers the chain commits per second
//! (over the last [`WINDOW`]) and refuses new client submissions as `mempool_full` once the pool
//! already holds `mempool.max_backlog_ms` of that work, before spending a signature check on
//! them. The estimate is pure arithmetic on the commit times it is told, so it is tested
//! deterministically.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back commits count towards the rate.
pub const WINDOW: Duration = Duration::from_secs(5);

/// The commit rate over a sliding window, and the backlog it allows.
#[derive(Debug)]
pub struct Backlog {
    /// How much waiting work the pool may hold; zero turns shedding off.
    target: Duration,
    /// The backlog allowed however slow the chain looks (one full block, so an idle chain always
    /// takes a block's worth).
    floor: usize,
    /// `(when, transfers)` of the commits inside the window, oldest first.
    commits: VecDeque<(Instant, usize)>,
}

impl Backlog {
    /// A backlog of `target` worth of commits, never below `floor` transfers.
    pub fn new(target: Duration, floor: usize) -> Backlog {
        Backlog { target, floor, commits: VecDeque::new() }
    }

    /// Counts a block of `transfers` committed at `now`.
    pub fn record(&mut self, now: Instant, transfers: usize) {
        self.commits.push_back((now, transfers));
        self.forget_before(now);
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some((when, _)) = self.commits.front() {
            if now.saturating_duration_since(*when) <= WINDOW {
                break;
            }
            self.commits.pop_front();
        }
    }

    /// Transfers committed per second over the window ending at `now`.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.forget_before(now);
        let committed: usize = self.commits.iter().map(|(_, n)| n).sum();
        committed as f64 / WINDOW.as_secs_f64()
    }

    /// How many waiting transfers the pool may hold before it sheds submissions; `None` when
    /// shedding is off.
    pub fn limit(&mut self, now: Instant) -> Option<usize> {
        if self.target.is_zero() {
            return None;
        }
        let allowed = (self.rate(now) * self.target.as_secs_f64()) as usize;
        Some(allowed.max(self.floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_follows_the_commit_rate_over_the_window() {
        let start = Instant::now();
        let mut backlog = Backlog::new(Duration::from_secs(2), 1_000);
        // Nothing committed yet: the floor.
        assert_eq!(backlog.limit(start), Some(1_000));
        // 5,000 transfers a second for five seconds: 10,000 may wait (two seconds' worth).
        for second in 1..=5 {
            backlog.record(start + Duration::from_secs(second), 5_000);
        }
        let now = start + Duration::from_secs(5);
        assert_eq!(backlog.rate(now), 5_000.0);
        assert_eq!(backlog.limit(now), Some(10_000));
        // The chain stalls: old commits leave the window and the limit falls back to the floor.
        assert_eq!(backlog.limit(start + Duration::from_secs(20)), Some(1_000));
    }

    #[test]
    fn a_zero_target_turns_shedding_off() {
        let mut backlog = Backlog::new(Duration::ZERO, 1_000);
        backlog.record(Instant::now(), 50);
        assert_eq!(backlog.limit(Instant::now()), None);
    }
}
