//! Consensus timers: deadlines for the core's timeouts, fired in order.

use std::collections::BTreeMap;
use tally_consensus::{Input, TimeoutStep};
use tokio::time::{Duration, Instant};

/// Pending timeouts, earliest first.
#[derive(Default)]
pub struct Timers {
    queue: BTreeMap<(Instant, u64), Input>,
    seq: u64,
}

impl Timers {
    /// Schedules `Input::Timeout { height, round, step }` after `duration_ms`.
    pub fn schedule(&mut self, height: u64, round: u32, step: TimeoutStep, duration_ms: u64) {
        let at = Instant::now() + Duration::from_millis(duration_ms);
        self.seq += 1;
        self.queue.insert((at, self.seq), Input::Timeout { height, round, step });
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns every timeout due at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Input> {
        let later = self.queue.split_off(&(now, u64::MAX));
        let due = std::mem::replace(&mut self.queue, later);
        due.into_values().collect()
    }

    /// Drops timers of heights below `height` (they are stale once it starts).
    pub fn prune_below(&mut self, height: u64) {
        self.queue.retain(|_, input| !matches!(input, Input::Timeout { height: h, .. } if *h < height));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fires_in_order_and_prunes() {
        let mut timers = Timers::default();
        timers.schedule(2, 0, TimeoutStep::Propose, 30);
        timers.schedule(1, 0, TimeoutStep::Prevote, 10);
        timers.schedule(2, 1, TimeoutStep::Precommit, 20);
        tokio::time::advance(Duration::from_millis(25)).await;
        let due = timers.due(Instant::now());
        assert_eq!(
            due,
            vec![
                Input::Timeout { height: 1, round: 0, step: TimeoutStep::Prevote },
                Input::Timeout { height: 2, round: 1, step: TimeoutStep::Precommit }
            ]
        );
        timers.prune_below(3);
        assert_eq!(timers.next_deadline(), None);
    }
}
