//! `tally-load`: offers a steady rate of pre-signed transfers to a Tally network and measures,
//! from committed blocks, what it finalises and how fast. See [`args::Args`] for the options.
//!
//! Phases, each bounded in time: start (or reach) the nodes; fund the senders from the
//! development accounts; then per rate: read the senders' nonces, pre-sign every transfer,
//! send them on schedule, wait for them to commit, and compute the figures.

pub mod args;
pub mod funding;
pub mod keys;
pub mod observe;
pub mod plot;
pub mod procstat;
pub mod report;
pub mod rpc;
pub mod submit;
mod target;

use args::Args;
use report::{Measured, Report, Step};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tally_ledger::{Address, ChainId, Hash};

/// Runs everything `args` asks for; the spawned network, if any, is torn down on return.
pub async fn run(args: &Args) -> Result<Report, String> {
    let target = target::Target::open(args).await?;
    let first = rpc::BatchClient::new(&target.urls[0], rpc::REQUEST_TIMEOUT)?;
    let status = target.status(0).await?;
    if !status.chain_id.ends_with("-devnet") {
        return Err(format!("chain {:?} has no development accounts to fund the senders from", status.chain_id));
    }
    let chain = ChainId::new(&status.chain_id).map_err(|e| format!("chain id: {e}"))?;
    let senders = keys::senders(&args.seed, args.accounts);
    let addresses: Vec<Address> = senders.iter().map(keys::Sender::address).collect();
    let rates = args.rates();

    // Each sender pays 1 plus a fee of at most the step count per transfer.
    let total: u64 = rates.iter().map(|&r| u64::from(r) * args.duration).sum();
    let per_sender = total.div_ceil(u64::from(args.accounts));
    let min_balance = per_sender.saturating_mul(1 + rates.len() as u64).max(1_000);
    let plan = funding::Plan {
        chain: chain.clone(),
        urls: target.urls.clone(),
        min_balance,
        amount: min_balance.saturating_mul(4).max(1_000_000),
        window: args.nonce_window,
        batch: args.batch.min(100),
        limit: Duration::from_secs(args.funding_timeout),
    };
    let funding_start = Instant::now();
    let funded = funding::fund(&plan, &senders).await?;
    println!(
        "funded {funded} of {} senders in {:.1} s (each holds at least {min_balance})",
        senders.len(),
        funding_start.elapsed().as_secs_f64()
    );

    let height = target.status(0).await?.latest_height;
    let observer = observe::Observer::start(&target.urls[0], height);
    let mut steps = Vec::new();
    println!("{}", report::table_header());
    for (i, &rate) in rates.iter().enumerate() {
        let nonces: Vec<u64> =
            rpc::accounts(&first, &addresses, args.batch.min(100)).await?.iter().map(|a| a.nonce).collect();
        let step = run_step(args, &target, &observer, &chain, &senders, &nonces, rate, i as u64 + 1).await?;
        println!("{}", report::table_row(&step));
        if !step.rejected.is_empty() {
            println!("         rejected: {:?}", step.rejected);
        }
        if step.stranded > 0 {
            println!("         stranded behind a refused or unsent transfer of their sender: {}", step.stranded);
        }
        if step.shed_retries > 0 || step.ahead_retries > 0 {
            println!(
                "         shed and sent again {} times, refused as ahead of the nonce window and sent again {} \
                 times (after {} ms, doubling up to {} ms); accepted -> final p50 {} ms, p99 {} ms",
                step.shed_retries,
                step.ahead_retries,
                submit::RETRY_AFTER.as_millis(),
                submit::RETRY_MAX.as_millis(),
                step.accepted_latency_ms.p50,
                step.accepted_latency_ms.p99
            );
        }
        steps.push(step);
    }
    let (connects, fetched) = {
        let seen = observer.seen();
        (seen.connects, seen.fetched)
    };
    observer.stop().await;
    if fetched > 0 || connects > 1 {
        println!("block observer: {connects} WebSocket connections, {fetched} blocks fetched by getBlock");
    }
    Ok(Report {
        tool: "tally-load".into(),
        started_unix: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        spawned: args.spawn.is_some(),
        nodes: target.urls.len(),
        chain_id: status.chain_id,
        accounts: args.accounts,
        connections: args.connections,
        batch: args.batch,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        settings: args.settings.clone(),
        steps,
    })
}

