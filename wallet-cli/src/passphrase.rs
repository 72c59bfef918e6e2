//! Where passphrases come from: `TALLY_PASSPHRASE` (for scripts), else a hidden prompt on the
//! terminal. A new key's passphrase is asked twice.

use crate::error::WalletError;
use zeroize::Zeroizing;

/// The environment variable scripts use instead of the prompt.
pub const ENV: &str = "TALLY_PASSPHRASE";

fn from_env() -> Option<Zeroizing<String>> {
    std::env::var(ENV).ok().map(Zeroizing::new)
}

fn prompt(text: &str) -> Result<Zeroizing<String>, WalletError> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(|e| WalletError::NoPassphrase { reason: e.to_string() })
}

/// The passphrase of an existing key.
pub fn existing(name: &str) -> Result<Zeroizing<String>, WalletError> {
    match from_env() {
        Some(passphrase) => Ok(passphrase),
        None => prompt(&format!("Passphrase for key {name:?}: ")),
    }
}

/// A passphrase for a new key: asked twice, never empty.
pub fn new(name: &str) -> Result<Zeroizing<String>, WalletError> {
    let passphrase = match from_env() {
        Some(passphrase) => passphrase,
        None => {
            let first = prompt(&format!("New passphrase for key {name:?}: "))?;
            let second = prompt("Repeat the passphrase: ")?;
            if *first != *second {
                return Err(WalletError::PassphraseMismatch);
            }
            first
        }
    };
    if passphrase.is_empty() {
        return Err(WalletError::EmptyPassphrase);
    }
    Ok(passphrase)
}
