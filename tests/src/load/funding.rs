//! Funding the senders from the development accounts, at most a nonce window at a time per
//! development account, waiting until each window is committed (final: BFT, no forks).

use super::keys::{sign, Order, Sender};
use super::rpc::{accounts, result_hash, BatchClient, Call, REQUEST_TIMEOUT};
use std::time::{Duration, Instant};
use tally_ledger::genesis::dev_account_seed;
use tally_ledger::{Address, ChainId, PublicKey};
use tokio::task::JoinSet;

/// Development accounts with funds at genesis (SPEC §6: k = 0..9).
pub const DEV_ACCOUNTS: u32 = 10;

/// What the funding phase needs to know.
pub struct Plan {
    /// The chain's id.
    pub chain: ChainId,
    /// The nodes' RPC URLs.
    pub urls: Vec<String>,
    /// Every sender must hold at least this much afterwards.
    pub min_balance: u64,
    /// How much a funding transfer gives.
    pub amount: u64,
    /// The nodes' future-nonce window.
    pub window: u64,
    /// Requests per batch.
    pub batch: usize,
    /// The whole phase's time limit.
    pub limit: Duration,
}

/// Funds every sender holding less than `plan.min_balance`; returns how many were funded.
pub async fn fund(plan: &Plan, senders: &[Sender]) -> Result<usize, String> {
    let first = BatchClient::new(&plan.urls[0], REQUEST_TIMEOUT)?;
    let addresses: Vec<Address> = senders.iter().map(Sender::address).collect();
    let states = accounts(&first, &addresses, plan.batch).await?;
    let needy: Vec<PublicKey> = senders
        .iter()
        .zip(&states)
        .filter(|(_, state)| state.balance < plan.min_balance)
        .map(|(s, _)| s.public)
        .collect();
    if needy.is_empty() {
        return Ok(0);
    }
    let mut tasks = JoinSet::new();
    for k in 0..DEV_ACCOUNTS {
        let recipients: Vec<PublicKey> =
            needy.iter().skip(k as usize).step_by(DEV_ACCOUNTS as usize).copied().collect();
        if recipients.is_empty() {
            continue;
        }
        let url = plan.urls[k as usize % plan.urls.len()].clone();
        let job = DevJob {
            dev: Sender::from_seed(dev_account_seed(k)),
            recipients,
            chain: plan.chain.clone(),
            amount: plan.amount,
            window: plan.window,
        };
        tasks.spawn(async move { job.run(&url).await });
    }
    let all = async {
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(|e| format!("a funding task failed: {e}"))??;
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(plan.limit, all).await {
        Ok(result) => result?,
        Err(_) => return Err(format!("funding did not finish within {:?}", plan.limit)),
    }
    let states = accounts(&first, &addresses, plan.batch).await?;
    let short = states.iter().filter(|s| s.balance < plan.min_balance).count();
    if short > 0 {
        return Err(format!("{short} senders still hold less than {} after funding", plan.min_balance));
    }
    Ok(needy.len())
}

/// One development account paying its share of the senders.
struct DevJob {
    dev: Sender,
    recipients: Vec<PublicKey>,
    chain: ChainId,
    amount: u64,
    window: u64,
}

impl DevJob {
    async fn run(self, url: &str) -> Result<(), String> {
        let client = BatchClient::new(url, REQUEST_TIMEOUT)?;
        let dev_address = self.dev.address();
        let state = accounts(&client, &[dev_address], 1).await?;
        let mut nonce = state.first().map_or(0, |s| s.nonce);
        let needed = (self.amount + 1).saturating_mul(self.recipients.len() as u64);
        if state.first().map_or(0, |s| s.balance) < needed {
            return Err(format!("development account {dev_address} cannot pay {needed} for its senders"));
        }
        for chunk in self.recipients.chunks(self.window.max(1) as usize) {
            let mut calls = Vec::with_capacity(chunk.len());
            for (i, to) in chunk.iter().enumerate() {
                let order = Order { from: 0, to: *to, amount: self.amount, fee: 1, nonce: nonce + i as u64 };
                let signed = sign(&self.chain, &self.dev, &order, 0)?;
                calls.push(Call::send_transaction(i as u64, &signed.hex));
            }
            let answers = client.batch(&calls).await;
            for call in &calls {
                match answers.get(&call.id) {
                    Some(Ok(value)) if result_hash(value).is_some() => {}
                    Some(Err(label)) => return Err(format!("funding transfer from {dev_address} rejected: {label}")),
                    _ => return Err(format!("funding transfer from {dev_address}: unexpected answer")),
                }
            }
            nonce += chunk.len() as u64;
            wait_nonce(&client, dev_address, nonce).await?;
        }
        Ok(())
    }
}

/// Waits (up to 60 s) until `address`'s committed nonce reaches `nonce`.
async fn wait_nonce(client: &BatchClient, address: Address, nonce: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = accounts(client, &[address], 1).await?;
        if state.first().is_some_and(|s| s.nonce >= nonce) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("funding transfers from {address} not committed within 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
