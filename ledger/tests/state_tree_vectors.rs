//! The project's own state-tree vectors (`vectors/state_tree.json`, documented in
//! `docs/FORMAT.md`): roots of small account sets and proofs of presence and absence.
//! Regenerate with `TALLY_WRITE_VECTORS=1 cargo test -p tally-ledger --test state_tree_vectors`
//! only when the format deliberately changes.

use serde_json::{json, Value};
use tally_ledger::genesis::{dev_account_seed, public_key_of_seed};
use tally_ledger::tree::tree_key;
use tally_ledger::{Account, PublicKey, StateTree};

fn accounts() -> Vec<(PublicKey, Account)> {
    (0..3u32)
        .map(|k| {
            (public_key_of_seed(&dev_account_seed(k)), Account { balance: 1_000 * (k as u64 + 1), nonce: k as u64 })
        })
        .collect()
}

fn computed() -> Value {
    let accounts = accounts();
    let roots: Vec<Value> = (0..=accounts.len())
        .map(|n| {
            let tree = StateTree::from_accounts(accounts[..n].to_vec());
            json!({ "accounts": n, "root": tree.root().to_hex() })
        })
        .collect();
    let tree = StateTree::from_accounts(accounts.clone());
    let absent = public_key_of_seed(&dev_account_seed(9));
    let proof = |pk: &PublicKey| {
        let p = tree.prove(pk);
        json!({
            "public_key": pk.to_hex(),
            "key": hex::encode(tree_key(pk)),
            "steps": p.steps.iter().map(|s| json!({ "bitmap": format!("{:04x}", s.bitmap), "siblings": s.siblings.iter().map(|h| h.to_hex()).collect::<Vec<_>>() })).collect::<Vec<_>>(),
            "leaf": p.leaf.map(|(k, a)| json!({ "key": hex::encode(k), "value": hex::encode(a.encode()) })),
        })
    };
    json!({
        "about": "State tree vectors (docs/FORMAT.md): development accounts k = 0, 1, 2 with balance 1000*(k+1) and nonce k; roots of the first n accounts; proofs against the root of all three.",
        "accounts": accounts.iter().map(|(pk, a)| json!({ "public_key": pk.to_hex(), "balance": a.balance.to_string(), "nonce": a.nonce.to_string() })).collect::<Vec<_>>(),
        "roots": roots,
        "proofs": [proof(&accounts[1].0), proof(&absent)],
    })
}

#[test]
fn state_tree_vectors_are_reproduced() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/state_tree.json");
    let value = computed();
    if std::env::var("TALLY_WRITE_VECTORS").is_ok() {
        std::fs::write(path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(stored, value);
    // The proofs verify against the root of all three accounts.
    let tree = StateTree::from_accounts(accounts());
    assert_eq!(tree.prove(&accounts()[1].0).verify(&tree.root(), &accounts()[1].0), Ok(Some(accounts()[1].1)));
    let absent = public_key_of_seed(&dev_account_seed(9));
    assert_eq!(tree.prove(&absent).verify(&tree.root(), &absent), Ok(None));
}
