//! `tally keys new | import | list | show | export`.

use super::Context;
use crate::cli::KeysCommand;
use crate::error::WalletError;
use crate::keystore::{check_name, KdfParams, KeyFile, Origin};
use crate::passphrase;
use crate::slip10::{self, TALLY_PATH_TEXT};
use serde_json::json;
use std::io::BufRead;
use zeroize::Zeroizing;

/// Runs a `keys` subcommand.
pub fn run(ctx: &Context, command: KeysCommand) -> Result<(), WalletError> {
    match command {
        KeysCommand::New { name } => new(ctx, &name),
        KeysCommand::Import { name, mnemonic, seed_hex } => {
            let mnemonic = mnemonic.map(Zeroizing::new);
            let seed_hex = seed_hex.map(Zeroizing::new);
            import(ctx, &name, mnemonic.as_ref().map(|m| m.as_str()), seed_hex.as_ref().map(|s| s.as_str()))
        }
        KeysCommand::List => list(ctx),
        KeysCommand::Show { name, address } => show(ctx, name, address),
        KeysCommand::Export { name, yes } => export(ctx, &name, yes),
    }
}

/// Refuses a bad or taken name before any secret is made or asked for.
fn check_new_name(ctx: &Context, name: &str) -> Result<(), WalletError> {
    check_name(name)?;
    let store = ctx.keystore();
    if store.path(name).exists() {
        return Err(WalletError::KeyExists { name: name.to_string(), path: store.path(name) });
    }
    Ok(())
}

fn seal_and_store(ctx: &Context, name: &str, seed: &[u8; 32], origin: Origin) -> Result<KeyFile, WalletError> {
    let passphrase = passphrase::new(name)?;
    let file = KeyFile::seal(seed, &passphrase, origin, KdfParams::DEFAULT)
        .map_err(|reason| WalletError::BadInput { what: "key", reason })?;
    ctx.keystore().store(name, &file)?;
    Ok(file)
}

fn key_json(ctx: &Context, name: &str, file: &KeyFile) -> Result<serde_json::Value, WalletError> {
    let store = ctx.keystore();
    let public = file.public_key(&store.path(name))?;
    let path = match file.origin() {
        Origin::Mnemonic { path } => Some(path.clone()),
        Origin::Seed => None,
    };
    Ok(json!({
        "name": name,
        "address": public.address().to_string(),
        "public_key": public.to_hex(),
        "origin": match file.origin() { Origin::Mnemonic { .. } => "mnemonic", Origin::Seed => "seed" },
        "derivation_path": path,
        "file": store.path(name).display().to_string(),
    }))
}

fn new(ctx: &Context, name: &str) -> Result<(), WalletError> {
    check_new_name(ctx, name)?;
    let mnemonic = slip10::new_mnemonic().map_err(|e| WalletError::BadMnemonic { reason: e.to_string() })?;
    let words = Zeroizing::new(mnemonic.to_string());
    let seed = slip10::key_from_mnemonic(&mnemonic);
    let file = seal_and_store(ctx, name, &seed, Origin::Mnemonic { path: TALLY_PATH_TEXT.into() })?;
    let mut info = key_json(ctx, name, &file)?;
    eprintln!(
        "WARNING: the {} words below are shown only this once. Write them down and keep them secret:\n\
         anyone who has them can spend from this key, and they are the only way to restore it if the\n\
         key file or its passphrase is lost.",
        mnemonic.word_count()
    );
    if ctx.out.is_json() {
        info["mnemonic"] = json!(words.as_str());
        ctx.out.json(&info);
        return Ok(());
    }
    let address = info["address"].as_str().unwrap_or_default();
    let path = info["file"].as_str().unwrap_or_default();
    println!("Created key {name:?}: {address}");
    println!("Stored encrypted in {path}");
    println!("Derivation: BIP39 (English, no BIP39 passphrase), SLIP-0010 ed25519 {TALLY_PATH_TEXT}\n");
    let numbered: Vec<String> = words.split(' ').enumerate().map(|(i, w)| format!("{:>2}. {w:<10}", i + 1)).collect();
    for row in numbered.chunks(4) {
        println!("  {}", row.join(" ").trim_end());
    }
    println!("\nRestore it with: tally keys import NAME --mnemonic \"word1 word2 ... word24\"");
    Ok(())
}

/// Reads one secret line from stdin (for `--mnemonic -` and `--seed-hex -`).
fn read_stdin_line() -> Result<Zeroizing<String>, WalletError> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).map_err(WalletError::io("reading", "stdin"))?;
    Ok(Zeroizing::new(line.trim().to_string()))
}

