//! One module per command; [`run`] dispatches, [`Context`] holds what every command shares.

mod balance;
mod history;
mod keys;
mod sign;
mod status;
mod submit;
mod tx;

use crate::cli::{Cli, Command};
use crate::error::WalletError;
use crate::keystore::{KeyFile, Keystore};
use crate::node::Node;
use crate::output::Output;
use crate::passphrase;
use ed25519_dalek::SigningKey;
use std::path::PathBuf;
use tally_ledger::{Address, PublicKey};

/// What every command shares: the global options.
pub struct Context {
    rpc: String,
    home: PathBuf,
    key: Option<String>,
    /// Where results go.
    pub out: Output,
}

/// An unlocked key (its signing key is zeroized on drop).
pub struct Unlocked {
    /// The signing key.
    pub signing: SigningKey,
}

impl Unlocked {
    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::from(&self.signing.verifying_key())
    }
}

impl Context {
    /// The context of a parsed command line.
    pub fn new(cli: &Cli) -> Result<Context, WalletError> {
        let home = match &cli.home {
            Some(home) => home.clone(),
            None => match std::env::var_os("HOME") {
                Some(dir) if !dir.is_empty() => PathBuf::from(dir).join(".tally"),
                _ => {
                    return Err(WalletError::BadInput {
                        what: "home directory",
                        reason: "HOME is not set: pass --home DIR".into(),
                    })
                }
            },
        };
        Ok(Context { rpc: cli.rpc.clone(), home, key: cli.key.clone(), out: Output::new(cli.output) })
    }

    /// The keystore.
    pub fn keystore(&self) -> Keystore {
        Keystore::new(&self.home)
    }

    /// The node.
    pub fn node(&self) -> Node {
        Node::new(&self.rpc)
    }

    /// The name of the key to use: `--key`, else the only key, else `default`.
    pub fn key_name(&self) -> Result<String, WalletError> {
        if let Some(name) = &self.key {
            return Ok(name.clone());
        }
        let store = self.keystore();
        let names = store.names()?;
        match names.as_slice() {
            [] => Err(WalletError::NoKeys { dir: store.dir().to_path_buf() }),
            [only] => Ok(only.clone()),
            _ if names.iter().any(|n| n == "default") => Ok("default".into()),
            _ => Err(WalletError::AmbiguousKey { names }),
        }
    }

    /// The default key's name if there is one (for marking it in `keys list`).
    pub fn default_key_name(&self) -> Option<String> {
        self.key_name().ok()
    }

    /// Key `name`'s file and public key (no passphrase needed).
    pub fn key_public(&self, name: &str) -> Result<(KeyFile, PublicKey), WalletError> {
        let store = self.keystore();
        let file = store.load(name)?;
        let public = file.public_key(&store.path(name))?;
        Ok((file, public))
    }

    /// Decrypts key `name` with the passphrase from the environment or the prompt.
    pub fn unlock(&self, name: &str) -> Result<Unlocked, WalletError> {
        let store = self.keystore();
        let file = store.load(name)?;
        file.public_key(&store.path(name))?;
        let passphrase = passphrase::existing(name)?;
        let seed = file.open(&passphrase, &store.path(name))?;
        Ok(Unlocked { signing: SigningKey::from_bytes(&seed) })
    }

    /// The address meant by an `[ADDRESS|NAME]` argument (default: the default key), with the
    /// key name when it is one of ours.
    pub fn resolve(&self, target: Option<&str>) -> Result<(Address, Option<String>), WalletError> {
        let name = match target {
            None => self.key_name()?,
            Some(text) => {
                if let Ok(address) = text.parse::<Address>() {
                    return Ok((address, None));
                }
                if self.keystore().exists(text) {
                    text.to_string()
                } else if text.to_ascii_lowercase().starts_with("tally1") {
                    let reason = text.parse::<Address>().err().map(|e| e.to_string()).unwrap_or_default();
                    return Err(WalletError::BadInput { what: "address", reason: format!("{text:?}: {reason}") });
                } else {
                    return Err(WalletError::KeyNotFound {
                        name: text.to_string(),
                        dir: self.keystore().dir().to_path_buf(),
                    });
                }
            }
        };
        let (_, public) = self.key_public(&name)?;
        Ok((public.address(), Some(name)))
    }
}

/// Runs the command line.
pub async fn run(cli: Cli) -> Result<(), WalletError> {
    let ctx = Context::new(&cli)?;
    match cli.command {
        Command::Keys(command) => keys::run(&ctx, command),
        Command::Balance { target } => balance::run(&ctx, target.as_deref()).await,
        Command::Status => status::run(&ctx).await,
        Command::Send(args) => submit::send(&ctx, args).await,
        Command::Tx { hash } => tx::run(&ctx, &hash).await,
        Command::History { target, limit, before } => {
            history::run(&ctx, target.as_deref(), limit, before.as_deref()).await
        }
        Command::Sign(args) => sign::run(&ctx, args),
        Command::Broadcast { hex, wait } => submit::broadcast(&ctx, &hex, &wait).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "tally", &mut std::io::stdout());
            Ok(())
        }
    }
}
