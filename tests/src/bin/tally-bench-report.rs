//! `tally-bench-report`: writes the generated section of `docs/BENCHMARKS.md` from what
//! `make bench` measured (issue 8, "make bench reproduces the table and plot").
//!
//! ```text
//! tally-bench-report --criterion $CARGO_TARGET_DIR/criterion --apply-commit apply_commit.jsonl \
//!     --network docs/bench/network.json --doc docs/BENCHMARKS.md
//! ```
//!
//! The code lives in `tests/src/bench_report/`; this file parses the arguments, reads the
//! inputs and replaces the section between the document's markers.

#[path = "../bench_report/mod.rs"]
mod bench_report;

use bench_report::{inputs, machine::Machine, render};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Writes the generated section of the benchmarks document.
#[derive(Parser, Debug)]
#[command(name = "tally-bench-report")]
struct Args {
    /// Criterion's output directory (`$CARGO_TARGET_DIR/criterion`).
    #[arg(long)]
    criterion: PathBuf,
    /// The apply+commit benchmark's JSON lines (`TALLY_BENCH_JSON`).
    #[arg(long)]
    apply_commit: PathBuf,
    /// `tally-load --json`'s report.
    #[arg(long)]
    network: PathBuf,
    /// The document to update.
    #[arg(long)]
    doc: PathBuf,
    /// A command `make bench` ran, listed in the section (repeatable).
    #[arg(long = "command")]
    commands: Vec<String>,
}

fn run(args: &Args) -> Result<(), String> {
    let mut micro = Vec::new();
    for (id, _) in render::MICRO {
        micro.extend(inputs::micro(&args.criterion, id)?);
    }
    let inputs = render::Inputs {
        machine: Machine::this(),
        date: today(),
        micro,
        apply_commit: inputs::apply_commit(&args.apply_commit)?,
        network: inputs::network(&args.network)?,
        commands: args.commands.clone(),
    };
    let section = render::section(&inputs)?;
    let doc = std::fs::read_to_string(&args.doc).map_err(|e| format!("{}: {e}", args.doc.display()))?;
    let updated = bench_report::splice(&doc, &section)?;
    std::fs::write(&args.doc, updated).map_err(|e| format!("{}: {e}", args.doc.display()))?;
    println!("{} updated", args.doc.display());
    Ok(())
}

/// Today's UTC date, `YYYY-MM-DD`.
fn today() -> String {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    // Civil-from-days (proleptic Gregorian), for a date without a time-zone crate.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tally-bench-report: {message}");
            ExitCode::FAILURE
        }
    }
}
