//! Property tests for the ledger's invariants and decoders.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use std::collections::HashMap;
use tally_ledger::crypto::verify_transfer;
use tally_ledger::state::check_transfer;
use tally_ledger::{
    Account, Block, BlockContext, ChainId, ChainParams, Hash, Header, Ledger, PublicKey, StateTree, Transfer,
    TransferBody, VerifiedTransfer,
};

const SENDERS: usize = 4;

fn keys() -> Vec<SigningKey> {
    (0..SENDERS as u8).map(|i| SigningKey::from_bytes(&[i + 1; 32])).collect()
}

fn params() -> ChainParams {
    ChainParams {
        chain_id: ChainId::new("prop-devnet").unwrap(),
        min_fee: 1,
        max_block_txs: 100,
        max_block_bytes: 1 << 20,
        validators: vec![PublicKey([0xaa; 32])],
    }
}

fn genesis_ledger(keys: &[SigningKey], balances: &[u64]) -> Ledger {
    let accounts: HashMap<PublicKey, Account> = keys
        .iter()
        .zip(balances)
        .map(|(k, b)| (PublicKey::from(&k.verifying_key()), Account { balance: *b, nonce: 0 }))
        .collect();
    Ledger::new(params(), accounts, 0, Hash::ZERO, 0)
}

/// A transfer as generated: who, to whom, how much, and how its nonce relates to the right one.
#[derive(Clone, Debug)]
struct Plan {
    from: usize,
    to: usize,
    amount: u64,
    fee: u64,
    nonce_skew: i8,
    valid_until: u64,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        0..SENDERS,
        0..SENDERS + 2,
        prop_oneof![1..2_000u64, Just(u64::MAX), Just(u64::MAX - 1)],
        prop_oneof![0..3u64, Just(u64::MAX)],
        prop_oneof![8 => Just(0i8), 1 => Just(1i8), 1 => Just(-1i8)],
        prop_oneof![4 => Just(0u64), 1 => 1..20u64],
    )
        .prop_map(|(from, to, amount, fee, nonce_skew, valid_until)| Plan {
            from,
            to,
            amount,
            fee,
            nonce_skew,
            valid_until,
        })
}

