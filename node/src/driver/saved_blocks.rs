//! Candidate blocks this node proposed or found valid, kept on disk until their height commits.
//!
//! A validator signs a prevote (and later a precommit) for a block only after saving it here, so
//! a block the network decides is always held by the validators that voted for it — even when
//! all of them crash at once before committing it. On restart they load these files back as
//! candidates, re-send their proposals with the block, and commit the decided block.

use crate::home::{write_atomic, HomeError};
use std::path::{Path, PathBuf};
use tally_consensus::BlockHash;
use tracing::warn;

/// The directory of saved candidate blocks: one file `<height>-<hash>.block` each.
pub struct SavedBlocks {
    dir: PathBuf,
    /// The lowest height with a file on disk, if any: pruning below it needs no directory scan,
    /// so a commit with nothing to delete costs no I/O.
    lowest: Option<u64>,
}

/// A saved block read back: its height and bytes.
pub struct SavedBlock {
    /// The height in the file name.
    pub height: u64,
    /// The encoded block.
    pub bytes: Vec<u8>,
}

impl SavedBlocks {
    /// Opens (creating) the directory.
    pub fn open(dir: PathBuf) -> Result<SavedBlocks, HomeError> {
        std::fs::create_dir_all(&dir).map_err(|source| HomeError::Io { path: dir.clone(), source })?;
        let mut saved = SavedBlocks { dir, lowest: None };
        saved.lowest = saved.files().into_iter().map(|(h, _)| h).min();
        Ok(saved)
    }

    fn path(&self, height: u64, hash: &BlockHash) -> PathBuf {
        self.dir.join(format!("{height:020}-{}.block", hex::encode(hash)))
    }

    /// Saves a block durably (file and directory synced); a block already saved is not written
    /// again.
    pub fn save(&mut self, height: u64, hash: &BlockHash, bytes: &[u8]) -> Result<(), HomeError> {
        let path = self.path(height, hash);
        if path.exists() {
            return Ok(());
        }
        write_atomic(&path, bytes, 0o600)?;
        self.lowest = Some(self.lowest.map_or(height, |h| h.min(height)));
        Ok(())
    }

    /// The saved blocks of heights above `height`, lowest first. Unreadable files are skipped
    /// with a warning (a block is re-checked against its hash and validated before any use).
    pub fn load_above(&self, height: u64) -> Vec<SavedBlock> {
        let mut blocks: Vec<SavedBlock> = self
            .files()
            .into_iter()
            .filter(|(h, _)| *h > height)
            .filter_map(|(h, path)| match std::fs::read(&path) {
                Ok(bytes) => Some(SavedBlock { height: h, bytes }),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "saved candidate block unreadable; skipped");
                    None
                }
            })
            .collect();
        blocks.sort_by_key(|b| b.height);
        blocks
    }

    /// Deletes the saved blocks of heights up to `height` (best effort: a leftover file is
    /// harmless and goes at the next prune).
    pub fn prune_through(&mut self, height: u64) {
        if self.lowest.is_none_or(|lowest| lowest > height) {
            return;
        }
        let mut left = None;
        for (h, path) in self.files() {
            let deleted = h <= height && {
                let result = std::fs::remove_file(&path);
                if let Err(e) = &result {
                    warn!(path = %path.display(), error = %e, "saved candidate block not deleted");
                }
                result.is_ok()
            };
            if !deleted {
                left = Some(left.map_or(h, |l: u64| l.min(h)));
            }
        }
        self.lowest = left;
    }

    /// Every `<height>-<hash>.block` file with its height.
    fn files(&self) -> Vec<(u64, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        entries.filter_map(Result::ok).filter_map(|entry| Some((block_height(&entry.path())?, entry.path()))).collect()
    }
}

/// The height in a saved block's file name, if the name is one.
fn block_height(path: &Path) -> Option<u64> {
    if path.extension()? != "block" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let (height, hash) = stem.split_once('-')?;
    if hash.len() != 64 {
        return None;
    }
    height.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_above_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let mut saved = SavedBlocks::open(dir.path().join("candidates")).unwrap();
        saved.save(5, &[1; 32], b"five").unwrap();
        saved.save(6, &[2; 32], b"six").unwrap();
        saved.save(6, &[3; 32], b"six again").unwrap();
        std::fs::write(dir.path().join("candidates").join("junk.txt"), b"x").unwrap();
        let above: Vec<u64> = saved.load_above(5).iter().map(|b| b.height).collect();
        assert_eq!(above, vec![6, 6]);
        assert_eq!(saved.load_above(4)[0].bytes, b"five");
        saved.prune_through(5);
        assert_eq!(saved.load_above(0).len(), 2);
        saved.prune_through(6);
        assert!(saved.load_above(0).is_empty());
        // Files found at open count too.
        saved.save(9, &[4; 32], b"nine").unwrap();
        let mut reopened = SavedBlocks::open(dir.path().join("candidates")).unwrap();
        reopened.prune_through(9);
        assert!(reopened.load_above(0).is_empty());
    }
}
