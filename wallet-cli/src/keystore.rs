//! Encrypted key files: `HOME/keys/NAME.json`, mode 0600, in a directory of mode 0700.
//!
//! ```json
//! {
//!   "version": 1,
//!   "address": "tally1…",
//!   "public_key": "<64 hex>",
//!   "origin": { "kind": "mnemonic", "path": "m/44'/7337'/0'/0'/0'" },
//!   "kdf": { "name": "argon2id", "salt": "<32 hex>", "m": 65536, "t": 3, "p": 1 },
//!   "cipher": { "name": "xchacha20poly1305", "nonce": "<48 hex>" },
//!   "ciphertext": "<96 hex: the 32-byte ed25519 seed, then the 16-byte tag>"
//! }
//! ```
//!
//! The key is Argon2id (version 0x13, 32-byte output) of the passphrase's UTF-8 bytes with the
//! salt and parameters of the file (`m` in KiB). XChaCha20-Poly1305 encrypts the 32-byte
//! ed25519 seed; its associated data is [`associated_data`], which binds the version, the KDF
//! parameters, the nonce and the public key, so changing any of them makes decryption fail. After
//! decryption the seed's public key must equal `public_key`, and `address` must encode it.

use crate::error::WalletError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use tally_ledger::{Address, PublicKey};
use zeroize::Zeroizing;

/// The key file version this wallet writes and reads.
pub const VERSION: u64 = 1;

/// Argon2id parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The default: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option).
    pub const DEFAULT: KdfParams = KdfParams { m: 64 * 1024, t: 3, p: 1 };
    /// A cheap setting for unit tests of the format (files record their parameters).
    #[cfg(test)]
    pub const INSECURE_FOR_TESTS: KdfParams = KdfParams { m: 1024, t: 1, p: 1 };

    /// Refuses parameters outside sane bounds (a tampered file must not make us allocate 4 TiB).
    fn check(&self) -> Result<(), String> {
        if !(1..=16).contains(&self.p) {
            return Err(format!("kdf.p {} is outside 1..=16", self.p));
        }
        if !(1..=64).contains(&self.t) {
            return Err(format!("kdf.t {} is outside 1..=64", self.t));
        }
        if self.m < 8 * self.p || self.m > 4 * 1024 * 1024 {
            return Err(format!("kdf.m {} KiB is outside 8*p..=4 GiB", self.m));
        }
        Ok(())
    }
}

/// How the seed came to be (public metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Origin {
    /// Derived from a BIP39 mnemonic on `path`.
    Mnemonic {
        /// The SLIP-0010 derivation path.
        path: String,
    },
    /// Imported as a raw 32-byte ed25519 seed.
    Seed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfSection {
    name: String,
    salt: String,
    m: u32,
    t: u32,
    p: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherSection {
    name: String,
    nonce: String,
}

/// A key file as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    version: u64,
    address: String,
    public_key: String,
    origin: Origin,
    kdf: KdfSection,
    cipher: CipherSection,
    ciphertext: String,
}

/// The associated data of the AEAD: every field that decryption depends on or vouches for.
fn associated_data(version: u64, kdf: &KdfSection, cipher: &CipherSection, public_key: &str) -> Vec<u8> {
    format!(
        "TALLY/KEYSTORE/V{version}|{}|salt={}|m={}|t={}|p={}|{}|nonce={}|public_key={public_key}",
        kdf.name, kdf.salt, kdf.m, kdf.t, kdf.p, cipher.name, cipher.nonce
    )
    .into_bytes()
}

fn derive_key(passphrase: &str, salt: &[u8], params: KdfParams) -> Result<Zeroizing<[u8; 32]>, String> {
    let argon_params = argon2::Params::new(params.m, params.t, params.p, Some(32)).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(passphrase.as_bytes(), salt, key.as_mut()).map_err(|e| e.to_string())?;
    Ok(key)
}