fn make(plan: &Plan, keys: &[SigningKey], ledger: &Ledger, pending_nonce: &HashMap<usize, u64>) -> VerifiedTransfer {
    let key = &keys[plan.from];
    let from = PublicKey::from(&key.verifying_key());
    let to = if plan.to < SENDERS {
        PublicKey::from(&keys[plan.to].verifying_key())
    } else {
        PublicKey([plan.to as u8; 32])
    };
    let next = pending_nonce.get(&plan.from).copied().unwrap_or(ledger.account(&from).nonce);
    let nonce = next.saturating_add_signed(plan.nonce_skew as i64);
    let body = TransferBody {
        chain_id: params().chain_id,
        from,
        to,
        amount: plan.amount,
        fee: plan.fee,
        nonce,
        valid_until: plan.valid_until,
        memo: vec![],
    };
    verify_transfer(body.sign(key).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Blocks built by `select` from random transfers: supply is conserved, no account is
    /// overdrawn, nonces rise by exactly one per applied transfer, refused transfers change
    /// nothing, and the state root equals a rebuild from the final accounts in any order.
    #[test]
    fn ledger_invariants(balances in prop::collection::vec(0..5_000u64, SENDERS), blocks in prop::collection::vec(prop::collection::vec(plan(), 1..8), 1..8), proposer_index in 0..SENDERS + 1) {
        let keys = keys();
        let mut ledger = genesis_ledger(&keys, &balances);
        let supply = ledger.total_supply();
        // The proposer is one of the senders (spending fees it earned earlier in the block) or
        // an account of its own.
        let proposer = keys.get(proposer_index).map_or(params().validators[0], |k| PublicKey::from(&k.verifying_key()));
        for (i, plans) in blocks.iter().enumerate() {
            let height = i as u64 + 1;
            let ctx = BlockContext { height, proposer };
            let mut pending = HashMap::new();
            let candidates: Vec<VerifiedTransfer> = plans.iter().map(|p| {
                let t = make(p, &keys, &ledger, &pending);
                if p.nonce_skew == 0 { pending.insert(p.from, t.nonce + 1); }
                t
            }).collect();
            let before: HashMap<PublicKey, Account> = keys.iter().map(|k| { let pk = PublicKey::from(&k.verifying_key()); (pk, ledger.account(&pk)) }).collect();
            let (included, refused, execution) = ledger.select(&ctx, candidates.clone());
            prop_assert_eq!(included.len() + refused.len(), candidates.len());
            // Refused transfers change nothing: executing only the included ones gives the same state.
            let again = ledger.execute(&ctx, &included).unwrap();
            prop_assert_eq!(again.state_root(), execution.state_root());
            // A block holding a refused transfer is rejected whole and changes nothing. The
            // transfer must follow what preceded it in `select`: appended after every included
            // one it may have become valid (its predecessor nonce came later in the candidates).
            // Every candidate before the first refused one was included, in order.
            let first_refused = (0..candidates.len())
                .find(|&i| included.get(i).map(|t| t.hash()) != Some(candidates[i].hash()));
            if let Some(i) = first_refused {
                let mut with_bad = included[..i].to_vec();
                with_bad.push(candidates[i].clone());
                prop_assert!(ledger.execute(&ctx, &with_bad).is_err());
            }
            let root_before = ledger.state_root();
            prop_assert_eq!(ledger.height(), height - 1);
            prop_assert_eq!(root_before, ledger.state_root());
            // Every account ends where applying the included transfers one by one leaves it.
            let mut expected: HashMap<PublicKey, Account> = HashMap::new();
            for t in &included {
                let cost = t.amount + t.fee;
                let from = expected.entry(t.from).or_insert_with(|| ledger.account(&t.from));
                (from.balance, from.nonce) = (from.balance - cost, from.nonce + 1);
                expected.entry(t.to).or_insert_with(|| ledger.account(&t.to)).balance += t.amount;
                expected.entry(proposer).or_insert_with(|| ledger.account(&proposer)).balance += t.fee;
            }
            let mut changed = execution.changes.accounts.clone();
            changed.sort_by_key(|(key, _)| *key);
            let mut expected: Vec<(PublicKey, Account)> = expected.into_iter().collect();
            expected.sort_by_key(|(key, _)| *key);
            prop_assert_eq!(changed, expected);
            ledger.apply(execution, Hash::digest(&height.to_le_bytes()), height);
            prop_assert_eq!(ledger.total_supply(), supply);
            for (pk, old) in &before {
                let sent = included.iter().filter(|t| t.from == *pk).count() as u64;
                prop_assert_eq!(ledger.account(pk).nonce, old.nonce + sent);
            }
            for t in &included {
                prop_assert!(t.amount.checked_add(t.fee).is_some());
            }
        }
        // Insertion-order independence: rebuild from the final accounts, forwards and backwards.
        let mut all: Vec<(PublicKey, Account)> = ledger.accounts().map(|(k, a)| (*k, *a)).collect();
        all.sort_by_key(|(k, _)| *k);
        let forward = StateTree::from_accounts(all.clone()).root();
        all.reverse();
        let mut incremental = StateTree::new();
        for entry in &all { incremental = incremental.update([*entry]); }
        prop_assert_eq!(forward, ledger.state_root());
        prop_assert_eq!(incremental.root(), ledger.state_root());
    }

    /// Random bytes never panic any decoder.
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Transfer::decode(&bytes);
        let _ = Header::decode(&bytes);
        let _ = Block::decode(&bytes, 1 << 20);
    }

    /// Any single-byte change, truncation or extension of a valid transfer either fails to
    /// decode or fails its signature; it never yields a valid different transfer.
    #[test]
    fn mutated_transfers_are_refused(index in 0usize..200, value in any::<u8>(), cut in 1usize..50) {
        let key = SigningKey::from_bytes(&[9; 32]);
        let body = TransferBody { chain_id: params().chain_id, from: PublicKey::from(&key.verifying_key()), to: PublicKey([2; 32]), amount: 10, fee: 1, nonce: 0, valid_until: 0, memo: b"m".to_vec() };
        let good = body.sign(&key).unwrap().encode();
        let mut changed = good.clone();
        let i = index % changed.len();
        changed[i] = changed[i].wrapping_add(value.max(1));
        if let Ok(t) = Transfer::decode(&changed) { prop_assert!(verify_transfer(t).is_err()); }
        prop_assert!(Transfer::decode(&good[..good.len() - cut.min(good.len())]).is_err());
        let mut longer = good.clone();
        longer.push(value);
        prop_assert!(Transfer::decode(&longer).is_err());
    }
}

