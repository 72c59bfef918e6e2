//! `tally-byz`: a misbehaving libp2p peer for system tests (issue 7). It is built from the
//! project's libraries (tally-p2p's `Network`, tally-node's `wire`, tally-consensus signing) and
//! never ships in the node.
//!
//! ```text
//! tally-byz --genesis net/node0/genesis.json --peer /ip4/127.0.0.1/tcp/26656 \
//!     --mode equivocate --key net/node3/consensus_key.json --duration 10
//! tally-byz --genesis net/node0/genesis.json --peer /ip4/127.0.0.1/tcp/26656 --mode abuse
//! ```
//!
//! It stops by itself after `--duration` seconds and prints one summary line:
//! `tally-byz: mode=... seconds=... <kind>=<count> ...`. Exit codes: 0 done, 1 failed, 2 bad
//! arguments. Everything lives in `tests/src/byz/`.
#![deny(clippy::unwrap_used, clippy::expect_used)]

#[path = "../byz/mod.rs"]
mod byz;

use byz::args::{Args, Mode};
use clap::Parser;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(message) = args.validate() {
        eprintln!("tally-byz: {message}");
        return ExitCode::from(2);
    }
    let chain = match byz::Chain::load(&args.genesis) {
        Ok(chain) => chain,
        Err(message) => {
            eprintln!("tally-byz: {message}");
            return ExitCode::from(2);
        }
    };
    let duration = Duration::from_secs(args.duration);
    let started = Instant::now();
    let run = async {
        match (args.mode, &args.key) {
            (Mode::Equivocate, Some(key)) => {
                byz::equivocate::run(&chain, key, &args.listen, &args.peers, duration).await
            }
            (Mode::Equivocate, None) => Err("--mode equivocate needs --key".to_string()),
            (Mode::Abuse, _) => byz::abuse::run(&chain, &args.listen, &args.peers, duration).await,
            (Mode::Observe, _) => byz::observe(&chain, &args.listen, &args.peers, duration).await,
        }
    };
    // A hard stop a little after the duration, whatever the network does.
    let outcome = tokio::select! {
        outcome = run => outcome,
        _ = tokio::time::sleep(duration + Duration::from_secs(20)) => Err("did not stop in time".to_string()),
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
    };
    let mode = match args.mode {
        Mode::Equivocate => "equivocate",
        Mode::Abuse => "abuse",
        Mode::Observe => "observe",
    };
    match outcome {
        Ok(counts) => {
            println!("tally-byz: mode={mode} seconds={:.1} {}", started.elapsed().as_secs_f64(), counts.summary());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("tally-byz: mode={mode}: {message}");
            ExitCode::FAILURE
        }
    }
}
