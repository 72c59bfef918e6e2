//! Crash safety for signed consensus messages (SPEC §4): the signing state of the current height
//! is made durable before any message it contains leaves the node, and every signed message is
//! appended to `data/signed.jsonl`, an audit trail that tests read across restarts.

use crate::home::{write_atomic, HomeError};
use crate::jsonl;
use serde::Serialize;
use std::collections::HashSet;
use std::fs;
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

/// How much of the log's end [`SigningStore::open`] reads.
const TAIL_BYTES: u64 = 256 * 1024;
/// Longer than any line of the log (about 360 bytes at most).
const MAX_LINE: u64 = 512;

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
    ///
    /// A SIGKILL cannot tear an append ([`jsonl`]), but a machine crash, or a log an older build
    /// wrote, can leave a last line cut short. Such a line was never fsynced, so none of its
    /// messages left the node: it is cut off here, and [`SigningStore::relog`] writes the
    /// durable state's messages again.
    pub fn open(state_path: PathBuf, log_path: PathBuf) -> Result<SigningStore, HomeError> {
        let tail = jsonl::read_tail_repaired(&log_path, TAIL_BYTES)
            .map_err(|source| HomeError::Io { path: log_path.clone(), source })?;
        let mut tail_lines: Vec<(u64, [u8; 64])> = Vec::new();
        for text in tail.split(|b| *b == b'\n') {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(text) {
                let mut sig = [0u8; 64];
                if let (Some(h), Some(s)) = (value["height"].as_u64(), value["signature"].as_str()) {
                    if hex::decode_to_slice(s, &mut sig).is_ok() {
                        tail_lines.push((h, sig));
                    }
                }
            }
        }
        let logged_height = tail_lines.iter().map(|(h, _)| *h).max().unwrap_or(0);
        let logged = tail_lines.into_iter().filter(|(h, _)| *h == logged_height).map(|(_, s)| s).collect();
        Ok(SigningStore { state_path, log_path, logged, logged_height })
    }

    /// Appends the messages of the durable state that the log lacks (those of a line a crash
    /// cut short). A state older than the log's last height was logged whole before it.
    pub fn relog(&mut self, state: &PersistedState) -> Result<(), HomeError> {
        if state.height < self.logged_height {
            return Ok(());
        }
        self.log(&state.signed_messages, state.height)
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
        let lines: Vec<String> = new.iter().map(|message| line(message)).collect();
        jsonl::append(&self.log_path, &lines, MAX_LINE)
            .map_err(|source| HomeError::Io { path: self.log_path.clone(), source })?;
        for message in new {
            self.logged.insert(*message.signature());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use tally_consensus::{LastSigned, SignedProposal, SignedVote, Step, VoteKind};

    fn state(height: u64) -> PersistedState {
        let key = SigningKey::from_bytes(&[3; 32]);
        PersistedState {
            height,
            round: 0,
            step: Step::Prevote,
            locked: None,
            valid: None,
            last_signed: Some(LastSigned { height, round: 0, step: Step::Prevote }),
            signed_messages: vec![
                SignedProposal::sign("c", &key, height, 0, [1; 32], None).into(),
                SignedVote::sign("c", &key, height, 0, VoteKind::Prevote, Some([1; 32])).into(),
            ],
        }
    }

    fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
        let text = fs::read_to_string(path).unwrap();
        assert!(text.ends_with('\n'), "the log ends with a whole line");
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_dropped_and_written_again_from_the_durable_state() {
        let dir = tempfile::tempdir().unwrap();
        let (state_path, log_path) = (dir.path().join("state"), dir.path().join("signed.jsonl"));
        let mut store = SigningStore::open(state_path.clone(), log_path.clone()).unwrap();
        store.persist(&state(7)).unwrap();
        store.persist(&state(8)).unwrap();
        assert_eq!(lines(&log_path).len(), 4);

        // A crash in the middle of the second append of height 8.
        let text = fs::read_to_string(&log_path).unwrap();
        let cut = text.len() - 40;
        fs::write(&log_path, &text[..cut]).unwrap();

        let mut store = SigningStore::open(state_path.clone(), log_path.clone()).unwrap();
        let durable = store.load().unwrap().unwrap();
        store.relog(&durable).unwrap();
        let after = lines(&log_path);
        assert_eq!(after.len(), 4, "{after:?}");
        assert_eq!(after.iter().filter(|l| l["height"] == 8).count(), 2);

        // Opening again neither cuts nor appends anything.
        let mut store = SigningStore::open(state_path, log_path.clone()).unwrap();
        store.relog(&durable).unwrap();
        assert_eq!(lines(&log_path), after);
    }

    #[test]
    fn no_line_crosses_a_page() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("signed.jsonl");
        let mut store = SigningStore::open(dir.path().join("state"), log_path.clone()).unwrap();
        for height in 1..100 {
            store.persist(&state(height)).unwrap();
        }
        let text = fs::read_to_string(&log_path).unwrap();
        assert!(text.len() > 3 * jsonl::PAGE as usize);
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let end = start + line.len();
            assert_eq!(
                start / jsonl::PAGE as usize,
                (end - 1) / jsonl::PAGE as usize,
                "line at {start} crosses a page"
            );
            start = end;
        }
        assert_eq!(lines(&log_path).len(), 198, "padded lines are still JSON");
    }

    #[test]
    fn a_durable_state_older_than_the_log_is_not_logged_again() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("signed.jsonl");
        let mut store = SigningStore::open(dir.path().join("state"), log_path.clone()).unwrap();
        store.persist(&state(7)).unwrap();
        store.log(&state(8).signed_messages, 8).unwrap();
        let mut store = SigningStore::open(dir.path().join("state"), log_path.clone()).unwrap();
        store.relog(&state(7)).unwrap();
        assert_eq!(lines(&log_path).len(), 4);
    }
}
