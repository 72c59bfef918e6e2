//! A test chain: a genesis with funded keys, and a builder of valid blocks on top of it.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use tally_ledger::block::last_commit_hash;
use tally_ledger::crypto::verify_transfer;
use tally_ledger::genesis::{Genesis, GenesisValidator};
use tally_ledger::store::{Backend, BlockCommit, Store};
use tally_ledger::Block;
use tally_ledger::{
    BlockContext, ChainId, ChainParams, Execution, Hash, Header, Ledger, PublicKey, TransferBody, VerifiedTransfer,
};

/// A chain under construction.
pub struct TestChain {
    pub genesis: Genesis,
    pub keys: Vec<SigningKey>,
    pub ledger: Ledger,
    pub last_certificate: Vec<u8>,
    pub proposer: PublicKey,
    nonces: Vec<u64>,
}

pub fn signing_key(i: u64) -> SigningKey {
    SigningKey::from_bytes(&Hash::digest(format!("test-key-{i}").as_bytes()).0)
}

impl TestChain {
    /// A genesis with `funded` keyed accounts of `balance` each and one validator.
    pub fn new(funded: u64, balance: u64) -> TestChain {
        let keys: Vec<SigningKey> = (0..funded).map(signing_key).collect();
        let proposer = PublicKey::from(&SigningKey::from_bytes(&[0xee; 32]).verifying_key());
        let accounts: Vec<(PublicKey, u64)> =
            keys.iter().map(|k| (PublicKey::from(&k.verifying_key()), balance)).collect();
        let genesis = Genesis {
            params: ChainParams {
                chain_id: ChainId::new("test-devnet").unwrap(),
                min_fee: 1,
                max_block_txs: 20_000,
                max_block_bytes: 8 << 20,
                validators: vec![proposer],
            },
            genesis_time_ms: 1_000,
            validators: vec![GenesisValidator { name: "v0".into(), public_key: proposer, power: 1 }],
            accounts,
            hash: Hash::digest(format!("test-genesis-{funded}-{balance}").as_bytes()),
        };
        let ledger = genesis.initial_ledger();
        TestChain { genesis, keys, ledger, last_certificate: Vec::new(), proposer, nonces: vec![0; funded as usize] }
    }

    /// `count` signed transfers: sender i (round robin from `offset`) pays sender i+1.
    pub fn transfers(&mut self, count: usize, offset: usize) -> Vec<VerifiedTransfer> {
        let n = self.keys.len();
        (0..count)
            .map(|j| {
                let i = (offset + j) % n;
                let to = PublicKey::from(&self.keys[(i + 1) % n].verifying_key());
                let body = TransferBody {
                    chain_id: self.genesis.params.chain_id.clone(),
                    from: PublicKey::from(&self.keys[i].verifying_key()),
                    to,
                    amount: 1 + (j as u64 % 7),
                    fee: 1,
                    nonce: self.nonces[i],
                    valid_until: 0,
                    memo: vec![],
                };
                self.nonces[i] += 1;
                verify_transfer(body.sign(&self.keys[i]).unwrap()).unwrap()
            })
            .collect()
    }

    /// Builds the next block from `transfers` (all must apply), with a fake certificate.
    pub fn build(&self, transfers: Vec<VerifiedTransfer>) -> (Block, Vec<u8>, Execution) {
        let height = self.ledger.height() + 1;
        let ctx = BlockContext { height, proposer: self.proposer };
        let (included, refused, execution) = self.ledger.select(&ctx, transfers);
        assert!(refused.is_empty(), "test transfers must apply: {refused:?}");
        let transfers: Vec<_> = included.into_iter().map(VerifiedTransfer::into_inner).collect();
        let mut block = Block {
            header: Header {
                chain_id: self.genesis.params.chain_id.clone(),
                height,
                time_ms: self.ledger.last_time_ms() + 1_000,
                previous_hash: self.ledger.last_block_hash(),
                proposer: self.proposer,
                transfers_root: Hash::ZERO,
                last_commit_hash: last_commit_hash(&self.last_certificate),
                state_root: execution.state_root(),
            },
            last_commit: self.last_certificate.clone(),
            transfers,
        };
        block.header.transfers_root = block.computed_transfers_root();
        let certificate = format!("certificate-{height}-{}", block.hash()).into_bytes();
        (block, certificate, execution)
    }

    /// Commits the block to `store` and then to the in-memory ledger.
    pub fn commit<B: Backend>(&mut self, store: &Store<B>, block: &Block, certificate: Vec<u8>, execution: Execution) {
        store.commit(&BlockCommit { block, certificate: &certificate }).unwrap();
        self.ledger.apply(execution, block.hash(), block.header.time_ms);
        self.last_certificate = certificate;
    }

    /// Every account of the in-memory ledger, for a snapshot.
    pub fn accounts(&self) -> Vec<(PublicKey, tally_ledger::Account)> {
        self.ledger.accounts().map(|(k, a)| (*k, *a)).collect()
    }

    /// Builds and commits a block of `count` transfers.
    pub fn advance<B: Backend>(&mut self, store: &Store<B>, count: usize) -> Block {
        let offset = self.ledger.height() as usize * count;
        let transfers = self.transfers(count, offset);
        let (block, certificate, execution) = self.build(transfers);
        self.commit(store, &block, certificate, execution);
        block
    }
}
