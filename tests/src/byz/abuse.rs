//! `--mode abuse`: publishes, in bursts, on both gossip topics: junk bytes, a message bigger
//! than the honest nodes' limit, votes with invalid signatures (claiming a genesis validator),
//! votes for 1000 heights ahead, and a transfer batch whose signature is broken. Sync requests
//! are left unanswered. When the honest nodes have banned this identity (no peer left), it comes
//! back under a fresh one, until the duration has passed.

use super::{connect, drain_for, height_round, peer_height, publish, random_hash, wait_connected, Chain, Counts};
use rand::{Rng, RngCore};
use std::time::Duration;
use tally_consensus::{SignedMessage, SignedVote, VoteKind};
use tally_ledger::{PublicKey, TransferBody};
use tally_node::wire::ConsensusMessage;
use tally_p2p::{Multiaddr, NetworkHandle, Topic};

/// Pause between bursts.
const BURST_PAUSE: Duration = Duration::from_millis(300);

/// Runs until `duration` has passed.
pub async fn run(chain: &Chain, listen: &Multiaddr, peers: &[Multiaddr], duration: Duration) -> Result<Counts, String> {
    let deadline = tokio::time::Instant::now() + duration;
    let mut counts = Counts::default();
    let mut abuser = Abuser { chain, seq: 0, height: 1 };
    while tokio::time::Instant::now() < deadline {
        let mut joined = connect(chain, listen, peers).await?;
        counts.add("identities");
        println!("tally-byz: peer id {} abusing", joined.peer_id);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !wait_connected(&mut joined, left.min(Duration::from_secs(5)), &mut counts, None).await {
            counts.add("identities_never_connected");
            joined.network.shutdown().await;
            continue;
        }
        if let Some(h) = peer_height(&joined.network).await {
            abuser.height = abuser.height.max(h + 1);
        }
        while tokio::time::Instant::now() < deadline {
            abuser.burst(&joined.network, &mut counts).await;
            let pause = BURST_PAUSE.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            for message in drain_for(&mut joined, pause, &mut counts, None).await {
                abuser.height = abuser.height.max(height_round(&message).0);
            }
            // Banned everywhere: nobody to abuse under this identity any more.
            if joined.network.peers().await.map(|p| p.is_empty()).unwrap_or(true) {
                counts.add("identities_dropped");
                break;
            }
        }
        joined.network.shutdown().await;
    }
    Ok(counts)
}

struct Abuser<'a> {
    chain: &'a Chain,
    seq: u64,
    /// The height the honest nodes are deciding, as last heard.
    height: u64,
}

impl Abuser<'_> {
    async fn burst(&mut self, network: &NetworkHandle, counts: &mut Counts) {
        for topic in [Topic::Consensus, Topic::Transfers] {
            publish(network, topic, junk(), "junk", counts).await;
        }
        let mut oversize = vec![0u8; self.chain.node_max_message_bytes + 1024];
        rand::thread_rng().fill_bytes(&mut oversize[..64]);
        publish(network, Topic::Consensus, oversize, "oversize", counts).await;

        let data = self.forged_vote(self.height);
        publish(network, Topic::Consensus, data, "bad_signature_vote", counts).await;
        let data = self.forged_vote(self.height.saturating_add(1000));
        publish(network, Topic::Consensus, data, "far_future_vote", counts).await;
        if let Some(batch) = self.forged_batch() {
            publish(network, Topic::Transfers, batch, "bad_signature_batch", counts).await;
        }
    }

    /// A prevote claiming a genesis validator, with a random (invalid) signature.
    fn forged_vote(&mut self, height: u64) -> Vec<u8> {
        let validators = self.chain.validators.validators();
        let pick = rand::thread_rng().gen_range(0..validators.len().max(1));
        let validator = validators.get(pick).map(|v| v.public_key).unwrap_or([0; 32]);
        let mut signature = [0u8; 64];
        rand::thread_rng().fill_bytes(&mut signature);
        let vote = SignedVote {
            height,
            round: 0,
            kind: VoteKind::Prevote,
            block_hash: Some(random_hash()),
            validator,
            signature,
        };
        self.seq += 1;
        ConsensusMessage::Signed(SignedMessage::Vote(vote)).encode(self.seq)
    }

    /// A one-transfer batch, properly encoded, whose signature no longer verifies.
    fn forged_batch(&mut self) -> Option<Vec<u8>> {
        let from = ed25519_dalek::SigningKey::from_bytes(&random_hash());
        let to = ed25519_dalek::SigningKey::from_bytes(&random_hash());
        self.seq += 1;
        let body = TransferBody {
            chain_id: self.chain.genesis.params.chain_id.clone(),
            from: PublicKey::from(&from.verifying_key()),
            to: PublicKey::from(&to.verifying_key()),
            amount: 1,
            fee: 1,
            nonce: self.seq,
            valid_until: 0,
            memo: Vec::new(),
        };
        let transfer = body.sign(&from).ok()?;
        let mut bytes = transfer.encode();
        // The signature is the last 64 bytes: flip one bit of it.
        let last = bytes.len().checked_sub(1)?;
        bytes[last] ^= 0x01;
        let mut batch = Vec::with_capacity(4 + bytes.len());
        batch.extend_from_slice(&1u16.to_le_bytes());
        batch.extend_from_slice(&u16::try_from(bytes.len()).ok()?.to_le_bytes());
        batch.extend_from_slice(&bytes);
        Some(batch)
    }
}

/// 1 to 256 random bytes.
fn junk() -> Vec<u8> {
    let mut rng = rand::thread_rng();
    let mut out = vec![0u8; rng.gen_range(1..=256)];
    rng.fill_bytes(&mut out);
    out
}
