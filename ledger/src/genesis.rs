//! `genesis.json` (SPEC §5): parsed strictly, validated with errors that name the field, hashed
//! over its exact bytes, and turned into the initial ledger state.

use crate::address::{Address, PublicKey};
use crate::hash::Hash;
use crate::state::{Account, ChainParams, Ledger};
use crate::transfer::ChainId;
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Why a genesis file is refused; `field` names where the problem is (e.g. `accounts[3].balance`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("genesis field `{field}`: {message}")]
pub struct GenesisError {
    /// The offending field, as a JSON path.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> GenesisError {
    GenesisError { field: field.into(), message: message.into() }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGenesis {
    chain_id: String,
    genesis_time: String,
    min_fee: u64,
    max_block_txs: u64,
    max_block_bytes: u64,
    validators: Vec<RawValidator>,
    accounts: Vec<RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidator {
    name: String,
    public_key: String,
    power: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    address: String,
    balance: u64,
}

/// A validator of the genesis set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisValidator {
    /// A human name (`v0`).
    pub name: String,
    /// The consensus public key.
    pub public_key: PublicKey,
    /// Voting power, > 0.
    pub power: u64,
}

/// A validated genesis.
#[derive(Clone, Debug)]
pub struct Genesis {
    /// Chain parameters (chain id, fees, block limits).
    pub params: ChainParams,
    /// Genesis time, Unix milliseconds; block 1 must be later.
    pub genesis_time_ms: u64,
    /// The validator set, in file order.
    pub validators: Vec<GenesisValidator>,
    /// Initial balances, in file order.
    pub accounts: Vec<(PublicKey, u64)>,
    /// SHA-256 of the file's exact bytes: part of the chain's identity.
    pub hash: Hash,
}

/// The ed25519 seed of development validator `i`: SHA-256("tally-devnet-validator-" + i).
pub fn dev_validator_seed(i: u32) -> [u8; 32] {
    Hash::digest(format!("tally-devnet-validator-{i}").as_bytes()).0
}

/// The ed25519 seed of development account `k`: SHA-256("tally-devnet-account-" + k).
pub fn dev_account_seed(k: u32) -> [u8; 32] {
    Hash::digest(format!("tally-devnet-account-{k}").as_bytes()).0
}

/// The public key of a seed.
pub fn public_key_of_seed(seed: &[u8; 32]) -> PublicKey {
    PublicKey::from(&SigningKey::from_bytes(seed).verifying_key())
}

/// How many development validators and accounts are recognised as well-known keys.
const DEV_VALIDATORS: u32 = 64;
const DEV_ACCOUNTS: u32 = 10;

/// True if `key` is one of the well-known development keys (validators 0..64, accounts 0..10).
pub fn is_dev_key(key: &PublicKey) -> bool {
    (0..DEV_VALIDATORS).any(|i| public_key_of_seed(&dev_validator_seed(i)) == *key)
        || (0..DEV_ACCOUNTS).any(|k| public_key_of_seed(&dev_account_seed(k)) == *key)
}

/// True if development keys are allowed on this chain: its id ends in `-devnet`.
pub fn allows_dev_keys(chain_id: &ChainId) -> bool {
    chain_id.as_str().ends_with("-devnet")
}

/// Parses an RFC 3339 time into Unix milliseconds (not before 1970).
pub fn parse_time_ms(text: &str) -> Option<u64> {
    let time = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Formats Unix milliseconds as RFC 3339 UTC with milliseconds (`2026-01-01T00:00:00.000Z`).
pub fn format_time_ms(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(time) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            time.year(),
            u8::from(time.month()),
            time.day(),
            time.hour(),
            time.minute(),
            time.second(),
            time.millisecond()
        ),
        Err(_) => String::from("invalid-time"),
    }
}

