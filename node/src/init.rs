//! `init`, `testnet` and `devnet`: laying out node homes.

use crate::config::NodeConfig;
use crate::home::{random_seed, write_atomic, write_key, Home};
use anyhow::{bail, Context};
use serde_json::json;
use std::path::{Path, PathBuf};
use tally_ledger::genesis::{allows_dev_keys, dev_account_seed, dev_validator_seed, public_key_of_seed};
use tally_ledger::{ChainId, Genesis};

/// The repository's `genesis.json`: the development network.
pub const DEVNET_GENESIS: &[u8] = include_bytes!("../../genesis.json");

/// Options of `init`.
pub struct InitOptions {
    /// The home to create.
    pub home: PathBuf,
    /// The genesis bytes to use.
    pub genesis: Vec<u8>,
    /// The moniker.
    pub moniker: String,
    /// No consensus key.
    pub full_node: bool,
    /// A fixed consensus key seed (testnet/devnet), else random.
    pub consensus_seed: Option<[u8; 32]>,
    /// The configuration to write.
    pub config: NodeConfig,
}

/// Creates a node home: genesis, keys (mode 0600), config, data directory.
pub fn init(options: InitOptions) -> anyhow::Result<Home> {
    let home = Home::new(&options.home);
    if home.is_initialised() {
        bail!("{} is already initialised (config.toml, genesis.json and node_key.json exist)", home.root().display());
    }
    let genesis = Genesis::from_bytes(&options.genesis).context("genesis")?;
    std::fs::create_dir_all(home.data()).with_context(|| format!("creating {}", home.data().display()))?;
    write_atomic(&home.genesis(), &options.genesis, 0o644)?;
    write_key(&home.node_key(), &random_seed())?;
    if !options.full_node {
        let seed = options.consensus_seed.unwrap_or_else(random_seed);
        let key = public_key_of_seed(&seed);
        if tally_ledger::genesis::is_dev_key(&key) && !allows_dev_keys(&genesis.params.chain_id) {
            bail!("refusing a well-known development key on chain {}", genesis.params.chain_id);
        }
        write_key(&home.consensus_key(), &seed)?;
    }
    let mut config = options.config;
    config.moniker = options.moniker;
    write_atomic(&home.config(), config.to_toml().as_bytes(), 0o644)?;
    Ok(home)
}

/// Options of `testnet`.
pub struct TestnetOptions {
    /// How many validators.
    pub validators: u32,
    /// Where the homes go.
    pub dir: PathBuf,
    /// The chain id.
    pub chain_id: String,
    /// RPC port of node 0.
    pub rpc_port_base: u16,
    /// P2P port of node 0.
    pub p2p_port_base: u16,
}

fn port(base: u16, i: u32) -> anyhow::Result<u16> {
    u16::try_from(u32::from(base) + i).context("port out of range")
}

/// A local network's genesis bytes with the seeds of its validators and accounts.
struct TestnetGenesis {
    bytes: Vec<u8>,
    validators: Vec<[u8; 32]>,
    accounts: Vec<[u8; 32]>,
}

/// The genesis of a local network: development keys on `tally-devnet` (the repository's file
/// for four validators), fresh keys (to be written to `accounts.json`) on any other chain id.
fn testnet_genesis(options: &TestnetOptions) -> anyhow::Result<TestnetGenesis> {
    ChainId::new(&options.chain_id).map_err(|e| anyhow::anyhow!("--chain-id: {e}"))?;
    let dev = options.chain_id == "tally-devnet";
    if dev && options.validators == 4 {
        let validators = (0..4).map(dev_validator_seed).collect();
        let accounts = (0..10).map(dev_account_seed).collect();
        return Ok(TestnetGenesis { bytes: DEVNET_GENESIS.to_vec(), validators, accounts });
    }
    let (validators, accounts): (Vec<[u8; 32]>, Vec<[u8; 32]>) = if dev {
        ((0..options.validators).map(dev_validator_seed).collect(), (0..10).map(dev_account_seed).collect())
    } else {
        ((0..options.validators).map(|_| random_seed()).collect(), (0..10).map(|_| random_seed()).collect())
    };
    let genesis = json!({
        "chain_id": options.chain_id,
        "genesis_time": "2026-01-01T00:00:00Z",
        "min_fee": 1,
        "max_block_txs": 10000,
        "max_block_bytes": 4194304,
        "validators": validators.iter().enumerate().map(|(i, seed)| json!({
            "name": format!("v{i}"),
            "public_key": public_key_of_seed(seed).to_hex(),
            "power": 1,
        })).collect::<Vec<_>>(),
        "accounts": accounts.iter().map(|seed| json!({
            "address": public_key_of_seed(seed).address().to_string(),
            "balance": 1_000_000_000_000u64,
        })).collect::<Vec<_>>(),
    });
    let mut bytes = serde_json::to_vec_pretty(&genesis)?;
    bytes.push(b'\n');
    Ok(TestnetGenesis { bytes, validators, accounts })
}

