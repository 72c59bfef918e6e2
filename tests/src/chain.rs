//! Signing transfers with the development keys and reading chains over RPC.

use ed25519_dalek::SigningKey;
use tally_ledger::genesis::dev_account_seed;
use tally_ledger::{ChainId, PublicKey, Transfer, TransferBody};

/// Development account `k`'s key.
pub fn dev_key(k: u32) -> SigningKey {
    SigningKey::from_bytes(&dev_account_seed(k))
}

/// Development account `k`'s public key.
pub fn dev_public(k: u32) -> PublicKey {
    PublicKey::from(&dev_key(k).verifying_key())
}

/// A transfer on the development chain.
pub fn transfer(from: &SigningKey, to: PublicKey, amount: u64, fee: u64, nonce: u64) -> Transfer {
    TransferBody {
        chain_id: ChainId::new("tally-devnet").unwrap_or_else(|e| panic!("{e}")),
        from: PublicKey::from(&from.verifying_key()),
        to,
        amount,
        fee,
        nonce,
        valid_until: 0,
        memo: Vec::new(),
    }
    .sign(from)
    .unwrap_or_else(|e| panic!("{e}"))
}
