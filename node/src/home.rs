//! The node's home directory: where every file lives, and the key files (mode 0600).
//!
//! ```text
//! <home>/config.toml            settings (see config.rs)
//! <home>/genesis.json           the chain's genesis, byte for byte
//! <home>/node_key.json          libp2p identity (ed25519 seed)
//! <home>/consensus_key.json     validator signing key (absent on a full node)
//! <home>/data/db/               RocksDB: blocks, certificates, accounts, indexes
//! <home>/data/consensus_state   signing state of the current height (crash safety)
//! <home>/data/signed.jsonl      every consensus message this node signed (audit trail)
//! <home>/data/evidence.jsonl    equivocation evidence seen
//! ```

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Paths inside a home directory.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

/// A file-level failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file's content is not what it should be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io { path: path.to_path_buf(), source }
}

impl Home {
    /// The home at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The home directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `genesis.json`.
    pub fn genesis(&self) -> PathBuf {
        self.root.join("genesis.json")
    }

    /// `node_key.json`.
    pub fn node_key(&self) -> PathBuf {
        self.root.join("node_key.json")
    }

    /// `consensus_key.json`.
    pub fn consensus_key(&self) -> PathBuf {
        self.root.join("consensus_key.json")
    }

    /// `data/`.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `data/db/`.
    pub fn db(&self) -> PathBuf {
        self.data().join("db")
    }

    /// `data/consensus_state`.
    pub fn consensus_state(&self) -> PathBuf {
        self.data().join("consensus_state")
    }

    /// `data/signed.jsonl`.
    pub fn signed_log(&self) -> PathBuf {
        self.data().join("signed.jsonl")
    }

    /// `data/candidates/`: candidate blocks saved before voting for them.
    pub fn candidate_blocks(&self) -> PathBuf {
        self.data().join("candidates")
    }

    /// `data/evidence.jsonl`.
    pub fn evidence_log(&self) -> PathBuf {
        self.data().join("evidence.jsonl")
    }

    /// True if `init` has run here.
    pub fn is_initialised(&self) -> bool {
        self.config().exists() && self.genesis().exists() && self.node_key().exists()
    }
}

/// A key file: an ed25519 seed and, for reading by people, its public key and address.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Always `ed25519`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The public key, hex.
    pub public_key: String,
    /// The `tally1…` address of the public key.
    pub address: String,
    /// The 32-byte seed, hex. Secret.
    pub seed: String,
}

/// Writes `bytes` to `path` atomically and durably: temporary file (mode `mode`), fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HomeError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
        file.write_all(bytes).map_err(io_error(&tmp))?;
        file.sync_all().map_err(io_error(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_error(path))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))?;
    Ok(())
}

/// Writes a key file with mode 0600.
pub fn write_key(path: &Path, seed: &[u8; 32]) -> Result<(), HomeError> {
    let public = ed25519_dalek::SigningKey::from_bytes(seed).verifying_key();
    let public = tally_ledger::PublicKey::from(&public);
    let file = KeyFile {
        kind: "ed25519".into(),
        public_key: public.to_hex(),
        address: public.address().to_string(),
        seed: hex::encode(seed),
    };
    let text = serde_json::to_vec_pretty(&file)
        .map_err(|e| HomeError::Invalid { path: path.into(), message: e.to_string() })?;
    write_atomic(path, &text, 0o600)
}

/// Reads a key file's seed, checking that the stored public key matches it.
pub fn read_key(path: &Path) -> Result<[u8; 32], HomeError> {
    let invalid = |message: &str| HomeError::Invalid { path: path.to_path_buf(), message: message.to_string() };
    let text = fs::read(path).map_err(io_error(path))?;
    let file: KeyFile = serde_json::from_slice(&text).map_err(|e| invalid(&e.to_string()))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(&file.seed, &mut seed).map_err(|_| invalid("seed must be 64 hex characters"))?;
    let public = tally_ledger::PublicKey::from(&ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key());
    if public.to_hex() != file.public_key {
        return Err(invalid("public_key does not match the seed"));
    }
    Ok(seed)
}

/// A fresh random seed from the operating system.
pub fn random_seed() -> [u8; 32] {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let seed = random_seed();
        write_key(&path, &seed).unwrap();
        assert_eq!(read_key(&path).unwrap(), seed);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let mut file: KeyFile = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        file.public_key = "00".repeat(32);
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(read_key(&path).is_err());
    }
}
