//! `tally-node`: not built yet. It says so plainly instead of pretending to run.

fn main() {
    eprintln!(
        "tally-node is not built yet: the ledger (tally-ledger) and consensus (tally-consensus) \
         crates exist; the node that wires them into a network is the next issue."
    );
    std::process::exit(2);
}
