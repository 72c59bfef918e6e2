//! The simulated node's duties around its core, beyond carrying out outputs: building
//! blocks, committing, gossip catch-up, block sync, crashing and restarting.

use rand::seq::SliceRandom;
use rand::Rng;
use sha2::{Digest, Sha256};
use tally_consensus::{BlockHash, CommitCertificate, Consensus, Input};

use super::{BlockInfo, Event, World, CHAIN_ID};
use crate::sim::checks::{Decision, Violation};

impl World<'_> {
    /// The node builds a block: a fake hash unique to this build (so a proposer that forgot
    /// its proposal would build a different block), registered as valid or invalid.
    pub(super) fn build_block(&mut self, node: usize, height: u64, round: u32) {
        let n = &mut self.nodes[node];
        n.builds += 1;
        let mut h = Sha256::new();
        h.update(height.to_le_bytes());
        h.update(round.to_le_bytes());
        h.update((n.validator as u64).to_le_bytes());
        h.update((node as u64).to_le_bytes());
        h.update(n.inc.to_le_bytes());
        h.update(n.builds.to_le_bytes());
        let hash: BlockHash = h.finalize().into();
        let inc = n.inc;
        let valid = !self.rng.gen_bool(self.scenario.invalid_block_prob);
        self.blocks.insert(hash, BlockInfo { height, valid });
        let input = Input::ProposeBlock { height, round, block_hash: hash };
        let at = self.now + self.rng.gen_range(1..20);
        self.queue.push(at, Event::Input { node, inc, input });
    }

    /// The node commits a block with its certificate (own decision or sync) and starts the
    /// next height after the commit delay.
    pub(super) fn commit(&mut self, node: usize, certificate: CommitCertificate, synced: bool) {
        let height = certificate.height;
        let n = &mut self.nodes[node];
        if n.honest {
            self.stats.decisions += 1;
            if synced {
                self.stats.synced += 1;
            }
            self.rec.decisions.entry(height).or_default().push(Decision {
                validator: n.validator,
                hash: certificate.block_hash,
                round: certificate.round,
                at_ms: self.now,
                synced,
            });
        }
        n.committed.insert(height, certificate);
        let inc = n.inc;
        self.queue.push(self.now + self.scenario.commit_delay_ms, Event::Start { node, inc, height: height + 1 });
    }

    /// Gossip catch-up: send everything held for the current height (own and relayed
    /// messages) to one random reachable peer, so that what one correct node received every
    /// correct node eventually receives.
    pub(super) fn gossip(&mut self, node: usize) {
        let Some(core) = self.nodes[node].core.as_ref() else {
            return;
        };
        if core.height() == 0 || core.is_decided() {
            return;
        }
        let messages = core.gossip_messages();
        let peers: Vec<usize> =
            (0..self.nodes.len()).filter(|&j| j != node && self.links.connected(node, j, self.now)).collect();
        let Some(&to) = peers.choose(&mut self.rng) else {
            return;
        };
        for msg in messages {
            if let Some(delay) = self.links.delay(&mut self.rng, self.now) {
                let bytes = msg.encode();
                self.queue.push(self.now + delay, Event::Deliver { from: node, to, bytes });
            }
        }
    }

    /// Block sync: a node missing the block of its current height fetches it with its
    /// certificate from a reachable honest peer, verifies the certificate, commits.
    pub(super) fn sync(&mut self, node: usize) {
        let Some(core) = self.nodes[node].core.as_ref() else {
            return;
        };
        let height = core.height();
        if height == 0 || core.is_decided() || self.nodes[node].committed.contains_key(&height) {
            return;
        }
        let source = (0..self.nodes.len()).find(|&j| {
            j != node
                && self.nodes[j].honest
                && self.nodes[j].core.is_some()
                && self.links.connected(j, node, self.now)
                && self.nodes[j].committed.contains_key(&height)
        });
        let Some(cert) = source.and_then(|j| self.nodes[j].committed.get(&height).cloned()) else {
            return;
        };
        if cert.verify(CHAIN_ID, &self.set).is_err() {
            self.rec.violations.push(Violation::BadCertificate { height });
            return;
        }
        self.commit(node, cert, true);
    }

    pub(super) fn crash(&mut self, node: usize, restart_at: Option<u64>) {
        let n = &mut self.nodes[node];
        n.core = None;
        n.inc += 1;
        n.crash_pending = None;
        if let Some(at) = restart_at {
            self.queue.push(at.max(self.now + 1), Event::Restart { node });
        }
    }

    /// Restart from the durable state (or from nothing under amnesia), then resume at the
    /// height after the last committed block.
    pub(super) fn restart(&mut self, node: usize) {
        if self.nodes[node].core.is_some() {
            return;
        }
        let config = self.config(node);
        let durable = if self.scenario.crashes.amnesia {
            self.nodes[node].durable = None;
            None
        } else {
            self.nodes[node].durable.clone()
        };
        let (core, outputs) = match durable {
            Some(state) => Consensus::restore(config, state).expect("valid config"),
            None => (Consensus::new(config).expect("valid config"), Vec::new()),
        };
        self.nodes[node].core = Some(core);
        self.carry_out(node, outputs);
        let next = self.nodes[node].committed.keys().next_back().map_or(1, |h| h + 1);
        self.feed(node, Input::StartHeight { height: next });
    }
}
