//! The wallet's errors and the exit codes they map to.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | usage or local error: bad arguments, unknown key, wrong passphrase, unreadable key file |
//! | 2 | the node could not be reached, or answered with something other than a result |
//! | 3 | the node rejected the transfer (insufficient funds, bad nonce, ...), or it expired or was replaced |
//! | 4 | not found (an unknown transfer hash), or timed out waiting for finality |

use std::path::PathBuf;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Usage or local error.
pub const EXIT_LOCAL: u8 = 1;
/// The node is unreachable or misbehaved.
pub const EXIT_NODE: u8 = 2;
/// The transfer was rejected or will never be final.
pub const EXIT_REJECTED: u8 = 3;
/// Not found, or a wait timed out.
pub const EXIT_NOT_FOUND: u8 = 4;

/// Everything that can go wrong, with the facts a message needs.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// A key name that cannot be a file name.
    #[error("invalid key name {name:?}: use 1 to 64 characters of [A-Za-z0-9_-]")]
    BadKeyName { name: String },
    /// No key file with that name.
    #[error("no key named {name:?} in {dir}: see `tally keys list`, or create one with `tally keys new {name}`")]
    KeyNotFound { name: String, dir: PathBuf },
    /// `keys new` / `keys import` over an existing key.
    #[error("a key named {name:?} already exists ({path}); choose another name")]
    KeyExists { name: String, path: PathBuf },
    /// No keys at all, and a command needs one.
    #[error("no keys in {dir}: create one with `tally keys new NAME` or `tally keys import NAME --seed-hex HEX`")]
    NoKeys { dir: PathBuf },
    /// Several keys, none named `default`, and no `--key`.
    #[error("several keys ({}) and none is named \"default\": choose one with --key NAME", names.join(", "))]
    AmbiguousKey { names: Vec<String> },
    /// Decryption failed: the AEAD tag did not verify.
    #[error("wrong passphrase or corrupted key file ({path})")]
    WrongPassphrase { path: PathBuf },
    /// A key file of a version this wallet does not know.
    #[error("unsupported key file version {version} in {path}: this wallet reads version 1")]
    UnsupportedVersion { path: PathBuf, version: u64 },
    /// A key file that does not parse or whose fields are inconsistent.
    #[error("corrupted key file {path}: {reason}")]
    CorruptKeyFile { path: PathBuf, reason: String },
    /// A file system error.
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    /// No passphrase could be read.
    #[error("cannot read a passphrase ({reason}): set TALLY_PASSPHRASE for scripts")]
    NoPassphrase { reason: String },
    /// The two entries of a new passphrase differ.
    #[error("the passphrases do not match; nothing was written")]
    PassphraseMismatch,
    /// An empty passphrase for a new key.
    #[error("the passphrase must not be empty")]
    EmptyPassphrase,
    /// A mnemonic that is not valid BIP39 English.
    #[error("invalid mnemonic: {reason}")]
    BadMnemonic { reason: String },
    /// A seed that is not 64 hex characters.
    #[error("invalid --seed-hex: expected 64 hex characters (a 32-byte ed25519 seed)")]
    BadSeedHex,
    /// `keys export` without `--yes`.
    #[error(
        "refusing to print the secret seed of {name:?} without --yes: anyone who sees it can spend from {address}"
    )]
    ExportNeedsYes { name: String, address: String },
    /// A local argument the wallet refuses (memo too long, transfer hex undecodable, ...).
    #[error("invalid {what}: {reason}")]
    BadInput { what: &'static str, reason: String },
    /// The node did not answer.
    #[error("cannot reach the node at {url}: is tally-node running? (--rpc / TALLY_WALLET_RPC)")]
    Unreachable { url: String, detail: String },
    /// The node answered with an error that is not about the transfer.
    #[error("the node at {url} answered with an error: {detail}")]
    Node { url: String, detail: String },
    /// The node rejected the transfer; `message` says why and what to do.
    #[error("{message}")]
    Rejected { reason: String, message: String },
    /// The transfer will never be final.
    #[error("transfer {hash} {status}: {hint}")]
    NotFinal { hash: String, status: &'static str, hint: String },
    /// A transfer hash the node does not know.
    #[error("transfer {hash} is unknown to the node at {url}")]
    NotFound { hash: String, url: String },
    /// The wait for finality ran out.
    #[error("transfer {hash} is still pending after {seconds} s; check later with `tally tx {hash}`")]
    Timeout { hash: String, seconds: u64 },
}

impl WalletError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            WalletError::Unreachable { .. } | WalletError::Node { .. } => EXIT_NODE,
            WalletError::Rejected { .. } | WalletError::NotFinal { .. } => EXIT_REJECTED,
            WalletError::NotFound { .. } | WalletError::Timeout { .. } => EXIT_NOT_FOUND,
            _ => EXIT_LOCAL,
        }
    }

    /// A short machine-readable name for JSON output.
    pub fn kind(&self) -> &str {
        match self {
            WalletError::BadKeyName { .. } => "bad_key_name",
            WalletError::KeyNotFound { .. } => "key_not_found",
            WalletError::KeyExists { .. } => "key_exists",
            WalletError::NoKeys { .. } => "no_keys",
            WalletError::AmbiguousKey { .. } => "ambiguous_key",
            WalletError::WrongPassphrase { .. } => "wrong_passphrase",
            WalletError::UnsupportedVersion { .. } => "unsupported_version",
            WalletError::CorruptKeyFile { .. } => "corrupt_key_file",
            WalletError::Io { .. } => "io",
            WalletError::NoPassphrase { .. } => "no_passphrase",
            WalletError::PassphraseMismatch => "passphrase_mismatch",
            WalletError::EmptyPassphrase => "empty_passphrase",
            WalletError::BadMnemonic { .. } => "bad_mnemonic",
            WalletError::BadSeedHex => "bad_seed_hex",
            WalletError::ExportNeedsYes { .. } => "needs_yes",
            WalletError::BadInput { .. } => "bad_input",
            WalletError::Unreachable { .. } => "unreachable",
            WalletError::Node { .. } => "node_error",
            WalletError::Rejected { reason, .. } => reason,
            WalletError::NotFinal { status, .. } => status,
            WalletError::NotFound { .. } => "not_found",
            WalletError::Timeout { .. } => "timeout",
        }
    }

    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WalletError {
        let path = path.into();
        move |source| WalletError::Io { action, path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_by_kind() {
        assert_eq!(WalletError::BadSeedHex.exit_code(), EXIT_LOCAL);
        assert_eq!(WalletError::Unreachable { url: "u".into(), detail: "d".into() }.exit_code(), EXIT_NODE);
        assert_eq!(
            WalletError::Rejected { reason: "bad_nonce".into(), message: "m".into() }.exit_code(),
            EXIT_REJECTED
        );
        assert_eq!(WalletError::Timeout { hash: "h".into(), seconds: 1 }.exit_code(), EXIT_NOT_FOUND);
        assert_eq!(EXIT_OK, 0);
    }
}
