//! The independent golden vectors of `tests/vectors/` (byte-identical copies of the project's
//! shared vectors): development keys and addresses, transfers, transfers roots and a header.

use ed25519_dalek::SigningKey;
use serde_json::Value;
use tally_ledger::genesis::{dev_account_seed, dev_validator_seed, public_key_of_seed};
use tally_ledger::merkle::transfers_root;
use tally_ledger::{Address, ChainId, Hash, Header, PublicKey, Transfer, TransferBody};

const TRANSFERS: &str = include_str!("vectors/transfers.json");
const BLOCKS: &str = include_str!("vectors/blocks.json");

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn num(v: &Value) -> u64 {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn development_keys_and_addresses() {
    let vectors: Value = serde_json::from_str(TRANSFERS).unwrap();
    for (list, index, seed_of) in [
        ("dev_accounts", "k", dev_account_seed as fn(u32) -> [u8; 32]),
        ("dev_validators", "i", dev_validator_seed as fn(u32) -> [u8; 32]),
    ] {
        let entries = vectors[list].as_array().unwrap();
        assert!(!entries.is_empty());
        for entry in entries {
            let n = entry[index].as_u64().unwrap() as u32;
            let seed = seed_of(n);
            assert_eq!(seed, hex32(&entry["seed"]), "{list} {n} seed");
            let key = public_key_of_seed(&seed);
            assert_eq!(key.0, hex32(&entry["public_key"]), "{list} {n} key");
            let address = entry["address"].as_str().unwrap();
            assert_eq!(key.address().to_string(), address);
            assert_eq!(address.parse::<Address>().unwrap().public_key(), key);
        }
    }
}

#[test]
fn transfers_encode_sign_hash_and_decode() {
    let vectors: Value = serde_json::from_str(TRANSFERS).unwrap();
    let cases = vectors["transfers"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let key = SigningKey::from_bytes(&hex32(&case["from_seed"]));
        let body = TransferBody {
            chain_id: ChainId::new(case["chain_id"].as_str().unwrap()).unwrap(),
            from: PublicKey(hex32(&case["from"])),
            to: PublicKey(hex32(&case["to"])),
            amount: num(&case["amount"]),
            fee: num(&case["fee"]),
            nonce: num(&case["nonce"]),
            valid_until: num(&case["valid_until"]),
            memo: hex::decode(case["memo_hex"].as_str().unwrap()).unwrap(),
        };
        assert_eq!(PublicKey::from(&key.verifying_key()), body.from, "{name}");
        assert_eq!(hex::encode(body.encode()), case["body_hex"].as_str().unwrap(), "{name} body");
        assert_eq!(
            hex::encode(body.signing_bytes()),
            case["signing_bytes_hex"].as_str().unwrap(),
            "{name} signing bytes"
        );
        let transfer = body.sign(&key).unwrap();
        assert_eq!(hex::encode(transfer.signature()), case["signature_hex"].as_str().unwrap(), "{name} signature");
        let tx_hex = case["tx_hex"].as_str().unwrap();
        assert_eq!(hex::encode(transfer.encode()), tx_hex, "{name} tx");
        assert_eq!(transfer.hash().to_hex(), case["hash"].as_str().unwrap(), "{name} hash");
        let decoded = Transfer::decode(&hex::decode(tx_hex).unwrap()).unwrap();
        assert_eq!(decoded, transfer, "{name} decode");
        assert!(tally_ledger::crypto::verify_transfer(decoded).is_ok(), "{name} verifies");
    }
}

#[test]
fn transfers_roots() {
    let transfers: Value = serde_json::from_str(TRANSFERS).unwrap();
    let blocks: Value = serde_json::from_str(BLOCKS).unwrap();
    let mut hashes: Vec<Hash> =
        transfers["transfers"].as_array().unwrap().iter().map(|c| Hash(hex32(&c["hash"]))).collect();
    for extra in blocks["transfers_root"]["extra_hashes"].as_array().unwrap() {
        hashes.push(Hash(hex32(extra)));
    }
    assert_eq!(hashes[3], Hash::digest(b"x0"));
    assert_eq!(hashes[4], Hash::digest(b"x1"));
    for case in blocks["transfers_root"]["cases"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        assert_eq!(transfers_root(&hashes[..n]).0, hex32(&case["root"]), "n = {n}");
    }
}

#[test]
fn header_bytes_and_hash() {
    let blocks: Value = serde_json::from_str(BLOCKS).unwrap();
    let h = &blocks["header"];
    let header = Header {
        chain_id: ChainId::new(h["chain_id"].as_str().unwrap()).unwrap(),
        height: h["height"].as_u64().unwrap(),
        time_ms: h["time_ms"].as_u64().unwrap(),
        previous_hash: Hash(hex32(&h["previous_hash"])),
        proposer: PublicKey(hex32(&h["proposer"])),
        transfers_root: Hash(hex32(&h["transfers_root"])),
        last_commit_hash: Hash(hex32(&h["last_commit_hash"])),
        state_root: Hash(hex32(&h["state_root"])),
    };
    assert_eq!(header.proposer.address().to_string(), h["proposer_address"].as_str().unwrap());
    assert_eq!(hex::encode(header.encode()), h["header_hex"].as_str().unwrap());
    assert_eq!(header.hash().to_hex(), h["block_hash"].as_str().unwrap());
    assert_eq!(Header::decode(&header.encode()).unwrap(), header);
}