#[test]
fn malformed_transfers_are_refused() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let body = TransferBody {
        chain_id: params().chain_id,
        from: PublicKey::from(&key.verifying_key()),
        to: PublicKey([2; 32]),
        amount: 10,
        fee: 1,
        nonce: 0,
        valid_until: 0,
        memo: vec![],
    };
    let good = body.sign(&key).unwrap().encode();
    let chain_len = params().chain_id.as_str().len();
    let amount_at = 2 + chain_len + 64;
    let memo_at = amount_at + 32;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut v = good.clone();
    v[0] = 2;
    cases.push(("unknown version", v));
    let mut v = good.clone();
    v[2] = b'P';
    cases.push(("uppercase chain id", v));
    let mut v = good.clone();
    v[1] = 0;
    cases.push(("empty chain id", v));
    let mut v = good.clone();
    v[amount_at..amount_at + 8].copy_from_slice(&0u64.to_le_bytes());
    cases.push(("zero amount", v));
    let mut v = good[..memo_at].to_vec();
    v.push(65);
    v.extend_from_slice(&[0; 65]);
    v.extend_from_slice(&[0; 64]);
    cases.push(("memo over 64 bytes", v));
    cases.push(("empty", vec![]));
    cases.push(("oversize", vec![1; 400]));
    for (name, bytes) in cases {
        assert!(Transfer::decode(&bytes).is_err(), "{name} decoded");
    }
}

#[test]
fn single_transfer_checks_follow_the_precedence_of_the_spec() {
    let keys = keys();
    let ledger = genesis_ledger(&keys, &[100, 0, 0, 0]);
    let from = PublicKey::from(&keys[0].verifying_key());
    let base = TransferBody {
        chain_id: params().chain_id,
        from,
        to: PublicKey([7; 32]),
        amount: 50,
        fee: 1,
        nonce: 0,
        valid_until: 0,
        memo: vec![],
    };
    let check = |body: TransferBody, key: &SigningKey, height: u64| {
        let t = body.sign(key).unwrap();
        check_transfer(&t, ledger.params(), &ledger.account(&from), height).map_err(|r| r.as_str())
    };
    assert_eq!(check(base.clone(), &keys[0], 1), Ok(()));
    // Every rule broken at once reports wrong_chain first, then each in turn.
    let all_bad = TransferBody {
        chain_id: ChainId::new("other").unwrap(),
        fee: 0,
        nonce: 5,
        valid_until: 1,
        amount: 1_000,
        ..base.clone()
    };
    assert_eq!(check(all_bad.clone(), &keys[1], 2), Err("wrong_chain"));
    let b = TransferBody { chain_id: params().chain_id, ..all_bad };
    assert_eq!(check(b.clone(), &keys[1], 2), Err("invalid_signature"));
    assert_eq!(check(b.clone(), &keys[0], 2), Err("fee_too_low"));
    let b = TransferBody { fee: 1, ..b };
    assert_eq!(check(b.clone(), &keys[0], 2), Err("expired"));
    let b = TransferBody { valid_until: 2, ..b };
    assert_eq!(check(b.clone(), &keys[0], 2), Err("bad_nonce"));
    let b = TransferBody { nonce: 0, ..b };
    assert_eq!(check(b.clone(), &keys[0], 2), Err("insufficient_funds"));
    let overflow = TransferBody { amount: u64::MAX, fee: 1, ..base.clone() };
    assert_eq!(check(overflow, &keys[0], 1), Err("insufficient_funds"));
    // valid_until is inclusive.
    assert_eq!(check(TransferBody { valid_until: 1, ..base }, &keys[0], 1), Ok(()));
}
