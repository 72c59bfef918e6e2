//! `tally`: the wallet CLI. Not built yet; it says so plainly instead of pretending to run.

fn main() {
    eprintln!("tally (the wallet) is not built yet: it needs the node and its RPC first.");
    std::process::exit(2);
}
