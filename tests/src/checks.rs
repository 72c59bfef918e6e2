//! Checkers run after scenarios. Each has a unit test that plants the violation it looks for.

use crate::Net;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tally_ledger::genesis::{parse_time_ms, Genesis};
use tally_ledger::{Hash, PublicKey};
use tally_rpc::BlockRef;

/// Pairs of lines of one `signed.jsonl` that sign different things for the same height, round
/// and type: a validator equivocated (or forgot what it signed across a crash).
pub fn conflicting_signatures(lines: &[Value]) -> Vec<(Value, Value)> {
    let mut seen: HashMap<(u64, u64, String, String), &Value> = HashMap::new();
    let mut conflicts = Vec::new();
    for line in lines {
        let key = (
            line["height"].as_u64().unwrap_or(u64::MAX),
            line["round"].as_u64().unwrap_or(u64::MAX),
            line["type"].as_str().unwrap_or("?").to_string(),
            line["validator"].as_str().unwrap_or("?").to_string(),
        );
        match seen.get(&key) {
            Some(first) if first["block_hash"] != line["block_hash"] => {
                conflicts.push(((*first).clone(), line.clone()))
            }
            Some(_) => {}
            None => {
                seen.insert(key, line);
            }
        }
    }
    conflicts
}

/// One committed block as the checkers see it (from `getBlock`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// The state root after it.
    pub state_root: Hash,
    /// The validator that built it and collects its fees.
    pub proposer: PublicKey,
    /// Its time, Unix milliseconds.
    pub time_ms: u64,
    /// Its transfer hashes, in block order.
    pub transfers: Vec<Hash>,
}

/// The fields of a committed transfer that the ledger checker replays (from `getTransaction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    /// The sender.
    pub from: PublicKey,
    /// The recipient.
    pub to: PublicKey,
    /// Base units moved.
    pub amount: u64,
    /// Base units paid to the proposer.
    pub fee: u64,
    /// The sender nonce it consumes.
    pub nonce: u64,
}

/// A node's committed account, as `getAccount` reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// The account.
    pub key: PublicKey,
    /// Committed balance.
    pub balance: u64,
    /// Committed nonce.
    pub nonce: u64,
    /// The height these values are as of.
    pub height: u64,
}

/// Everything the checkers need, fetched from a network over RPC by [`fetch`].
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Genesis balances.
    pub genesis: Vec<(PublicKey, u64)>,
    /// Per checked node: its index and its chain from height 1 to its tip.
    pub chains: Vec<(usize, Vec<BlockRecord>)>,
    /// The fields of every transfer in any fetched block.
    pub transfers: HashMap<Hash, TransferRecord>,
    /// Per checked node: its index and every account ever touched, as it reports them.
    pub accounts: Vec<(usize, Vec<AccountRecord>)>,
    /// Per node (all of them, running or not): the lines of its `data/signed.jsonl`.
    pub signed: Vec<Vec<Value>>,
}

/// Checker 1: every acknowledged transfer is in every chain exactly once.
pub fn acknowledged_exactly_once(chains: &[(usize, Vec<BlockRecord>)], acknowledged: &[Hash]) -> Vec<String> {
    let mut problems = Vec::new();
    for (node, chain) in chains {
        let mut count: HashMap<Hash, usize> = HashMap::new();
        for block in chain {
            for hash in &block.transfers {
                *count.entry(*hash).or_default() += 1;
            }
        }
        for hash in acknowledged {
            let n = count.get(hash).copied().unwrap_or(0);
            if n != 1 {
                problems.push(format!("node {node}: acknowledged transfer {hash} appears {n} times in its chain"));
            }
        }
    }
    problems
}