fn import(ctx: &Context, name: &str, mnemonic: Option<&str>, seed_hex: Option<&str>) -> Result<(), WalletError> {
    check_new_name(ctx, name)?;
    let (seed, origin) = match (mnemonic, seed_hex) {
        (Some(words), None) => {
            let stdin;
            let words = if words == "-" {
                stdin = read_stdin_line()?;
                stdin.as_str()
            } else {
                words
            };
            let mnemonic =
                slip10::parse_mnemonic(words).map_err(|e| WalletError::BadMnemonic { reason: e.to_string() })?;
            (slip10::key_from_mnemonic(&mnemonic), Origin::Mnemonic { path: TALLY_PATH_TEXT.into() })
        }
        (None, Some(text)) => {
            let stdin;
            let text = if text == "-" {
                stdin = read_stdin_line()?;
                stdin.as_str()
            } else {
                text
            };
            let mut seed = Zeroizing::new([0u8; 32]);
            let text = text.trim();
            let text = text.strip_prefix("0x").unwrap_or(text);
            hex::decode_to_slice(text, seed.as_mut()).map_err(|_| WalletError::BadSeedHex)?;
            (seed, Origin::Seed)
        }
        _ => {
            return Err(WalletError::BadInput {
                what: "arguments",
                reason: "give exactly one of --mnemonic or --seed-hex".into(),
            })
        }
    };
    let file = seal_and_store(ctx, name, &seed, origin)?;
    let info = key_json(ctx, name, &file)?;
    ctx.out.emit(&info, || format!("Imported key {name:?}: {}", info["address"].as_str().unwrap_or_default()));
    Ok(())
}

fn list(ctx: &Context) -> Result<(), WalletError> {
    let store = ctx.keystore();
    let default = ctx.default_key_name();
    let mut rows = Vec::new();
    for name in store.names()? {
        let file = store.load(&name)?;
        let mut info = key_json(ctx, &name, &file)?;
        info["default"] = json!(default.as_deref() == Some(name.as_str()));
        rows.push(info);
    }
    ctx.out.emit(&rows, || {
        if rows.is_empty() {
            return format!(
                "no keys in {}: create one with `tally keys new NAME` or `tally keys import NAME --seed-hex HEX`",
                store.dir().display()
            );
        }
        let width = rows.iter().filter_map(|r| r["name"].as_str()).map(str::len).max().unwrap_or(0);
        rows.iter()
            .map(|r| {
                let mark = if r["default"].as_bool() == Some(true) { "  (default)" } else { "" };
                format!(
                    "{:<width$}  {}{mark}",
                    r["name"].as_str().unwrap_or_default(),
                    r["address"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

fn show(ctx: &Context, name: Option<String>, address_only: bool) -> Result<(), WalletError> {
    let name = match name {
        Some(name) => name,
        None => ctx.key_name()?,
    };
    let (file, public) = ctx.key_public(&name)?;
    if address_only && !ctx.out.is_json() {
        println!("{}", public.address());
        return Ok(());
    }
    let info = key_json(ctx, &name, &file)?;
    ctx.out.emit(&info, || {
        let mut lines = vec![
            format!("name        {name}"),
            format!("address     {}", public.address()),
            format!("public key  {}", public.to_hex()),
        ];
        match file.origin() {
            Origin::Mnemonic { path } => lines.push(format!("origin      mnemonic, SLIP-0010 ed25519 {path}")),
            Origin::Seed => lines.push("origin      imported seed".into()),
        }
        lines.push(format!("file        {}", info["file"].as_str().unwrap_or_default()));
        lines.join("\n")
    });
    Ok(())
}

fn export(ctx: &Context, name: &str, yes: bool) -> Result<(), WalletError> {
    let (_, public) = ctx.key_public(name)?;
    if !yes {
        return Err(WalletError::ExportNeedsYes { name: name.to_string(), address: public.address().to_string() });
    }
    let unlocked = ctx.unlock(name)?;
    let seed = Zeroizing::new(unlocked.signing.to_bytes());
    let seed_hex = Zeroizing::new(hex::encode(seed.as_ref()));
    eprintln!("WARNING: this is the secret seed of {name:?}: anyone who sees it can spend from {}.", public.address());
    let info = json!({ "name": name, "address": public.address().to_string(), "seed_hex": seed_hex.as_str() });
    ctx.out.emit(&info, || seed_hex.to_string());
    Ok(())
}
