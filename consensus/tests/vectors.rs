//! The independent SPEC §4 vectors (a byte-identical copy of `shared/vectors/blocks.json`):
//! vote and proposal signing bytes and signatures.

use ed25519_dalek::SigningKey;
use serde_json::Value;
use tally_consensus::{SignedMessage, SignedProposal, SignedVote, VoteKind};

const BLOCKS_JSON: &str = include_str!("vectors/blocks.json");

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().expect("hex string")).expect("hex").try_into().expect("32 bytes")
}

#[test]
fn vote_and_proposal_vectors_reproduce() {
    let doc: Value = serde_json::from_str(BLOCKS_JSON).expect("json");
    let chain_id = doc["header"]["chain_id"].as_str().expect("chain id");
    let votes = doc["votes"].as_array().expect("votes");
    assert!(votes.len() >= 3);
    for case in votes {
        let name = case["name"].as_str().expect("name");
        let key = SigningKey::from_bytes(&hex32(&case["validator_seed"]));
        assert_eq!(key.verifying_key().to_bytes(), hex32(&case["validator"]), "{name}: key");
        let height = case["height"].as_u64().expect("height");
        let round = u32::try_from(case["round"].as_u64().expect("round")).expect("u32");
        let block_hash = (!case["block_hash"].is_null()).then(|| hex32(&case["block_hash"]));
        let msg: SignedMessage = match case["type"].as_u64().expect("type") {
            1 => {
                let pol = case["pol_round"].as_i64().expect("pol_round");
                let pol = u32::try_from(pol).ok();
                let hash = block_hash.expect("proposal hash");
                SignedProposal::sign(chain_id, &key, height, round, hash, pol).into()
            }
            t => {
                let kind = if t == 2 { VoteKind::Prevote } else { VoteKind::Precommit };
                SignedVote::sign(chain_id, &key, height, round, kind, block_hash).into()
            }
        };
        assert_eq!(hex::encode(msg.signing_bytes(chain_id)), case["signing_bytes_hex"].as_str().unwrap(), "{name}");
        assert_eq!(hex::encode(msg.signature()), case["signature_hex"].as_str().unwrap(), "{name}");
        assert!(msg.verify(chain_id, &key.verifying_key()), "{name}: verify_strict");
        assert_eq!(u64::from(msg.type_byte()), case["type"].as_u64().unwrap());
    }
}
