//! The worked commit-certificate vector of `FORMAT-certificate.md`, checked against the
//! document itself.

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use tally_consensus::{CommitCertificate, CommitSignature, SignedVote, Validator, ValidatorSet, VoteKind};

const DOC: &str = include_str!("../FORMAT-certificate.md");

/// The development validator keys: seed SHA-256("tally-devnet-validator-" + i).
fn devnet_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(format!("tally-devnet-validator-{i}")).into())
}

/// The value after `label` on a line of the form "label: value" (hex may wrap over lines
/// inside a fenced block that follows).
fn doc_value(label: &str) -> String {
    let start = DOC.find(label).unwrap_or_else(|| panic!("{label} missing from the doc"));
    let rest = &DOC[start + label.len()..];
    let fence = rest.find("```").expect("opening fence");
    let body = &rest[fence + 3..];
    let body = &body[body.find('\n').expect("newline") + 1..];
    let end = body.find("```").expect("closing fence");
    body[..end].split_whitespace().collect()
}

fn worked_example() -> (CommitCertificate, ValidatorSet) {
    let keys: Vec<SigningKey> = (0..4).map(devnet_key).collect();
    let set = ValidatorSet::new(
        keys.iter().map(|k| Validator { public_key: k.verifying_key().to_bytes(), power: 1 }).collect(),
    )
    .unwrap();
    let block_hash: [u8; 32] =
        hex::decode("424306adee89a472cd31896a6fbb7cb75a3d0de4f26620398fc28dbdf5884031").unwrap().try_into().unwrap();
    let signatures = [0, 1, 3]
        .iter()
        .map(|&i| {
            let v = SignedVote::sign("tally-devnet", &keys[i], 42, 3, VoteKind::Precommit, Some(block_hash));
            CommitSignature { validator: v.validator, signature: v.signature }
        })
        .collect();
    (CommitCertificate { height: 42, round: 3, block_hash, signatures }, set)
}

#[test]
fn worked_vector_matches_the_document() {
    let (cert, set) = worked_example();
    let encoding = hex::encode(cert.encode());
    let hash = hex::encode(cert.hash());
    if std::env::var_os("PRINT_VECTOR").is_some() {
        println!("encoding:\n{encoding}\nhash:\n{hash}");
    }
    assert_eq!(doc_value("Encoding (hex):"), encoding);
    assert_eq!(doc_value("Certificate hash (hex):"), hash);
    assert_eq!(cert.verify("tally-devnet", &set), Ok(()));
    assert_eq!(CommitCertificate::decode(&cert.encode()), Ok(cert));
}
