//! Append-only JSON-lines files (`signed.jsonl`, `evidence.jsonl`) that a SIGKILL cannot leave
//! with half a line.
//!
//! The kernel copies a `write` into a file one page at a time and, when a fatal signal arrives,
//! stops between two pages. So each line goes out in a `write` of its own, and a line whose end
//! would leave less than a whole line of room on its page is padded with spaces (after the
//! JSON, which stays valid) to fill it: the next line then starts on a fresh page, and no line
//! lies across two pages.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The page size the kernel copies a write in.
pub const PAGE: u64 = 4096;

/// `line` and its newline as written at offset `end`, padded when what would be left of its
/// page is shorter than `max_line` (the longest line the file holds).
fn page_fitted(line: &str, end: u64, max_line: u64) -> String {
    let line_end = end + line.len() as u64 + 1;
    let room = (PAGE - line_end % PAGE) % PAGE;
    let pad = if room < max_line { room as usize } else { 0 };
    let mut text = String::with_capacity(line.len() + pad + 1);
    text.push_str(line);
    text.extend(std::iter::repeat_n(' ', pad));
    text.push('\n');
    text
}

/// Appends `lines` (each without its newline, at most `max_line` bytes) to `path`, creating it,
/// then fsyncs the file.
pub fn append(path: &Path, lines: &[String], max_line: u64) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new().create(true).append(true).open(path)?;
    let mut end = file.metadata()?.len();
    for line in lines {
        let text = page_fitted(line, end, max_line);
        file.write_all(text.as_bytes())?;
        end += text.len() as u64;
    }
    file.sync_data()
}

/// The last `tail` bytes of `path` (empty if it does not exist), after cutting off a last line
/// that lacks its newline: an append that a crash cut short (a file written by an older build)
/// was never fsynced, so nothing it held was acted on.
pub fn read_tail_repaired(path: &Path, tail: u64) -> std::io::Result<Vec<u8>> {
    let mut file = match fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = len.saturating_sub(tail);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    if bytes.last().is_some_and(|b| *b != b'\n') {
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if keep == 0 && start > 0 {
            // No line end in the whole tail: not a torn append; leave the file as it is.
            return Ok(bytes);
        }
        bytes.truncate(keep);
        file.set_len(start + keep as u64)?;
        file.sync_data()?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_line_crosses_a_page_and_every_line_stays_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        for i in 0..200u64 {
            let line = serde_json::json!({ "i": i, "pad": "x".repeat((i * 37 % 300) as usize) }).to_string();
            append(&path, &[line.clone(), line], 400).unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.len() > 10 * PAGE as usize);
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let end = start + line.len();
            assert_eq!(start / PAGE as usize, (end - 1) / PAGE as usize, "line at {start} crosses a page");
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["i"], (start_line_index(&text, start) / 2) as u64);
            start = end;
        }
    }

    fn start_line_index(text: &str, offset: usize) -> usize {
        text[..offset].matches('\n').count()
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_whole_lines_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        assert!(read_tail_repaired(&path, 1024).unwrap().is_empty(), "a missing file is empty");
        fs::write(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\"").unwrap();
        assert_eq!(read_tail_repaired(&path, 1024).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        // Only the tail is read; the cut is still at the right offset.
        fs::write(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\"").unwrap();
        assert_eq!(read_tail_repaired(&path, 10).unwrap(), b"a\":2}\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        // A whole file is left alone.
        assert_eq!(read_tail_repaired(&path, 1024).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
    }
}
