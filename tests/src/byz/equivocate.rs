//! `--mode equivocate`: follows consensus gossip and, for every height and round it sees (and
//! round 0 of the next height), signs with the validator's key two different prevotes, two
//! different precommits and, when that validator proposes the round, two different proposals.
//!
//! The votes are one for a random block hash and one for nil. The proposals name fabricated
//! blocks and travel without a block, as the node's driver sends a proposal whose block it does
//! not hold (`ConsensusMessage::Signed`); honest nodes cannot validate them and prevote nil.
//! Proposals are only signed for rounds the validator proposes: any other would be refused as
//! misbehaviour (`WrongProposer`) and get this peer banned before its votes count.

use super::{connect, handle_event, height_round, publish, random_hash, wait_connected, Chain, Counts};
use ed25519_dalek::SigningKey;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tally_consensus::{SignedMessage, SignedProposal, SignedVote, VoteKind};
use tally_node::wire::ConsensusMessage;
use tally_p2p::{Multiaddr, NetworkHandle, Topic};

/// How many heights back a (height, round) is remembered as done.
const REMEMBERED_HEIGHTS: u64 = 16;

/// Runs until `duration` has passed. Returns the counts and a one-word outcome.
pub async fn run(
    chain: &Chain,
    key_path: &Path,
    listen: &Multiaddr,
    peers: &[Multiaddr],
    duration: Duration,
) -> Result<Counts, String> {
    let seed = tally_node::home::read_key(key_path).map_err(|e| e.to_string())?;
    let key = SigningKey::from_bytes(&seed);
    let me = key.verifying_key().to_bytes();
    let index = chain
        .validators
        .index_of(&me)
        .ok_or_else(|| format!("{} is not the key of a validator of this genesis", key_path.display()))?;
    let deadline = tokio::time::Instant::now() + duration;
    let mut counts = Counts::default();
    let mut joined = connect(chain, listen, peers).await?;
    println!("tally-byz: peer id {} equivocating as validator {index}", joined.peer_id);
    if !wait_connected(&mut joined, duration.min(Duration::from_secs(15)), &mut counts, Some(chain)).await {
        joined.network.shutdown().await;
        return Err("no peer connected".into());
    }
    let mut signer = Equivocator { chain, key, index, seq: 0, done: BTreeSet::new() };
    loop {
        let event = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            event = joined.events.recv() => event,
        };
        let Some(event) = event else { break };
        let Some(message) = handle_event(&joined.network, event, &mut counts, Some(chain)).await else { continue };
        let (height, round) = height_round(&message);
        if let ConsensusMessage::Signed(signed) = &message {
            if *signed.signer() == me {
                continue; // our own equivocation relayed back
            }
        }
        for (h, r) in [(height, round), (height.saturating_add(1), 0)] {
            signer.equivocate(&joined.network, h, r, &mut counts).await;
        }
    }
    joined.network.shutdown().await;
    Ok(counts)
}

struct Equivocator<'a> {
    chain: &'a Chain,
    key: SigningKey,
    index: usize,
    seq: u64,
    done: BTreeSet<(u64, u32)>,
}

impl Equivocator<'_> {
    /// Two prevotes, two precommits, and as proposer two proposals, once per height and round.
    async fn equivocate(&mut self, network: &NetworkHandle, height: u64, round: u32, counts: &mut Counts) {
        if height == 0 || !self.done.insert((height, round)) {
            return;
        }
        // Forget old heights so memory stays bounded; old heights are never seen again anyway.
        let newest = self.done.last().map(|(h, _)| *h).unwrap_or(height);
        while self.done.first().is_some_and(|(h, _)| *h + REMEMBERED_HEIGHTS < newest) {
            self.done.pop_first();
        }
        if height + REMEMBERED_HEIGHTS < newest {
            return;
        }
        let chain_id = &self.chain.chain_id;
        for (kind, name) in [(VoteKind::Prevote, "prevote"), (VoteKind::Precommit, "precommit")] {
            for block_hash in [Some(random_hash()), None] {
                let vote = SignedVote::sign(chain_id, &self.key, height, round, kind, block_hash);
                self.send(network, SignedMessage::Vote(vote), name, counts).await;
            }
        }
        if self.chain.validators.proposer(height, round) == self.index {
            for _ in 0..2 {
                let proposal = SignedProposal::sign(chain_id, &self.key, height, round, random_hash(), None);
                self.send(network, SignedMessage::Proposal(proposal), "proposal", counts).await;
            }
        }
    }

    async fn send(&mut self, network: &NetworkHandle, message: SignedMessage, kind: &'static str, counts: &mut Counts) {
        self.seq += 1;
        let data = ConsensusMessage::Signed(message).encode(self.seq);
        publish(network, Topic::Consensus, data, kind, counts).await;
    }
}
