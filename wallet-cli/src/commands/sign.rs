//! `tally sign`: builds and signs a transfer offline and prints its hex.

use super::{Context, Unlocked};
use crate::cli::SignArgs;
use crate::error::WalletError;
use crate::output::transfer_lines;
use serde_json::json;
use tally_ledger::transfer::MAX_MEMO_LEN;
use tally_ledger::{Address, ChainId, Transfer, TransferBody};
use tally_rpc::wire::TransferFields;

/// A memo argument as bytes: UTF-8 text of at most 64 bytes.
pub fn memo_bytes(memo: Option<&str>) -> Result<Vec<u8>, WalletError> {
    let memo = memo.unwrap_or_default().as_bytes().to_vec();
    if memo.len() > MAX_MEMO_LEN {
        return Err(WalletError::BadInput {
            what: "--memo",
            reason: format!("{} bytes; a memo holds at most {MAX_MEMO_LEN} bytes of UTF-8", memo.len()),
        });
    }
    Ok(memo)
}

/// What a transfer says, before signing.
pub struct Draft {
    /// The chain.
    pub chain_id: ChainId,
    /// The recipient.
    pub to: Address,
    /// Base units.
    pub amount: u64,
    /// Fee.
    pub fee: u64,
    /// Sender nonce.
    pub nonce: u64,
    /// Last height (0: none).
    pub valid_until: u64,
    /// Memo bytes.
    pub memo: Vec<u8>,
}

impl Draft {
    /// Signs the draft with `key`.
    pub fn sign(self, key: &Unlocked) -> Result<Transfer, WalletError> {
        let body = TransferBody {
            chain_id: self.chain_id,
            from: key.public(),
            to: self.to.public_key(),
            amount: self.amount,
            fee: self.fee,
            nonce: self.nonce,
            valid_until: self.valid_until,
            memo: self.memo,
        };
        body.sign(&key.signing).map_err(|e| WalletError::BadInput { what: "transfer", reason: e.to_string() })
    }
}

/// The JSON of a signed transfer: its hex, hash and fields in the RPC's encodings.
pub fn transfer_json(transfer: &Transfer) -> serde_json::Value {
    let mut value = serde_json::to_value(TransferFields::from(transfer)).unwrap_or_else(|_| json!({}));
    value["tx"] = json!(hex::encode(transfer.encode()));
    value["hash"] = json!(transfer.hash().to_hex());
    value["chain_id"] = json!(transfer.chain_id.as_str());
    value
}

/// Signs offline; nothing here touches the network.
pub fn run(ctx: &Context, args: SignArgs) -> Result<(), WalletError> {
    let chain_id = ChainId::new(&args.chain_id)
        .map_err(|e| WalletError::BadInput { what: "--chain-id", reason: e.to_string() })?;
    let memo = memo_bytes(args.memo.as_deref())?;
    let name = ctx.key_name()?;
    let key = ctx.unlock(&name)?;
    let draft = Draft {
        chain_id,
        to: args.to,
        amount: args.amount,
        fee: args.fee,
        nonce: args.nonce,
        valid_until: args.valid_until,
        memo,
    };
    let transfer = draft.sign(&key)?;
    if !ctx.out.is_json() {
        let fields = TransferFields::from(&transfer);
        eprintln!("signed {} with key {name:?} ({}):", transfer.hash(), transfer.chain_id);
        for line in transfer_lines(&fields) {
            eprintln!("  {line}");
        }
    }
    ctx.out.emit(&transfer_json(&transfer), || hex::encode(transfer.encode()));
    Ok(())
}