/// Writes `DIR/node0..N-1` for a network on 127.0.0.1 where every node knows the others.
pub fn testnet(options: &TestnetOptions) -> anyhow::Result<Vec<Home>> {
    if options.validators == 0 {
        bail!("--validators must be at least 1");
    }
    let TestnetGenesis { bytes: genesis, validators: validator_seeds, accounts: account_seeds } =
        testnet_genesis(options)?;
    std::fs::create_dir_all(&options.dir).with_context(|| format!("creating {}", options.dir.display()))?;
    if options.chain_id != "tally-devnet" {
        let accounts = json!({
            "about": "Seeds of the generated validator and account keys of this local network. Secret.",
            "validators": validator_seeds.iter().map(|s| json!({"seed": hex::encode(s), "public_key": public_key_of_seed(s).to_hex()})).collect::<Vec<_>>(),
            "accounts": account_seeds.iter().map(|s| json!({"seed": hex::encode(s), "address": public_key_of_seed(s).address().to_string()})).collect::<Vec<_>>(),
        });
        write_atomic(&options.dir.join("accounts.json"), &serde_json::to_vec_pretty(&accounts)?, 0o600)?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut homes = Vec::new();
    for i in 0..options.validators {
        let mut config = NodeConfig {
            p2p_listen: format!("/ip4/127.0.0.1/tcp/{}", port(options.p2p_port_base, i)?),
            rpc_listen: std::net::SocketAddr::from(([127, 0, 0, 1], port(options.rpc_port_base, i)?)),
            // Every node of a local network shares this machine's cores.
            threads: (cores / options.validators as usize).max(1),
            ..NodeConfig::default()
        };
        config.peers = (0..options.validators)
            .filter(|j| *j != i)
            .map(|j| Ok(format!("/ip4/127.0.0.1/tcp/{}", port(options.p2p_port_base, j)?)))
            .collect::<anyhow::Result<_>>()?;
        homes.push(init(InitOptions {
            home: options.dir.join(format!("node{i}")),
            genesis: genesis.clone(),
            moniker: format!("node{i}"),
            full_node: false,
            consensus_seed: Some(validator_seeds[i as usize]),
            config,
        })?);
    }
    Ok(homes)
}

/// True if `dir` holds a testnet layout of `n` nodes.
pub fn has_layout(dir: &Path, n: u32) -> bool {
    (0..n).all(|i| Home::new(dir.join(format!("node{i}"))).is_initialised())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devnet_layout_uses_the_repository_genesis_and_development_keys() {
        let dir = tempfile::tempdir().unwrap();
        let options = TestnetOptions {
            validators: 4,
            dir: dir.path().to_path_buf(),
            chain_id: "tally-devnet".into(),
            rpc_port_base: 18545,
            p2p_port_base: 36656,
        };
        let homes = testnet(&options).unwrap();
        assert_eq!(homes.len(), 4);
        for (i, home) in homes.iter().enumerate() {
            assert_eq!(std::fs::read(home.genesis()).unwrap(), DEVNET_GENESIS);
            let seed = crate::home::read_key(&home.consensus_key()).unwrap();
            assert_eq!(seed, dev_validator_seed(i as u32));
            let config = NodeConfig::from_toml(&std::fs::read_to_string(home.config()).unwrap()).unwrap();
            assert_eq!(config.rpc_listen.port(), 18545 + i as u16);
            assert_eq!(config.peers.len(), 3);
            let cores = std::thread::available_parallelism().unwrap().get();
            assert_eq!(config.threads, (cores / 4).max(1), "the four nodes share the cores");
        }
        assert!(has_layout(dir.path(), 4));
        assert!(testnet(&options).is_err(), "a second testnet over the first is refused");
    }

    #[test]
    fn other_chains_get_fresh_keys_written_to_accounts_json() {
        let dir = tempfile::tempdir().unwrap();
        let options = TestnetOptions {
            validators: 2,
            dir: dir.path().to_path_buf(),
            chain_id: "acme-test".into(),
            rpc_port_base: 18545,
            p2p_port_base: 36656,
        };
        let homes = testnet(&options).unwrap();
        let genesis = Genesis::from_bytes(&std::fs::read(homes[0].genesis()).unwrap()).unwrap();
        assert_eq!(genesis.validators.len(), 2);
        assert!(!tally_ledger::genesis::is_dev_key(&genesis.validators[0].public_key));
        assert!(dir.path().join("accounts.json").exists());
    }
}