impl KeyFile {
    /// Encrypts `seed` under `passphrase`.
    pub fn seal(seed: &[u8; 32], passphrase: &str, origin: Origin, params: KdfParams) -> Result<KeyFile, String> {
        params.check()?;
        let public = PublicKey::from(&SigningKey::from_bytes(seed).verifying_key());
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let kdf =
            KdfSection { name: "argon2id".into(), salt: hex::encode(salt), m: params.m, t: params.t, p: params.p };
        let cipher = CipherSection { name: "xchacha20poly1305".into(), nonce: hex::encode(nonce) };
        let public_key = public.to_hex();
        let aad = associated_data(VERSION, &kdf, &cipher, &public_key);
        let key = derive_key(passphrase, &salt, params)?;
        let aead = XChaCha20Poly1305::new(key.as_ref().into());
        let ciphertext = aead
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: seed, aad: &aad })
            .map_err(|_| "encryption failed".to_string())?;
        Ok(KeyFile {
            version: VERSION,
            address: public.address().to_string(),
            public_key,
            origin,
            kdf,
            cipher,
            ciphertext: hex::encode(ciphertext),
        })
    }

    /// Decrypts the seed. `path` is for messages.
    pub fn open(&self, passphrase: &str, path: &Path) -> Result<Zeroizing<[u8; 32]>, WalletError> {
        let corrupt = |reason: String| WalletError::CorruptKeyFile { path: path.to_path_buf(), reason };
        let public = self.public_key(path)?;
        if self.kdf.name != "argon2id" {
            return Err(corrupt(format!("unknown kdf {:?}", self.kdf.name)));
        }
        if self.cipher.name != "xchacha20poly1305" {
            return Err(corrupt(format!("unknown cipher {:?}", self.cipher.name)));
        }
        let params = KdfParams { m: self.kdf.m, t: self.kdf.t, p: self.kdf.p };
        params.check().map_err(corrupt)?;
        let salt = hex::decode(&self.kdf.salt).map_err(|_| corrupt("kdf.salt is not hex".into()))?;
        if !(8..=64).contains(&salt.len()) {
            return Err(corrupt("kdf.salt must be 8 to 64 bytes".into()));
        }
        let nonce: [u8; 24] = hex::decode(&self.cipher.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| corrupt("cipher.nonce must be 24 bytes of hex".into()))?;
        let ciphertext = hex::decode(&self.ciphertext).map_err(|_| corrupt("ciphertext is not hex".into()))?;
        let aad = associated_data(self.version, &self.kdf, &self.cipher, &self.public_key);
        let key = derive_key(passphrase, &salt, params).map_err(corrupt)?;
        let aead = XChaCha20Poly1305::new(key.as_ref().into());
        let plain = Zeroizing::new(
            aead.decrypt(XNonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: &aad })
                .map_err(|_| WalletError::WrongPassphrase { path: path.to_path_buf() })?,
        );
        let mut seed = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(corrupt("the encrypted seed is not 32 bytes".into()));
        }
        seed.copy_from_slice(&plain);
        if PublicKey::from(&SigningKey::from_bytes(&seed).verifying_key()) != public {
            return Err(corrupt("the seed does not match public_key".into()));
        }
        Ok(seed)
    }

    /// The public key, checked against the address (no passphrase needed).
    pub fn public_key(&self, path: &Path) -> Result<PublicKey, WalletError> {
        let corrupt = |reason: &str| WalletError::CorruptKeyFile { path: path.to_path_buf(), reason: reason.into() };
        if self.version != VERSION {
            return Err(WalletError::UnsupportedVersion { path: path.to_path_buf(), version: self.version });
        }
        let public = PublicKey::from_hex(&self.public_key).ok_or_else(|| corrupt("public_key is not 64 hex"))?;
        let address: Address = self.address.parse().map_err(|_| corrupt("address is not a tally1 address"))?;
        if address.public_key() != public {
            return Err(corrupt("address and public_key disagree"));
        }
        Ok(public)
    }

    /// Where the key came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Parses a key file's text.
    pub fn parse(text: &str, path: &Path) -> Result<KeyFile, WalletError> {
        // Look at the version first, so that a future format gets a clear message.
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| WalletError::CorruptKeyFile { path: path.to_path_buf(), reason: e.to_string() })?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(VERSION) => {}
            Some(version) => return Err(WalletError::UnsupportedVersion { path: path.to_path_buf(), version }),
            None => {
                return Err(WalletError::CorruptKeyFile {
                    path: path.to_path_buf(),
                    reason: "no numeric version".into(),
                })
            }
        }
        serde_json::from_value(value)
            .map_err(|e| WalletError::CorruptKeyFile { path: path.to_path_buf(), reason: e.to_string() })
    }
}