/// One rate: sign, send on schedule, drain, measure.
#[allow(clippy::too_many_arguments)]
async fn run_step(
    args: &Args,
    target: &target::Target,
    observer: &observe::Observer,
    chain: &ChainId,
    senders: &[keys::Sender],
    nonces: &[u64],
    rate: u32,
    fee: u64,
) -> Result<Step, String> {
    let orders = submit::orders(senders, nonces, rate, args.duration, fee);
    let valid_until = match args.valid_blocks {
        0 => 0,
        blocks => rpc::latest_height(&rpc::BatchClient::new(&target.urls[0], rpc::REQUEST_TIMEOUT)?).await? + blocks,
    };
    let signed = tokio::task::block_in_place(|| keys::sign_all(chain, senders, &orders, valid_until))?;
    let per_sender = f64::from(rate) / senders.len() as f64;
    if per_sender * 2.0 > args.nonce_window as f64 {
        eprintln!(
            "note: {per_sender:.1} transfers/s per sender; with a nonce window of {} any latency above {:.1} s \
             turns into bad_nonce (use more --accounts)",
            args.nonce_window,
            args.nonce_window as f64 / per_sender
        );
    }
    let duration = Duration::from_secs(args.duration);
    let phase = submit::Phase {
        urls: target.urls.clone(),
        spread: submit::Spread { nodes: target.urls.len(), connections: args.connections },
        batch: args.batch,
        rate,
        limit: duration + Duration::from_secs(10),
        // A transfer refused just before the limit still gets its backoffs, so its sender's
        // later transfers the node accepted are not stranded behind a gap.
        resend_limit: duration + Duration::from_secs(20),
        window: args.nonce_window as usize,
    };
    let usage = procstat::start(&target.pids);
    let own = procstat::Own::start();
    let signed = Arc::new(signed);
    let start = Instant::now() + Duration::from_millis(100);
    let records = submit::run(&phase, Arc::clone(&signed), senders.len(), observer.shared(), start).await?;

    let accepted: Vec<Hash> = signed
        .iter()
        .zip(&records)
        .filter(|(_, r)| matches!(r.fate, submit::Fate::Accepted))
        .map(|(s, _)| s.hash)
        .collect();
    let drain_start = Instant::now();
    let drain_limit = Duration::from_secs(args.drain);
    loop {
        let missing = {
            let seen = observer.seen();
            accepted.iter().filter(|h| !seen.committed.contains_key(h)).count()
        };
        if missing == 0 || drain_start.elapsed() > drain_limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain = drain_start.elapsed();
    let nodes = procstat::finish(&target.pids, &usage);
    let load_generator = own.finish();
    let never_committed: Vec<Hash> = {
        let seen = observer.seen();
        accepted.into_iter().filter(|h| !seen.committed.contains_key(h)).collect()
    };
    // Only transfers with a deadline can expire; the others left uncommitted are lost. Each
    // node knows the outcome of the transfers it held, so every node is asked.
    let mut expired = std::collections::HashSet::new();
    if valid_until != 0 && !never_committed.is_empty() {
        for url in &target.urls {
            let client = rpc::BatchClient::new(url, rpc::REQUEST_TIMEOUT)?;
            expired.extend(rpc::expired(&client, &never_committed, args.batch).await?);
        }
    }
    let expired = expired.len();
    let seen = observer.seen();
    Ok(report::measure(Measured {
        rate,
        duration,
        signed: &signed,
        records: &records,
        seen: &seen,
        start,
        drain,
        nodes,
        load_generator,
        expired,
        senders: senders.len(),
    }))
}
