//! `tally`: the Tally wallet CLI (SPEC §8). Keys live encrypted in `~/.tally/keys`; transfers
//! are built and signed here and submitted over the node's JSON-RPC. See the crate README for
//! the key file format, the derivation path and the exit codes.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod amount;
mod cli;
mod commands;
mod error;
mod keystore;
mod node;
mod output;
mod passphrase;
mod slip10;

use clap::Parser;
use error::{WalletError, EXIT_LOCAL, EXIT_OK};
use output::Output;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with 0; usage errors exit 1 (clap's default is 2,
            // which this wallet reserves for "node unreachable").
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { EXIT_LOCAL } else { EXIT_OK });
        }
    };
    let out = Output::new(cli.output);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            out.error(&WalletError::Io { action: "starting", path: "the async runtime".into(), source: e });
            return ExitCode::from(EXIT_LOCAL);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(error) => {
            out.error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}
