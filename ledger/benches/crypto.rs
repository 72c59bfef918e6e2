//! Micro-benchmarks: decode + verify_strict, batch verification, transfers root, block encoding,
//! the state-tree update of one block, and sorting by a 32-byte key.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use tally_ledger::crypto::{verify_transfer, SignatureVerifier, StrictKey};
use tally_ledger::hash::{cmp_bytes32, sort_by_bytes32};
use tally_ledger::merkle::transfers_root;
use tally_ledger::{Account, Block, ChainId, Hash, Header, PublicKey, StateTree, Transfer, TransferBody};

fn transfers(n: usize) -> Vec<Transfer> {
    (0..n)
        .map(|i| {
            let key = SigningKey::from_bytes(&Hash::digest(&(i as u64).to_le_bytes()).0);
            TransferBody {
                chain_id: ChainId::new("tally-devnet").unwrap(),
                from: PublicKey::from(&key.verifying_key()),
                to: PublicKey([7; 32]),
                amount: 100,
                fee: 1,
                nonce: i as u64,
                valid_until: 0,
                memo: b"invoice-0001".to_vec(),
            }
            .sign(&key)
            .unwrap()
        })
        .collect()
}

fn signatures(c: &mut Criterion) {
    let batch = transfers(256);
    let encoded: Vec<Vec<u8>> = batch.iter().map(Transfer::encode).collect();
    let mut group = c.benchmark_group("signatures");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_hash_verify_strict", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % encoded.len();
            verify_transfer(Transfer::decode(&encoded[i]).unwrap()).unwrap()
        })
    });
    // With the sender's key already decompressed (a running node caches it): ed25519-dalek's
    // verify_strict against the same verdict one square root cheaper.
    let signed: Vec<(ed25519_dalek::VerifyingKey, StrictKey, Vec<u8>, [u8; 64])> = batch
        .iter()
        .map(|t| {
            let key = ed25519_dalek::VerifyingKey::from_bytes(t.from.as_bytes()).unwrap();
            (key, StrictKey::from_bytes(t.from.as_bytes()).unwrap(), t.signing_bytes(), *t.signature())
        })
        .collect();
    group.bench_function("cached_key_dalek_verify_strict", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % signed.len();
            let (key, _, message, signature) = &signed[i];
            key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature)).unwrap()
        })
    });
    group.bench_function("cached_key_strict_key_verify", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % signed.len();
            let (_, key, message, signature) = &signed[i];
            assert!(key.verify(message, signature))
        })
    });
    group.bench_function("decode_hash", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % encoded.len();
            Transfer::decode(&encoded[i]).unwrap()
        })
    });
    for size in [64usize, 256] {
        group.throughput(Throughput::Elements(size as u64));
        // A warm verifier: each sender's key verdict is cached, as in a running node.
        let mut verifier = SignatureVerifier::new();
        verifier.verify_transfers(batch[..size].to_vec());
        group.bench_function(format!("verify_batch_{size}"), |b| {
            b.iter_batched(
                || batch[..size].to_vec(),
                |txs| {
                    let out = verifier.verify_transfers_batched(txs);
                    assert!(out.iter().all(Result::is_ok));
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("verify_strict_parallel_{size}"), |b| {
            b.iter_batched(
                || batch[..size].to_vec(),
                |txs| {
                    let out = verifier.verify_transfers(txs);
                    assert!(out.iter().all(Result::is_ok));
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn blocks(c: &mut Criterion) {
    let txs = transfers(2_000);
    let hashes: Vec<Hash> = txs.iter().map(Transfer::hash).collect();
    let mut block = Block {
        header: Header {
            chain_id: ChainId::new("tally-devnet").unwrap(),
            height: 1,
            time_ms: 1,
            previous_hash: Hash::ZERO,
            proposer: PublicKey([1; 32]),
            transfers_root: transfers_root(&hashes),
            last_commit_hash: Hash::ZERO,
            state_root: Hash::ZERO,
        },
        last_commit: Vec::new(),
        transfers: txs,
    };
    block.header.transfers_root = block.computed_transfers_root();
    let bytes = block.encode();
    let mut group = c.benchmark_group("blocks_2000_transfers");
    group.throughput(Throughput::Elements(2_000));
    group.bench_function("transfers_root", |b| b.iter(|| transfers_root(&hashes)));
    group.bench_function("encode", |b| b.iter(|| block.encode()));
    group.bench_function("decode", |b| b.iter(|| Block::decode(&bytes, 8 << 20).unwrap()));
    // What a committed-transfer lookup (getTransaction, history) reads: one transfer, the last
    // (the whole block's length prefixes walked), per lookup.
    group.throughput(Throughput::Elements(1));
    group.bench_function("last_transfer_only", |b| b.iter(|| Block::transfer_at(&bytes, 1_999).unwrap()));
    group.finish();
}

fn state_tree(c: &mut Criterion) {
    let key = |i: u64| PublicKey(Hash::digest(&i.to_le_bytes()).0);
    let tree = StateTree::from_accounts((0..1_000_000u64).map(|i| (key(i), Account { balance: i, nonce: 0 })));
    let mut group = c.benchmark_group("state_tree_1m_accounts");
    group.sample_size(20);
    group.throughput(Throughput::Elements(20_000));
    let mut round = 0u64;
    group.bench_function("state_root_after_20000_updates", |b| {
        b.iter_batched(
            || {
                round += 1;
                (0..20_000u64)
                    .map(|i| (key((i * 50 + round) % 1_000_000), Account { balance: round, nonce: 1 }))
                    .collect::<Vec<_>>()
            },
            |changes| tree.plan(changes).root(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The sort behind a block's tree update (20,000 changed accounts by tree key) and an index
/// flush (~150,000 public keys): comparisons against buckets by leading bits.
fn sorts(c: &mut Criterion) {
    let mut group = c.benchmark_group("sort_by_32_byte_key");
    for count in [20_000u64, 150_000] {
        let items: Vec<([u8; 32], Account)> =
            (0..count).map(|i| (Hash::digest(&i.to_le_bytes()).0, Account { balance: i, nonce: 0 })).collect();
        group.throughput(Throughput::Elements(count));
        group.bench_function(format!("comparison_{count}"), |b| {
            b.iter_batched_ref(
                || items.clone(),
                |items| items.sort_by(|a, b| cmp_bytes32(&a.0, &b.0)),
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("buckets_{count}"), |b| {
            b.iter_batched_ref(|| items.clone(), |items| sort_by_bytes32(items, |item| &item.0), BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, signatures, blocks, state_tree, sorts);
criterion_main!(benches);
