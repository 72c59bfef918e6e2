//! Conversions from the node's types to the RPC's views.

use tally_consensus::{CommitCertificate, Evidence, SignedMessage};
use tally_ledger::{Block, Hash, PublicKey};
use tally_rpc::{BlockView, CommitSignature, CommitView, EvidenceView, SignedMessageView, VoteKind};

/// The view of a certificate.
pub fn commit_view(certificate: &CommitCertificate) -> CommitView {
    CommitView {
        height: certificate.height,
        round: certificate.round,
        block_hash: Hash(certificate.block_hash),
        signatures: certificate
            .signatures
            .iter()
            .map(|s| CommitSignature { validator: PublicKey(s.validator), signature: s.signature })
            .collect(),
    }
}

/// The view of a committed block with the certificate that made it final; `last_commit` is
/// the parent's certificate the block carries (none for block 1).
pub fn block_view(block: &Block, commit: &CommitCertificate) -> BlockView {
    let last_commit = CommitCertificate::decode(&block.last_commit).ok().map(|c| commit_view(&c));
    BlockView { block: block.clone(), last_commit, commit: commit_view(commit) }
}

/// [`block_view`] from stored certificate bytes; a certificate that does not decode (which the
/// store never holds) shows as empty.
pub fn stored_block_view(block: &Block, certificate: &[u8]) -> BlockView {
    match CommitCertificate::decode(certificate) {
        Ok(commit) => block_view(block, &commit),
        Err(_) => BlockView {
            block: block.clone(),
            last_commit: CommitCertificate::decode(&block.last_commit).ok().map(|c| commit_view(&c)),
            commit: CommitView {
                height: block.header.height,
                round: 0,
                block_hash: block.hash(),
                signatures: Vec::new(),
            },
        },
    }
}

fn kind(type_byte: u8) -> VoteKind {
    match type_byte {
        1 => VoteKind::Proposal,
        2 => VoteKind::Prevote,
        _ => VoteKind::Precommit,
    }
}

/// The view of a signed consensus message.
pub fn signed_message_view(message: &SignedMessage) -> SignedMessageView {
    SignedMessageView {
        kind: kind(message.type_byte()),
        height: message.height(),
        round: message.round(),
        block_hash: message.block_hash().map(|h| Hash(*h)),
        pol_round: match message {
            SignedMessage::Proposal(p) => p.pol_round,
            SignedMessage::Vote(_) => None,
        },
        validator: PublicKey(*message.signer()),
        signature: *message.signature(),
    }
}

/// The view of equivocation evidence.
pub fn evidence_view(evidence: &Evidence) -> EvidenceView {
    let (first, second) = evidence.messages();
    EvidenceView {
        height: evidence.height(),
        round: evidence.round(),
        kind: kind(evidence.type_byte()),
        validator: PublicKey(*evidence.validator()),
        first: signed_message_view(&first),
        second: signed_message_view(&second),
    }
}
