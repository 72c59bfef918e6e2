//! Crash safety for signed consensus messages (SPEC §4): the signing state of the current height
//! is made durable before any message it contains leaves the node, and every signed message is
//! appended to `data/signed.jsonl`, an audit trail that tests read across restarts.

use crate::home::{write_atomic, HomeError};
use serde::Serialize;
use std::collections::HashSet;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use tally_consensus::{PersistedState, SignedMessage};

/// One line of `signed.jsonl`.
#[derive(Serialize)]
struct SignedLine {
    height: u64,
    round: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    block_hash: Option<String>,
    validator: String,
    signature: String,
}

/// The wire name of a message type.
pub fn kind_name(type_byte: u8) -> &'static str {
    match type_byte {
        1 => "proposal",
        2 => "prevote",
        _ => "precommit",
    }
}

fn line(message: &SignedMessage) -> String {
    let line = SignedLine {
        height: message.height(),
        round: message.round(),
        kind: kind_name(message.type_byte()),
        block_hash: message.block_hash().map(hex::encode),
        validator: hex::encode(message.signer()),
        signature: hex::encode(message.signature()),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// Durable signing state and audit trail.
pub struct SigningStore {
    state_path: PathBuf,
    log_path: PathBuf,
    /// Signatures already in the log (for the current height and the tail read at start-up).
    logged: HashSet<[u8; 64]>,
    logged_height: u64,
}

impl SigningStore {
    /// Opens the files; remembers the signatures at the end of the log so nothing is logged twice.
    pub fn open(state_path: PathBuf, log_path: PathBuf) -> Result<SigningStore, HomeError> {
        let mut tail_lines: Vec<(u64, [u8; 64])> = Vec::new();
        if let Ok(mut file) = fs::File::open(&log_path) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let start = len.saturating_sub(256 * 1024);
            let mut tail = String::new();
            if file.seek(SeekFrom::Start(start)).is_ok() && file.read_to_string(&mut tail).is_ok() {
                for text in tail.lines() {
                    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
                        let mut sig = [0u8; 64];
                        if let (Some(h), Some(s)) = (value["height"].as_u64(), value["signature"].as_str()) {
                            if hex::decode_to_slice(s, &mut sig).is_ok() {
                                tail_lines.push((h, sig));
                            }
                        }
                    }
                }
            }
        }
        let logged_height = tail_lines.iter().map(|(h, _)| *h).max().unwrap_or(0);
        let logged = tail_lines.into_iter().filter(|(h, _)| *h == logged_height).map(|(_, s)| s).collect();
        Ok(SigningStore { state_path, log_path, logged, logged_height })
    }

    /// The last durable state, if any.
    pub fn load(&self) -> Result<Option<PersistedState>, HomeError> {
        match fs::read(&self.state_path) {
            Ok(bytes) => PersistedState::decode(&bytes)
                .map(Some)
                .map_err(|e| HomeError::Invalid { path: self.state_path.clone(), message: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(HomeError::Io { path: self.state_path.clone(), source }),
        }
    }

    /// Makes `state` durable (write, fsync, rename, fsync the directory), then appends the
    /// messages it holds that are not yet in the audit trail (fsynced too).
    pub fn persist(&mut self, state: &PersistedState) -> Result<(), HomeError> {
        write_atomic(&self.state_path, &state.encode(), 0o600)?;
        self.log(&state.signed_messages, state.height)
    }

    /// Appends messages not yet logged.
    pub fn log(&mut self, messages: &[SignedMessage], height: u64) -> Result<(), HomeError> {
        if height != self.logged_height {
            // Keep the set small: earlier heights can no longer be signed again.
            self.logged.clear();
            self.logged_height = height;
        }
        let new: Vec<&SignedMessage> = messages.iter().filter(|m| !self.logged.contains(m.signature())).collect();
        if new.is_empty() {
            return Ok(());
        }
        let io = |source| HomeError::Io { path: self.log_path.clone(), source };
        let mut file = fs::OpenOptions::new().create(true).append(true).open(&self.log_path).map_err(io)?;
        let mut text = String::new();
        for message in &new {
            text.push_str(&line(message));
            text.push('\n');
        }
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        for message in new {
            self.logged.insert(*message.signature());
        }
        Ok(())
    }
}