/// The key directory of a wallet home.
#[derive(Clone, Debug)]
pub struct Keystore {
    dir: PathBuf,
}

/// A key name: 1 to 64 characters of `[A-Za-z0-9_-]` (it becomes a file name).
pub fn check_name(name: &str) -> Result<(), WalletError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(WalletError::BadKeyName { name: name.to_string() })
    }
}

impl Keystore {
    /// The keystore under `home` (`home/keys`).
    pub fn new(home: &Path) -> Keystore {
        Keystore { dir: home.join("keys") }
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of key `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// True if key `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        check_name(name).is_ok() && self.path(name).exists()
    }

    /// The names of all keys, sorted.
    pub fn names(&self) -> Result<Vec<String>, WalletError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(WalletError::io("reading", &self.dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(WalletError::io("reading", &self.dir))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
            if check_name(name).is_ok() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads key `name`.
    pub fn load(&self, name: &str) -> Result<KeyFile, WalletError> {
        check_name(name)?;
        let path = self.path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WalletError::KeyNotFound { name: name.to_string(), dir: self.dir.clone() })
            }
            Err(e) => return Err(WalletError::io("reading", &path)(e)),
        };
        KeyFile::parse(&text, &path)
    }

    /// Writes a new key file with mode 0600 (the directory 0700); never overwrites.
    pub fn store(&self, name: &str, file: &KeyFile) -> Result<PathBuf, WalletError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        check_name(name)?;
        let path = self.path(name);
        if path.exists() {
            return Err(WalletError::KeyExists { name: name.to_string(), path });
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(WalletError::io("creating", &self.dir))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(WalletError::io("setting permissions of", &self.dir))?;
        let text = serde_json::to_string_pretty(file)
            .map_err(|e| WalletError::CorruptKeyFile { path: path.clone(), reason: e.to_string() })?;
        let mut suffix = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut suffix);
        let temp = self.dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
        let write = || -> std::io::Result<()> {
            let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
            out.sync_all()
        };
        let result = write().map_err(WalletError::io("writing", &temp)).and_then(|()| {
            // A hard link never replaces an existing file: two racing writers cannot clobber a key.
            std::fs::hard_link(&temp, &path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    WalletError::KeyExists { name: name.to_string(), path: path.clone() }
                }
                _ => WalletError::io("writing", &path)(e),
            })
        });
        let _ = std::fs::remove_file(&temp);
        result?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];
    const PASS: &str = "correct horse battery staple";

    fn sealed() -> KeyFile {
        KeyFile::seal(&SEED, PASS, Origin::Seed, KdfParams::INSECURE_FOR_TESTS).unwrap()
    }

    fn path() -> PathBuf {
        PathBuf::from("k.json")
    }

    #[test]
    fn round_trip() {
        let file = sealed();
        assert_eq!(file.open(PASS, &path()).unwrap().as_ref(), &SEED);
        let text = serde_json::to_string(&file).unwrap();
        let again = KeyFile::parse(&text, &path()).unwrap();
        assert_eq!(again.open(PASS, &path()).unwrap().as_ref(), &SEED);
        let public = PublicKey::from(&SigningKey::from_bytes(&SEED).verifying_key());
        assert_eq!(again.public_key(&path()).unwrap(), public);
        assert_eq!(file.address, public.address().to_string());
    }

    #[test]
    fn default_parameters_round_trip() {
        let file = KeyFile::seal(&SEED, PASS, Origin::Seed, KdfParams::DEFAULT).unwrap();
        assert_eq!((file.kdf.m, file.kdf.t, file.kdf.p), (65536, 3, 1));
        assert_eq!(file.open(PASS, &path()).unwrap().as_ref(), &SEED);
    }

    #[test]
    fn wrong_passphrase_is_refused() {
        let error = sealed().open("wrong", &path()).unwrap_err();
        assert!(matches!(error, WalletError::WrongPassphrase { .. }));
        assert!(error.to_string().contains("wrong passphrase or corrupted key file"));
    }

    fn flip_hex(text: &str) -> String {
        let mut bytes = hex::decode(text).unwrap();
        bytes[0] ^= 1;
        hex::encode(bytes)
    }

    #[test]
    fn tampering_is_refused() {
        let mut file = sealed();
        file.ciphertext = flip_hex(&file.ciphertext);
        assert!(matches!(file.open(PASS, &path()), Err(WalletError::WrongPassphrase { .. })));

        let mut file = sealed();
        file.kdf.salt = flip_hex(&file.kdf.salt);
        assert!(matches!(file.open(PASS, &path()), Err(WalletError::WrongPassphrase { .. })));

        let mut file = sealed();
        file.cipher.nonce = flip_hex(&file.cipher.nonce);
        assert!(matches!(file.open(PASS, &path()), Err(WalletError::WrongPassphrase { .. })));

        let mut file = sealed();
        file.kdf.t = 2;
        assert!(matches!(file.open(PASS, &path()), Err(WalletError::WrongPassphrase { .. })));

        // Another public key (with its matching address): the AEAD refuses it.
        let mut file = sealed();
        let other = PublicKey::from(&SigningKey::from_bytes(&[8; 32]).verifying_key());
        file.public_key = other.to_hex();
        file.address = other.address().to_string();
        assert!(matches!(file.open(PASS, &path()), Err(WalletError::WrongPassphrase { .. })));

        // An address that does not match the public key.
        let mut file = sealed();
        file.address = other.address().to_string();
        assert!(matches!(file.open(PASS, &path()), Err(WalletError::CorruptKeyFile { .. })));

        // Absurd parameters are refused before any work.
        let mut file = sealed();
        file.kdf.m = u32::MAX;
        assert!(matches!(file.open(PASS, &path()), Err(WalletError::CorruptKeyFile { .. })));
    }

    #[test]
    fn version_is_checked() {
        let mut value = serde_json::to_value(sealed()).unwrap();
        value["version"] = serde_json::json!(2);
        let error = KeyFile::parse(&value.to_string(), &path()).unwrap_err();
        assert!(matches!(error, WalletError::UnsupportedVersion { version: 2, .. }));
        value["version"] = serde_json::json!("1");
        assert!(matches!(KeyFile::parse(&value.to_string(), &path()), Err(WalletError::CorruptKeyFile { .. })));
        let mut value = serde_json::to_value(sealed()).unwrap();
        value["extra"] = serde_json::json!(1);
        assert!(matches!(KeyFile::parse(&value.to_string(), &path()), Err(WalletError::CorruptKeyFile { .. })));
    }

    #[test]
    fn store_uses_private_modes_and_never_overwrites() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let store = Keystore::new(home.path());
        assert!(store.names().unwrap().is_empty());
        let path = store.store("alice", &sealed()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(store.dir()), 0o700);
        assert!(matches!(store.store("alice", &sealed()), Err(WalletError::KeyExists { .. })));
        assert_eq!(store.names().unwrap(), vec!["alice".to_string()]);
        let loaded = store.load("alice").unwrap();
        assert_eq!(loaded.open(PASS, &path).unwrap().as_ref(), &SEED);
        assert!(matches!(store.load("bob"), Err(WalletError::KeyNotFound { .. })));
        assert!(matches!(store.load("../x"), Err(WalletError::BadKeyName { .. })));
        // Only the key file is left behind: no temporary files.
        assert_eq!(std::fs::read_dir(store.dir()).unwrap().count(), 1);
    }
}
