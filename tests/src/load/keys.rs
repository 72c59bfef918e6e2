//! Deterministic sender keys and transfer signing.

use ed25519_dalek::SigningKey;
use tally_ledger::{Address, ChainId, Hash, PublicKey, TransferBody};

/// A sender: its key and address.
pub struct Sender {
    /// The signing key.
    pub key: SigningKey,
    /// Its public key.
    pub public: PublicKey,
}

impl Sender {
    /// A sender from an ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> Sender {
        let key = SigningKey::from_bytes(&seed);
        let public = PublicKey::from(&key.verifying_key());
        Sender { key, public }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.public.address()
    }
}

/// Sender `i`'s seed: SHA-256(seed || i as u32 little-endian).
pub fn sender_seed(seed: &str, i: u32) -> [u8; 32] {
    Hash::digest_parts(&[seed.as_bytes(), &i.to_le_bytes()]).0
}

/// `count` senders derived from `seed`.
pub fn senders(seed: &str, count: u32) -> Vec<Sender> {
    (0..count).map(|i| Sender::from_seed(sender_seed(seed, i))).collect()
}

/// A signed transfer, ready to send: its hash and its bytes as hex.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The transfer hash.
    pub hash: Hash,
    /// The encoded transfer, lowercase hex.
    pub hex: String,
}

/// What to sign.
#[derive(Clone, Copy, Debug)]
pub struct Order {
    /// Index of the sender.
    pub from: usize,
    /// The recipient.
    pub to: PublicKey,
    /// Amount, base units.
    pub amount: u64,
    /// Fee, base units.
    pub fee: u64,
    /// The sender's nonce for this transfer.
    pub nonce: u64,
}

/// Signs one transfer of `chain`, includable up to height `valid_until` (0: no limit).
pub fn sign(chain: &ChainId, from: &Sender, order: &Order, valid_until: u64) -> Result<Signed, String> {
    let transfer = TransferBody {
        chain_id: chain.clone(),
        from: from.public,
        to: order.to,
        amount: order.amount,
        fee: order.fee,
        nonce: order.nonce,
        valid_until,
        memo: Vec::new(),
    }
    .sign(&from.key)
    .map_err(|e| format!("signing a transfer: {e}"))?;
    Ok(Signed { hash: transfer.hash(), hex: hex::encode(transfer.encode()) })
}

/// Signs every order, on all cores; the result is in the orders' order.
pub fn sign_all(
    chain: &ChainId,
    senders: &[Sender],
    orders: &[Order],
    valid_until: u64,
) -> Result<Vec<Signed>, String> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).max(1);
    let chunk = orders.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Signed>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = orders
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|o| {
                            let sender = senders.get(o.from).ok_or("order names no sender")?;
                            sign(chain, sender, o, valid_until)
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a signing thread panicked".into()))).collect()
    });
    let mut out = Vec::with_capacity(orders.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}
