//! The command line, as clap derive types.

use crate::amount::{parse_amount, parse_units};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use tally_ledger::Address;

const EXAMPLES: &str = "\
Examples:
  export TALLY_PASSPHRASE=devnet        # or leave unset to be asked at a hidden prompt
  tally keys import dev0 --seed-hex b3c7319723e4fcf2068c8a0c7643f784b04a7637f239adbc20357efa1a2d901e
  tally keys new alice
  tally balance dev0
  tally --key dev0 send --to tally1... --amount 1000 --memo inv-42 --wait
  tally history alice --limit 10
  tally tx 3f5a...                      # a transfer hash
  tally sign --key dev0 --to tally1... --amount 5 --nonce 7 > tx.hex    # offline
  tally broadcast \"$(cat tx.hex)\" --wait
  tally --output json balance alice

Amounts, fees and nonces are whole base units (no decimal point). The devnet's minimum fee is 1.

Exit codes: 0 ok, 1 usage or local error (bad argument, unknown key, wrong passphrase),
2 node unreachable or node error, 3 transfer rejected (or expired/replaced), 4 not found or
timed out waiting.";

/// `tally`: the Tally wallet. Keys stay on this machine, encrypted; transfers are signed locally.
#[derive(Debug, Parser)]
#[command(name = "tally", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// The node's JSON-RPC URL.
    #[arg(long, global = true, env = "TALLY_WALLET_RPC", default_value = "http://127.0.0.1:8545", value_name = "URL")]
    pub rpc: String,

    /// The wallet's home directory; keys live in DIR/keys/NAME.json [default: ~/.tally].
    #[arg(long, global = true, env = "TALLY_WALLET_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// The key to use [default: the only key, else the one named "default"].
    #[arg(long, global = true, value_name = "NAME")]
    pub key: Option<String>,

    /// Output format: text for people, json for scripts (the RPC's field names and encodings).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,

    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: grouped digits, short lines.
    Text,
    /// For scripts: one JSON document on stdout.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, import, list, show and export keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show the balance and nonce of an address or key (default: --key).
    Balance {
        /// A tally1 address or a key name.
        target: Option<String>,
    },
    /// Show the node's status: node, chain, height, peers.
    Status,
    /// Sign a transfer locally and submit it.
    #[command(after_help = "Example:\n  tally --key dev0 send --to tally1... --amount 1000 --memo inv-42 --wait")]
    Send(SendArgs),
    /// Show a transfer and its status.
    Tx {
        /// The transfer hash (64 hex characters).
        hash: String,
    },
    /// List the transfers sent and received by an address or key, newest first.
    History {
        /// A tally1 address or a key name (default: --key).
        target: Option<String>,
        /// How many transfers per page (1..=500).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// The cursor printed by the previous page.
        #[arg(long, value_name = "CURSOR")]
        before: Option<String>,
    },
    /// Sign a transfer offline and print its hex; nothing touches the network.
    #[command(after_help = "Example:\n  tally sign --key dev0 --to tally1... --amount 5 --nonce 0 > tx.hex")]
    Sign(SignArgs),
    /// Submit a signed transfer (hex, as printed by `tally sign`).
    Broadcast {
        /// The transfer's hex.
        hex: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  tally completions bash > ~/.local/share/bash-completion/completions/tally")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `tally keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key from a new 24-word mnemonic (shown once: write it down).
    New {
        /// The key's name (letters, digits, `-`, `_`).
        name: String,
    },
    /// Import a key from a mnemonic or a raw 32-byte ed25519 seed.
    #[command(
        after_help = "Examples:\n  tally keys import dev0 --seed-hex b3c7319723e4fcf2068c8a0c7643f784b04a7637f239adbc20357efa1a2d901e\n  \
                      tally keys import restored --mnemonic \"word1 word2 ... word24\"\n  \
                      tally keys import restored --mnemonic -      # read the words from stdin"
    )]
    Import {
        /// The key's name.
        name: String,
        /// The BIP39 mnemonic ("-" reads it from stdin).
        #[arg(long, conflicts_with = "seed_hex", required_unless_present = "seed_hex", value_name = "WORDS")]
        mnemonic: Option<String>,
        /// The 32-byte ed25519 seed as 64 hex characters ("-" reads it from stdin).
        #[arg(long, value_name = "HEX")]
        seed_hex: Option<String>,
    },
    /// List the keys.
    List,
    /// Show a key's address and public key (default: --key).
    Show {
        /// The key's name.
        name: Option<String>,
        /// Print only the address.
        #[arg(long)]
        address: bool,
    },
    /// Print a key's secret seed (hex). Anyone who sees it can spend: requires --yes.
    Export {
        /// The key's name.
        name: String,
        /// Yes, print the secret.
        #[arg(long)]
        yes: bool,
    },
}

/// Waiting for finality.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait until the transfer is final, then print its height and the time it took.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = parse_units)]
    pub timeout: u64,
}

/// `tally send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The recipient's tally1 address.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub to: Address,
    /// Base units to send (a whole number > 0).
    #[arg(long, value_name = "N", value_parser = parse_amount, allow_hyphen_values = true)]
    pub amount: u64,
    /// The fee in base units, paid to the block's proposer (the devnet's minimum is 1).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_units, allow_hyphen_values = true)]
    pub fee: u64,
    /// A note for the recipient: UTF-8 text, at most 64 bytes.
    #[arg(long, value_name = "TEXT")]
    pub memo: Option<String>,
    /// Blocks from now after which the transfer can no longer be included (0: no limit).
    #[arg(long, value_name = "BLOCKS", default_value = "100", value_parser = parse_units)]
    pub valid_for: u64,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `tally sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The recipient's tally1 address.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub to: Address,
    /// Base units to send (a whole number > 0).
    #[arg(long, value_name = "N", value_parser = parse_amount, allow_hyphen_values = true)]
    pub amount: u64,
    /// The sender's next nonce (`pending_nonce` of `tally balance`).
    #[arg(long, value_name = "N", value_parser = parse_units, allow_hyphen_values = true)]
    pub nonce: u64,
    /// The fee in base units (the devnet's minimum is 1).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_units, allow_hyphen_values = true)]
    pub fee: u64,
    /// A note for the recipient: UTF-8 text, at most 64 bytes.
    #[arg(long, value_name = "TEXT")]
    pub memo: Option<String>,
    /// The last block height that may include it (0: no limit).
    #[arg(long, value_name = "HEIGHT", default_value = "0", value_parser = parse_units)]
    pub valid_until: u64,
    /// The chain the transfer is for.
    #[arg(long, value_name = "ID", default_value = "tally-devnet")]
    pub chain_id: String,
}

fn parse_address(text: &str) -> Result<Address, String> {
    text.parse::<Address>().map_err(|e| format!("{e} (an address looks like tally1…, 63 characters)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn strict_amounts_on_the_command_line() {
        let to = "tally1q7h0rr3gzre7ht2czndl796ptue42vr7u7dx4c8dzvfcygc9t90qdcwww3";
        for bad in ["1.5", "1e3", "-1", "+1", " 1", "0x10", "", "0", "18446744073709551616"] {
            let parsed = Cli::try_parse_from(["tally", "send", "--to", to, "--amount", bad]);
            assert!(parsed.is_err(), "{bad:?} was accepted");
        }
        let parsed = Cli::try_parse_from(["tally", "send", "--to", to, "--amount", "15"]).unwrap();
        match parsed.command {
            Command::Send(args) => {
                assert_eq!((args.amount, args.fee, args.valid_for), (15, 1, 100));
            }
            other => panic!("{other:?}"),
        }
    }
}