impl Genesis {
    /// Parses and validates the file's exact bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Genesis, GenesisError> {
        let raw: RawGenesis = serde_json::from_slice(bytes).map_err(|e| error(json_field(&e), e.to_string()))?;
        let chain_id = ChainId::new(&raw.chain_id).map_err(|_| error("chain_id", "must match [a-z0-9-]{1,64}"))?;
        let genesis_time_ms = parse_time_ms(&raw.genesis_time)
            .ok_or_else(|| error("genesis_time", "must be an RFC 3339 time after 1970"))?;
        if raw.max_block_txs == 0 {
            return Err(error("max_block_txs", "must be at least 1"));
        }
        if raw.max_block_bytes < 1024 || raw.max_block_bytes > (1 << 30) {
            return Err(error("max_block_bytes", "must be between 1 KiB and 1 GiB"));
        }
        let dev_ok = allows_dev_keys(&chain_id);
        if raw.validators.is_empty() {
            return Err(error("validators", "at least one validator is needed"));
        }
        let mut validators = Vec::with_capacity(raw.validators.len());
        let mut seen = HashSet::new();
        let mut total_power: u64 = 0;
        for (i, v) in raw.validators.iter().enumerate() {
            let field = |name: &str| format!("validators[{i}].{name}");
            let public_key = PublicKey::from_hex(&v.public_key)
                .ok_or_else(|| error(field("public_key"), "must be 64 hex characters"))?;
            if ed25519_dalek::VerifyingKey::from_bytes(public_key.as_bytes()).is_err() {
                return Err(error(field("public_key"), "not a valid ed25519 public key"));
            }
            if !seen.insert(public_key) {
                return Err(error(field("public_key"), "duplicate validator"));
            }
            if v.power == 0 {
                return Err(error(field("power"), "must be greater than zero"));
            }
            total_power =
                total_power.checked_add(v.power).ok_or_else(|| error(field("power"), "total power overflows u64"))?;
            if !dev_ok && is_dev_key(&public_key) {
                return Err(error(
                    field("public_key"),
                    "a well-known development key is only allowed on a *-devnet chain",
                ));
            }
            validators.push(GenesisValidator { name: v.name.clone(), public_key, power: v.power });
        }
        let mut accounts = Vec::with_capacity(raw.accounts.len());
        let mut seen = HashSet::new();
        let mut supply: u64 = 0;
        for (i, a) in raw.accounts.iter().enumerate() {
            let field = |name: &str| format!("accounts[{i}].{name}");
            let address: Address = a.address.parse().map_err(|e| error(field("address"), format!("{e}")))?;
            let key = address.public_key();
            if !seen.insert(key) {
                return Err(error(field("address"), "duplicate account"));
            }
            supply =
                supply.checked_add(a.balance).ok_or_else(|| error(field("balance"), "total supply overflows u64"))?;
            if !dev_ok && is_dev_key(&key) {
                return Err(error(
                    field("address"),
                    "a well-known development key is only allowed on a *-devnet chain",
                ));
            }
            accounts.push((key, a.balance));
        }
        Ok(Genesis {
            params: ChainParams {
                chain_id,
                min_fee: raw.min_fee,
                max_block_txs: raw.max_block_txs,
                max_block_bytes: raw.max_block_bytes,
                validators: validators.iter().map(|v| v.public_key).collect(),
            },
            genesis_time_ms,
            validators,
            accounts,
            hash: Hash::digest(bytes),
        })
    }

    /// The total supply, fixed forever.
    pub fn total_supply(&self) -> u64 {
        // Validated not to overflow.
        self.accounts.iter().map(|(_, b)| *b).fold(0u64, u64::saturating_add)
    }

    /// The initial account map (accounts with a zero balance are still created).
    pub fn initial_accounts(&self) -> HashMap<PublicKey, Account> {
        self.accounts.iter().map(|(k, b)| (*k, Account { balance: *b, nonce: 0 })).collect()
    }

    /// The ledger state at height 0: the genesis hash stands in for the parent block's hash.
    pub fn initial_ledger(&self) -> Ledger {
        Ledger::new(self.params.clone(), self.initial_accounts(), 0, self.hash, self.genesis_time_ms)
    }
}

/// Best-effort field name for a serde error ("unknown field `x`" names itself).
fn json_field(e: &serde_json::Error) -> String {
    let text = e.to_string();
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(start) = text.find(marker) {
            let rest = &text[start + marker.len()..];
            if let Some(end) = rest.find('`') {
                return rest[..end].to_string();
            }
        }
    }
    String::from("(file)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO_GENESIS: &[u8] = include_bytes!("../../genesis.json");

    #[test]
    fn repository_genesis_is_the_devnet_with_development_keys() {
        let genesis = Genesis::from_bytes(REPO_GENESIS).unwrap();
        assert_eq!(genesis.params.chain_id.as_str(), "tally-devnet");
        let validators: Vec<PublicKey> = genesis.validators.iter().map(|v| v.public_key).collect();
        let expected: Vec<PublicKey> = (0..4).map(|i| public_key_of_seed(&dev_validator_seed(i))).collect();
        assert_eq!(validators, expected);
        assert!(genesis.validators.iter().all(|v| v.power == 1));
        let accounts: Vec<(PublicKey, u64)> =
            (0..10).map(|k| (public_key_of_seed(&dev_account_seed(k)), 1_000_000_000_000)).collect();
        assert_eq!(genesis.accounts, accounts);
        assert_eq!(genesis.hash, Hash::digest(REPO_GENESIS));
    }

    fn edited(f: impl FnOnce(&mut serde_json::Value)) -> Result<Genesis, GenesisError> {
        let mut value: serde_json::Value = serde_json::from_slice(REPO_GENESIS).unwrap();
        f(&mut value);
        Genesis::from_bytes(&serde_json::to_vec(&value).unwrap())
    }

    #[test]
    fn errors_name_the_field() {
        let field = |r: Result<Genesis, GenesisError>| r.unwrap_err().field;
        assert_eq!(field(edited(|g| g["extra"] = 1.into())), "extra");
        assert_eq!(field(edited(|g| g["chain_id"] = "Bad_Id".into())), "chain_id");
        assert_eq!(field(edited(|g| g["validators"][2]["power"] = 0.into())), "validators[2].power");
        assert_eq!(field(edited(|g| g["validators"][1] = g["validators"][0].clone())), "validators[1].public_key");
        assert_eq!(field(edited(|g| g["accounts"][3] = g["accounts"][0].clone())), "accounts[3].address");
        assert_eq!(
            field(edited(|g| {
                g["accounts"][0]["balance"] = u64::MAX.into();
            })),
            "accounts[1].balance"
        );
        assert_eq!(field(edited(|g| g["accounts"][0]["address"] = "tally1xyz".into())), "accounts[0].address");
        assert_eq!(field(edited(|g| g["genesis_time"] = "yesterday".into())), "genesis_time");
    }

    #[test]
    fn development_keys_only_on_devnet_chains() {
        let err = edited(|g| g["chain_id"] = "tally-mainnet".into()).unwrap_err();
        assert_eq!(err.field, "validators[0].public_key");
        assert!(edited(|g| g["chain_id"] = "my-devnet".into()).is_ok());
    }

    #[test]
    fn time_formats() {
        assert_eq!(parse_time_ms("2026-01-01T00:00:00Z"), Some(1_767_225_600_000));
        assert_eq!(format_time_ms(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
    }
}
