//! Spending attacks through RPC that `rpc.rs` does not already cover: a zero amount (built
//! byte by byte, since the library refuses to sign one), and a double spend — one nonce, two
//! recipients, sent at the same moment to two different validators. Exactly one transfer may
//! become final, balances move once, and the checkers find every node agreeing.

use ed25519_dalek::Signer;
use std::time::{Duration, Instant};
use tally_ledger::transfer::TRANSFER_DOMAIN;
use tally_ledger::{Address, ChainId, PublicKey, TransferBody};
use tally_rpc::Wait;
use tally_tests::chain::{dev_key, dev_public, transfer};
use tally_tests::Net;

/// A transfer of amount 0, signed correctly: the rules, not the signature, must refuse it.
fn zero_amount_transfer() -> Vec<u8> {
    let key = dev_key(4);
    let body = TransferBody {
        chain_id: ChainId::new("tally-devnet").unwrap(),
        from: dev_public(4),
        to: dev_public(5),
        amount: 1,
        fee: 1,
        nonce: 0,
        valid_until: 0,
        memo: Vec::new(),
    };
    let mut bytes = body.encode();
    // version (1) | len (1) | chain id | from (32) | to (32) | amount (8) ...
    let amount_at = 2 + "tally-devnet".len() + 64;
    assert_eq!(bytes[amount_at..amount_at + 8], 1u64.to_le_bytes());
    bytes[amount_at..amount_at + 8].copy_from_slice(&0u64.to_le_bytes());
    let mut signing = TRANSFER_DOMAIN.to_vec();
    signing.extend_from_slice(&bytes);
    let signature = key.sign(&signing);
    bytes.extend_from_slice(&signature.to_bytes());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_amounts_and_double_spends_are_refused_and_nothing_is_lost() {
    let net = Net::start(4);
    net.wait_height(2).await;
    let sender = Address(dev_public(4));
    let before = net.client(0).get_account(&sender).await.unwrap();

    let err = net.client(1).send_transaction(&zero_amount_transfer(), Wait::None).await.unwrap_err();
    assert_eq!((err.code(), err.reason()), (Some(-32000), Some("malformed")), "{err}");

    // The same nonce to two recipients, through two validators at once.
    let (x, y) = (PublicKey([0x51; 32]), PublicKey([0x52; 32]));
    let spend_x = transfer(&dev_key(4), x, 1_000, 1, before.nonce);
    let spend_y = transfer(&dev_key(4), y, 1_000, 1, before.nonce);
    let (client_a, client_b) = (net.client(0), net.client(2));
    let (bytes_x, bytes_y) = (spend_x.encode(), spend_y.encode());
    let (a, b) =
        tokio::join!(client_a.send_transaction(&bytes_x, Wait::None), client_b.send_transaction(&bytes_y, Wait::None));
    assert!(a.is_ok() || b.is_ok(), "at least one of the two is accepted: {a:?} {b:?}");

    // Wait until one of them is final (goal: a few blocks; bound 30 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let winner = loop {
        // A node briefly behind its store answers "not ready": asked again.
        let account = net.client(3).get_account(&sender).await;
        if let Some(account) = account.as_ref().ok().filter(|a| a.nonce > before.nonce) {
            break account.clone();
        }
        assert!(Instant::now() < deadline, "neither spend became final within 30 s: {account:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A few more blocks on every node, so a second inclusion would have had its chance (from
    // node 3's height too: node 0 may be behind it).
    let tip = net.height(0).await.unwrap().max(winner.height);
    net.wait_height(tip + 3).await;

    let got_x = net.client(1).get_account(&Address(x)).await.unwrap().balance;
    let got_y = net.client(1).get_account(&Address(y)).await.unwrap().balance;
    assert_eq!(got_x + got_y, 1_000, "exactly one recipient is paid: x {got_x}, y {got_y}");
    let after = net.client(1).get_account(&sender).await.unwrap();
    assert_eq!(after.nonce, before.nonce + 1, "the nonce rises by one");
    assert_eq!(after.balance, before.balance - 1_001);
    assert_eq!(winner.nonce, after.nonce);

    let final_hash = if got_x > 0 { spend_x.hash() } else { spend_y.hash() };
    let snapshot = net.check_all(&[final_hash]).await.unwrap_or_else(|e| panic!("checkers: {e}"));
    let both = [spend_x.hash(), spend_y.hash()];
    let included = snapshot.transfers.keys().filter(|h| both.contains(h)).count();
    assert_eq!(included, 1, "one of the two spends is in the chain, once");
}