/// Checker 2: replays `chain` from `genesis` with checked arithmetic. Reports a transfer that would
/// take a balance below zero or overflow it, a sender nonce that does not rise by exactly one in
/// block order, a reported account that differs from the replay at its height, and (when every
/// account is reported at one height) a total that is not the genesis supply.
pub fn ledger_conserved(
    genesis: &[(PublicKey, u64)],
    chain: &[BlockRecord],
    transfers: &HashMap<Hash, TransferRecord>,
    reported: &[AccountRecord],
) -> Vec<String> {
    let mut problems = Vec::new();
    let supply: u128 = genesis.iter().map(|(_, b)| u128::from(*b)).sum();
    let mut balances: HashMap<PublicKey, u64> = HashMap::new();
    for (key, balance) in genesis {
        *balances.entry(*key).or_default() += balance;
    }
    let mut nonces: HashMap<PublicKey, u64> = HashMap::new();
    let mut by_height: BTreeMap<u64, Vec<&AccountRecord>> = BTreeMap::new();
    for account in reported {
        by_height.entry(account.height).or_default().push(account);
    }
    let compare = |height: u64,
                   balances: &HashMap<PublicKey, u64>,
                   nonces: &HashMap<PublicKey, u64>,
                   problems: &mut Vec<String>| {
        for account in by_height.get(&height).into_iter().flatten() {
            let balance = balances.get(&account.key).copied().unwrap_or(0);
            let nonce = nonces.get(&account.key).copied().unwrap_or(0);
            if (balance, nonce) != (account.balance, account.nonce) {
                problems.push(format!(
                    "account {} at height {height}: node says balance {} nonce {}, replay gives {balance} {nonce}",
                    account.key.address(),
                    account.balance,
                    account.nonce
                ));
            }
        }
    };
    compare(0, &balances, &nonces, &mut problems);
    for block in chain {
        for hash in &block.transfers {
            let Some(t) = transfers.get(hash) else {
                problems.push(format!("height {}: transfer {hash} has no fields", block.height));
                continue;
            };
            let expected = nonces.entry(t.from).or_default();
            if t.nonce != *expected {
                problems.push(format!(
                    "height {}: transfer {hash} from {} has nonce {}, expected {}",
                    block.height,
                    t.from.address(),
                    t.nonce,
                    expected
                ));
            }
            *expected = t.nonce.saturating_add(1);
            let from = balances.entry(t.from).or_default();
            match t.amount.checked_add(t.fee).and_then(|cost| from.checked_sub(cost)) {
                Some(left) => *from = left,
                None => {
                    problems.push(format!(
                        "height {}: transfer {hash} takes {} + {} from {} holding {}: balance below zero",
                        block.height,
                        t.amount,
                        t.fee,
                        t.from.address(),
                        from
                    ));
                    continue;
                }
            }
            for (key, amount) in [(t.to, t.amount), (block.proposer, t.fee)] {
                let balance = balances.entry(key).or_default();
                match balance.checked_add(amount) {
                    Some(sum) => *balance = sum,
                    None => problems.push(format!("height {}: balance of {} overflows", block.height, key.address())),
                }
            }
        }
        let total: u128 = balances.values().map(|b| u128::from(*b)).sum();
        if total != supply {
            problems.push(format!("height {}: replayed supply {total} != genesis supply {supply}", block.height));
        }
        compare(block.height, &balances, &nonces, &mut problems);
    }
    let tip = chain.last().map_or(0, |b| b.height);
    if let Some(beyond) = by_height.keys().find(|h| **h > tip) {
        problems.push(format!("an account was reported at height {beyond}, beyond the fetched tip {tip}"));
    }
    if by_height.len() == 1 {
        let total: u128 = reported.iter().map(|a| u128::from(a.balance)).sum();
        let keys: HashSet<PublicKey> = reported.iter().map(|a| a.key).collect();
        let all_touched = balances.keys().all(|k| keys.contains(k));
        if all_touched && total != supply {
            problems.push(format!("reported supply {total} != genesis supply {supply}"));
        }
    }
    problems
}

