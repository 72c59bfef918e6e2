//! `tally-load`: the load generator for Tally networks (issue 8, "Measure").
//!
//! ```text
//! tally-load --spawn 4 --accounts 1000 --sweep 500,1000,2000,4000 --duration 30 --json load.json
//! tally-load --rpc http://127.0.0.1:8545,http://127.0.0.1:8546 --rate 1000 --duration 60
//! ```
//!
//! Everything lives in `tests/src/load/`; this file parses the arguments, runs, writes the
//! JSON and maps the outcome to an exit code (0 done, 1 failed, 2 bad arguments).

#[path = "../load/mod.rs"]
mod load;

use clap::Parser;
use load::args::Args;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(message) = args.validate() {
        eprintln!("tally-load: {message}");
        return ExitCode::from(2);
    }
    // Ctrl-C drops the run, and with it the spawned network.
    let outcome = tokio::select! {
        outcome = load::run(&args) => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
    };
    let report = match outcome {
        Ok(report) => report,
        Err(message) => {
            eprintln!("tally-load: {message}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    println!("{}", load::report::table_header());
    for step in &report.steps {
        println!("{}", load::report::table_row(step));
    }
    if let Some(path) = &args.json {
        let text = match serde_json::to_string_pretty(&report) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("tally-load: encoding the results: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("tally-load: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("results written to {}", path.display());
    }
    if let Some(path) = &args.plot {
        let title = format!("{} validators on {} cores: latency and committed rate", report.nodes, report.cores);
        if let Err(e) = std::fs::write(path, load::plot::saturation_svg(&report.steps, &title)) {
            eprintln!("tally-load: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("plot written to {}", path.display());
    }
    ExitCode::SUCCESS
}
