//! Printing results: text for people, JSON (the RPC's field names and encodings) for scripts.

use crate::amount::group;
use crate::cli::Format;
use crate::error::WalletError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::Duration;
use tally_rpc::wire::{TransactionInfo, TransferFields};

/// Where results go.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    format: Format,
}

impl Output {
    /// An output in `format`.
    pub fn new(format: Format) -> Output {
        Output { format }
    }

    /// True for `--output json`.
    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// Prints `value` as pretty JSON on stdout.
    pub fn json<T: Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            // Our own types always serialize; say so rather than print nothing.
            Err(e) => eprintln!("error: cannot encode the result as JSON: {e}"),
        }
    }

    /// Prints `json` in JSON mode, else the text `text` builds.
    pub fn emit<T: Serialize>(&self, json: &T, text: impl FnOnce() -> String) {
        if self.is_json() {
            self.json(json);
        } else {
            println!("{}", text());
        }
    }

    /// Reports an error: the message on stderr, and in JSON mode also `{"error": ...}` on stdout.
    pub fn error(&self, error: &WalletError) {
        eprintln!("error: {error}");
        if self.is_json() {
            self.json(&serde_json::json!({
                "error": { "kind": error.kind(), "message": error.to_string(), "exit_code": error.exit_code() }
            }));
        }
    }

    /// A spinner on stderr, hidden in JSON mode or when stderr is not a terminal.
    pub fn spinner(&self, message: String) -> ProgressBar {
        if self.is_json() || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }
}

/// A memo for people: the text when it is printable UTF-8, else `0x` and hex.
pub fn memo_text(memo: &[u8]) -> String {
    match std::str::from_utf8(memo) {
        Ok(text) if !text.chars().any(char::is_control) => format!("{text:?}"),
        _ => format!("0x{}", hex::encode(memo)),
    }
}

/// The lines of a transfer for people.
pub fn transaction_text(info: &TransactionInfo) -> String {
    let mut lines = vec![format!("hash         {}", info.hash), format!("status       {}", info.status.as_str())];
    if let Some(height) = info.height {
        let index = info.index.map(|i| format!(" (index {i})")).unwrap_or_default();
        lines.push(format!("height       {height}{index}"));
    }
    if let Some(by) = info.replaced_by {
        lines.push(format!("replaced by  {by}"));
    }
    if let Some(t) = &info.transfer {
        lines.extend(transfer_lines(t));
    }
    lines.join("\n")
}

/// The fields of a transfer for people.
pub fn transfer_lines(t: &TransferFields) -> Vec<String> {
    let mut lines = vec![
        format!("from         {}", t.from),
        format!("to           {}", t.to),
        format!("amount       {}", group(t.amount)),
        format!("fee          {}", group(t.fee)),
        format!("nonce        {}", t.nonce),
        format!(
            "valid until  {}",
            if t.valid_until == 0 { "no limit".to_string() } else { format!("height {}", t.valid_until) }
        ),
    ];
    if !t.memo.is_empty() {
        lines.push(format!("memo         {}", memo_text(&t.memo)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memos_for_people() {
        assert_eq!(memo_text(b"inv-42"), "\"inv-42\"");
        assert_eq!(memo_text(&[0xff, 0x00]), "0xff00");
        assert_eq!(memo_text(b"a\nb"), "0x610a62");
    }
}