/// Checker 3: every chain has the same block hash and state root at every height up to the
/// lowest tip, and heights run 1, 2, 3, … without gaps.
pub fn same_chain(chains: &[(usize, Vec<BlockRecord>)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (node, chain) in chains {
        for (i, block) in chain.iter().enumerate() {
            if block.height != i as u64 + 1 {
                problems.push(format!("node {node}: block {i} of its chain has height {}", block.height));
            }
        }
    }
    let lowest = chains.iter().map(|(_, c)| c.len()).min().unwrap_or(0);
    if let Some((first_node, first)) = chains.first() {
        for (node, chain) in &chains[1..] {
            for (a, b) in first.iter().zip(chain).take(lowest) {
                if (a.hash, a.state_root) != (b.hash, b.state_root) {
                    problems.push(format!(
                        "height {}: node {first_node} has block {} root {}, node {node} has block {} root {}",
                        a.height, a.hash, a.state_root, b.hash, b.state_root
                    ));
                }
            }
        }
    }
    problems
}

/// Checker 4 over every node: [`conflicting_signatures`] in each `signed.jsonl`.
pub fn no_double_signing(signed: &[Vec<Value>]) -> Vec<String> {
    let mut problems = Vec::new();
    for (node, lines) in signed.iter().enumerate() {
        for (first, second) in conflicting_signatures(lines) {
            problems.push(format!("node {node} signed conflicting messages: {first} and {second}"));
        }
    }
    problems
}

/// The longest time between consecutive blocks of `chain` (from block 2 on; block 1 follows
/// the genesis time, which is arbitrary): the longest stall the chain had.
pub fn longest_gap(chain: &[BlockRecord]) -> Duration {
    let gap = chain.windows(2).map(|w| w[1].time_ms.saturating_sub(w[0].time_ms)).max().unwrap_or(0);
    Duration::from_millis(gap)
}

/// Runs the four checkers over `snapshot`; every violation found, one per line.
pub fn check(snapshot: &Snapshot, acknowledged: &[Hash]) -> Result<(), String> {
    let mut problems = acknowledged_exactly_once(&snapshot.chains, acknowledged);
    for (node, chain) in &snapshot.chains {
        let reported = snapshot.accounts.iter().find(|(n, _)| n == node).map(|(_, a)| a.as_slice()).unwrap_or(&[]);
        for problem in ledger_conserved(&snapshot.genesis, chain, &snapshot.transfers, reported) {
            problems.push(format!("node {node}: {problem}"));
        }
    }
    problems.extend(same_chain(&snapshot.chains));
    problems.extend(no_double_signing(&snapshot.signed));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn block_record(block: &tally_rpc::wire::BlockInfo) -> Result<BlockRecord, String> {
    Ok(BlockRecord {
        height: block.height,
        hash: block.hash,
        state_root: block.state_root,
        proposer: block.proposer.0,
        time_ms: parse_time_ms(&block.time)
            .ok_or_else(|| format!("block {}: bad time {}", block.height, block.time))?,
        transfers: block.transfers.iter().map(|h| h.0).collect(),
    })
}

/// Node `i`'s chain from height 1 to its current tip, over RPC.
pub async fn fetch_chain(net: &Net, i: usize) -> Result<Vec<BlockRecord>, String> {
    let client = net.client(i);
    let tip = client.status().await.map_err(|e| format!("node {i} status: {e}"))?.latest_height;
    let mut chain = Vec::with_capacity(tip as usize);
    for h in 1..=tip {
        let block = client
            .get_block(BlockRef::Height(h))
            .await
            .map_err(|e| format!("node {i} getBlock {h}: {e}"))?
            .ok_or_else(|| format!("node {i} lacks block {h} below its tip {tip}"))?;
        chain.push(block_record(&block)?);
    }
    Ok(chain)
}

/// Reads everything the checkers need from every running, unpaused node of `net`: chains,
/// the fields of every transfer in them, every touched account, and every node's
/// `signed.jsonl`. Accounts are read before the chains, so every account's height is at or
/// below the fetched tip.
pub async fn fetch(net: &Net) -> Result<Snapshot, String> {
    let genesis_path = net.nodes[0].home.join("genesis.json");
    let bytes = std::fs::read(&genesis_path).map_err(|e| format!("{}: {e}", genesis_path.display()))?;
    let genesis = Genesis::from_bytes(&bytes).map_err(|e| format!("genesis: {e:?}"))?;
    let live: Vec<usize> = (0..net.nodes.len()).filter(|i| net.nodes[*i].is_running() && !net.is_paused(*i)).collect();
    let mut snapshot = Snapshot {
        genesis: genesis.accounts.clone(),
        signed: (0..net.nodes.len()).map(|i| net.signed_messages(i)).collect(),
        ..Snapshot::default()
    };
    // The accounts to read: genesis accounts, validators, and everyone in a first chain fetch.
    let first = match live.first() {
        Some(i) => fetch_chain(net, *i).await?,
        None => return Err("no node is running".into()),
    };
    let client = net.client(live[0]);
    for hash in first.iter().flat_map(|b| b.transfers.iter()) {
        let info = client.get_transaction(hash).await.map_err(|e| format!("getTransaction {hash}: {e}"))?;
        let fields = info.transfer.ok_or_else(|| format!("transfer {hash} is {}", info.status.as_str()))?;
        snapshot.transfers.insert(
            *hash,
            TransferRecord {
                from: fields.from.0,
                to: fields.to.0,
                amount: fields.amount,
                fee: fields.fee,
                nonce: fields.nonce,
            },
        );
    }
    let mut keys: Vec<PublicKey> = genesis.accounts.iter().map(|(k, _)| *k).collect();
    keys.extend(genesis.validators.iter().map(|v| v.public_key));
    keys.extend(snapshot.transfers.values().flat_map(|t| [t.from, t.to]));
    let mut seen = HashSet::new();
    keys.retain(|k| seen.insert(*k));
    for &i in &live {
        let client = net.client(i);
        let mut accounts = Vec::with_capacity(keys.len());
        for key in &keys {
            let info = client.get_account(&key.address()).await.map_err(|e| format!("node {i} getAccount: {e}"))?;
            accounts.push(AccountRecord { key: *key, balance: info.balance, nonce: info.nonce, height: info.height });
        }
        snapshot.accounts.push((i, accounts));
    }
    // The chains, now at or beyond every account's height; fields of any transfer added since.
    for &i in &live {
        let chain = fetch_chain(net, i).await?;
        for hash in chain.iter().flat_map(|b| b.transfers.iter()) {
            if !snapshot.transfers.contains_key(hash) {
                let info = net.client(i).get_transaction(hash).await.map_err(|e| format!("getTransaction: {e}"))?;
                let fields = info.transfer.ok_or_else(|| format!("transfer {hash} is {}", info.status.as_str()))?;
                snapshot.transfers.insert(
                    *hash,
                    TransferRecord {
                        from: fields.from.0,
                        to: fields.to.0,
                        amount: fields.amount,
                        fee: fields.fee,
                        nonce: fields.nonce,
                    },
                );
            }
        }
        snapshot.chains.push((i, chain));
    }
    Ok(snapshot)
}

/// [`fetch`] then [`check`].
pub async fn check_all(net: &Net, acknowledged: &[Hash]) -> Result<Snapshot, String> {
    let snapshot = fetch(net).await?;
    check(&snapshot, acknowledged)?;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_a_planted_double_sign_and_accepts_a_resend() {
        let a = json!({"height": 5, "round": 0, "type": "prevote", "validator": "aa", "block_hash": "01", "signature": "s1"});
        let resent = a.clone();
        let other_round = json!({"height": 5, "round": 1, "type": "prevote", "validator": "aa", "block_hash": "02", "signature": "s2"});
        assert!(conflicting_signatures(&[a.clone(), resent, other_round]).is_empty());
        let conflict = json!({"height": 5, "round": 0, "type": "prevote", "validator": "aa", "block_hash": null, "signature": "s3"});
        assert_eq!(conflicting_signatures(&[a.clone(), conflict.clone()]), vec![(a, conflict)]);
    }

    fn key(b: u8) -> PublicKey {
        PublicKey([b; 32])
    }

    fn h(b: u8) -> Hash {
        Hash([b; 32])
    }

    fn block(height: u64, proposer: u8, transfers: &[u8]) -> BlockRecord {
        BlockRecord {
            height,
            hash: h(100 + height as u8),
            state_root: h(200 - height as u8),
            proposer: key(proposer),
            time_ms: 1_000 * height,
            transfers: transfers.iter().map(|t| h(*t)).collect(),
        }
    }

    type Ledger = (Vec<(PublicKey, u64)>, Vec<BlockRecord>, HashMap<Hash, TransferRecord>);

    /// Account 1 holds 100 at genesis; validator 9 proposes; transfers 1 and 2 pay account 2.
    fn ledger() -> Ledger {
        let genesis = vec![(key(1), 100)];
        let chain = vec![block(1, 9, &[1]), block(2, 9, &[]), block(3, 9, &[2])];
        let t = |amount, nonce| TransferRecord { from: key(1), to: key(2), amount, fee: 1, nonce };
        let transfers = HashMap::from([(h(1), t(10, 0)), (h(2), t(20, 1))]);
        (genesis, chain, transfers)
    }

    fn account(k: u8, balance: u64, nonce: u64, height: u64) -> AccountRecord {
        AccountRecord { key: key(k), balance, nonce, height }
    }

    #[test]
    fn finds_an_acknowledged_transfer_missing_or_included_twice() {
        let (_, chain, _) = ledger();
        let good = vec![(0, chain.clone()), (1, chain.clone())];
        assert!(acknowledged_exactly_once(&good, &[h(1), h(2)]).is_empty());
        let mut twice = chain.clone();
        twice[1].transfers.push(h(1));
        let problems = acknowledged_exactly_once(&[(0, chain.clone()), (1, twice)], &[h(1), h(2)]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("node 1") && problems[0].contains("2 times"), "{problems:?}");
        let lost = acknowledged_exactly_once(&good, &[h(3)]);
        assert_eq!(lost.len(), 2, "missing from both nodes: {lost:?}");
    }

    #[test]
    fn replays_a_sound_ledger_and_finds_minting_overdraft_and_nonce_gaps() {
        let (genesis, chain, transfers) = ledger();
        let at_tip = [account(1, 68, 2, 3), account(2, 30, 0, 3), account(9, 2, 0, 3)];
        assert_eq!(ledger_conserved(&genesis, &chain, &transfers, &at_tip), Vec::<String>::new());
        let mid = [account(1, 89, 1, 1), account(2, 10, 0, 2)];
        assert_eq!(ledger_conserved(&genesis, &chain, &transfers, &mid), Vec::<String>::new());

        // A node that minted: it reports one unit more for the recipient.
        let minted = [account(1, 68, 2, 3), account(2, 31, 0, 3), account(9, 2, 0, 3)];
        let problems = ledger_conserved(&genesis, &chain, &transfers, &minted);
        assert!(problems.iter().any(|p| p.contains("node says balance 31")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("reported supply 101")), "{problems:?}");

        // An overdraft: the second transfer moves more than is left.
        let mut overdraft = transfers.clone();
        overdraft.get_mut(&h(2)).unwrap().amount = 500;
        let problems = ledger_conserved(&genesis, &chain, &overdraft, &[]);
        assert!(problems.iter().any(|p| p.contains("below zero")), "{problems:?}");

        // A nonce that skips: 0 then 2.
        let mut skip = transfers.clone();
        skip.get_mut(&h(2)).unwrap().nonce = 2;
        let problems = ledger_conserved(&genesis, &chain, &skip, &[]);
        assert!(problems.iter().any(|p| p.contains("has nonce 2, expected 1")), "{problems:?}");

        // A replayed nonce: the same transfer twice.
        let mut again = chain.clone();
        again[1].transfers.push(h(1));
        let problems = ledger_conserved(&genesis, &again, &transfers, &[]);
        assert!(problems.iter().any(|p| p.contains("has nonce 0, expected 1")), "{problems:?}");
    }

    #[test]
    fn finds_a_planted_fork_and_a_state_root_mismatch() {
        let (_, chain, _) = ledger();
        let shorter = chain[..2].to_vec();
        assert!(same_chain(&[(0, chain.clone()), (1, shorter.clone())]).is_empty());
        let mut fork = shorter.clone();
        fork[1].hash = h(77);
        let problems = same_chain(&[(0, chain.clone()), (1, fork)]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("height 2"), "{problems:?}");
        let mut root = chain.clone();
        root[0].state_root = h(66);
        assert_eq!(same_chain(&[(0, chain.clone()), (3, root)]).len(), 1);
        let mut gap = chain.clone();
        gap.remove(1);
        assert!(!same_chain(&[(0, gap)]).is_empty(), "a missing height is reported");
    }

    #[test]
    fn double_signing_is_reported_per_node_and_gaps_are_measured() {
        let a = json!({"height": 5, "round": 0, "type": "precommit", "validator": "aa", "block_hash": "01"});
        let b = json!({"height": 5, "round": 0, "type": "precommit", "validator": "aa", "block_hash": "02"});
        assert!(no_double_signing(&[vec![a.clone()], vec![a.clone(), a.clone()]]).is_empty());
        let problems = no_double_signing(&[vec![a.clone()], vec![a, b]]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("node 1"), "{problems:?}");
        let (_, mut chain, _) = ledger();
        chain[2].time_ms = 7_500;
        assert_eq!(longest_gap(&chain), Duration::from_millis(5_500));
    }

    #[test]
    fn check_runs_every_checker() {
        let (genesis, chain, transfers) = ledger();
        let snapshot = Snapshot {
            genesis,
            chains: vec![(0, chain.clone()), (1, chain)],
            transfers,
            accounts: vec![(0, vec![account(2, 30, 0, 3)]), (1, vec![account(2, 29, 0, 3)])],
            signed: vec![vec![], vec![]],
        };
        let err = check(&snapshot, &[h(1), h(9)]).unwrap_err();
        assert!(err.contains("node 1: account"), "{err}");
        assert!(!err.contains("node 0: account"), "{err}");
        assert_eq!(err.matches("appears 0 times").count(), 2, "{err}");
    }
}
