//! `tally-node start`: opens the home, spawns the actors, wires them, serves RPC, and stops
//! cleanly on SIGINT or SIGTERM.

use crate::api::NodeRpc;
use crate::config::NodeConfig;
use crate::driver::{
    Driver, DriverEvent, DriverParts, SavedBlocks, SyncServer, CONSENSUS_CHANNEL_CAPACITY, EVIDENCE_KEPT,
};
use crate::home::{read_key, Home};
use crate::mempool_actor::{MempoolActor, MempoolHandle};
use crate::metrics::NodeMetrics;
use crate::signing::SigningStore;
use crate::snapshots::Snapshots;
use crate::views::evidence_view;
use crate::LedgerStore;
use anyhow::{bail, Context};
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use tally_consensus::{Consensus, ConsensusConfig, Evidence, SignedMessage, TimeoutConfig, Validator, ValidatorSet};
use tally_ledger::genesis::{allows_dev_keys, is_dev_key, public_key_of_seed};
use tally_ledger::store::{RocksBackend, Store};
use tally_ledger::Genesis;
use tally_p2p::{max_message_bytes_for, Keypair, Multiaddr, Network, NetworkConfig, NetworkEvent, Topic};
use tally_rpc::{EvidenceView, RpcMetrics, RpcServer};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

/// Loads the genesis of a home.
pub fn load_genesis(home: &Home) -> anyhow::Result<Genesis> {
    let bytes = std::fs::read(home.genesis()).with_context(|| format!("reading {}", home.genesis().display()))?;
    Genesis::from_bytes(&bytes).with_context(|| format!("{}", home.genesis().display()))
}

/// The consensus validator set of a genesis.
pub fn validator_set(genesis: &Genesis) -> anyhow::Result<ValidatorSet> {
    let validators =
        genesis.validators.iter().map(|v| Validator { public_key: v.public_key.0, power: v.power }).collect();
    ValidatorSet::new(validators).map_err(|e| anyhow::anyhow!("genesis validators: {e}"))
}

/// The newest [`EVIDENCE_KEPT`] entries of `evidence.jsonl`.
fn load_evidence(home: &Home) -> Vec<EvidenceView> {
    // Whole lines only: a line a crash cut short is cut off, so the next append starts afresh.
    let Ok(bytes) = crate::jsonl::read_tail_repaired(&home.evidence_log(), u64::MAX) else { return Vec::new() };
    let text = String::from_utf8_lossy(&bytes);
    let mut evidence: Vec<EvidenceView> = text
        .lines()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let decode = |k: &str| SignedMessage::decode(&hex::decode(value[k].as_str()?).ok()?).ok();
            Evidence::from_pair(&decode("first")?, &decode("second")?).map(|e| evidence_view(&e))
        })
        .collect();
    let excess = evidence.len().saturating_sub(EVIDENCE_KEPT);
    evidence.drain(..excess);
    evidence
}

/// Runs the node until a signal or a fatal error.
pub async fn run(home: Home, config: NodeConfig) -> anyhow::Result<()> {
    config.validate()?;
    let genesis = Arc::new(load_genesis(&home)?);
    let chain_id = genesis.params.chain_id.to_string();
    let node_seed = read_key(&home.node_key())?;
    let keypair = Keypair::ed25519_from_bytes(node_seed).context("node key")?;
    let consensus_seed = if home.consensus_key().exists() { Some(read_key(&home.consensus_key())?) } else { None };
    let validator_key = consensus_seed.as_ref().map(public_key_of_seed);
    if let Some(key) = &validator_key {
        if is_dev_key(key) && !allows_dev_keys(&genesis.params.chain_id) {
            bail!(
                "the consensus key is a well-known development key; refused on chain {chain_id} (only *-devnet chains)"
            );
        }
        if !genesis.validators.iter().any(|v| v.public_key == *key) {
            warn!(validator = %key, "this node's consensus key is not in the genesis validator set; following the chain");
        }
    }
    let validators = validator_set(&genesis)?;

    std::fs::create_dir_all(home.data()).with_context(|| format!("creating {}", home.data().display()))?;
    let backend = RocksBackend::open(&home.db()).context("opening the database")?;
    let store: Arc<LedgerStore> = Arc::new(Store::open(backend, &genesis)?);
    let (ledger, replayed) = store.load_ledger(&genesis)?;
    let height = ledger.height();
    let last_commit = match height {
        0 => Vec::new(),
        h => store.block(h)?.map(|b| b.certificate).context("the committed block is missing")?,
    };
    info!(
        height,
        state_root = %ledger.state_root(),
        chain = %chain_id,
        replayed_blocks = replayed.blocks,
        "store opened"
    );
    let snapshots = Snapshots::spawn(store.clone(), config.store.snapshot_policy(), replayed)
        .context("starting the snapshot writer")?;

    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    let rpc_metrics = RpcMetrics::new();
    rpc_metrics.register(&mut registry);
    metrics.height.set(height as i64);

    let mut network_config = NetworkConfig::new(keypair, chain_id.clone(), genesis.hash.0);
    network_config.listen = vec![config.p2p_listen.parse::<Multiaddr>().context("p2p_listen")?];
    network_config.bootstrap =
        config.peers.iter().map(|p| p.parse::<Multiaddr>()).collect::<Result<_, _>>().context("peers")?;
    network_config.max_message_bytes = max_message_bytes_for(genesis.params.max_block_bytes as usize);
    network_config.max_peers = config.p2p.max_peers;
    let (network, network_events) = Network::spawn(network_config).await.context("starting the network")?;
    let node_id = network.local_peer_id().to_string();
    info!(%node_id, listen = ?network.listen_addrs(), "network started");

    let mempool = MempoolActor::spawn(
        config.mempool.clone(),
        genesis.params.clone(),
        ledger.accounts().map(|(k, a)| (*k, *a)).collect(),
        Some(network.clone()),
        metrics.clone(),
        height,
    )
    .context("starting the mempool thread")?;

    let signing_key = consensus_seed.map(|seed| ed25519_dalek::SigningKey::from_bytes(&seed));
    let mut consensus_config = ConsensusConfig::new(chain_id.clone(), validators.clone(), signing_key);
    consensus_config.timeouts = TimeoutConfig {
        propose_ms: config.consensus.timeout_propose_ms,
        prevote_ms: config.consensus.timeout_prevote_ms,
        precommit_ms: config.consensus.timeout_precommit_ms,
        delta_ms: config.consensus.timeout_delta_ms,
    };
    let mut signing = SigningStore::open(home.consensus_state(), home.signed_log())?;
    let durable = signing.load()?;
    if let Some(state) = &durable {
        signing.relog(state)?;
    }
    let (core, initial_outputs) = match durable {
        Some(state) if state.height == height + 1 => {
            info!(height = state.height, round = state.round, "restoring consensus signing state");
            Consensus::restore(consensus_config, state).map_err(|e| anyhow::anyhow!("consensus: {e}"))?
        }
        _ => (Consensus::new(consensus_config).map_err(|e| anyhow::anyhow!("consensus: {e}"))?, Vec::new()),
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (driver_tx, driver_rx) = mpsc::channel(CONSENSUS_CHANNEL_CAPACITY);
    let parts = DriverParts {
        core,
        initial_outputs,
        ledger,
        last_commit,
        store: store.clone(),
        snapshots,
        genesis: genesis.clone(),
        validators,
        validator_key,
        signing,
        saved_blocks: SavedBlocks::open(home.candidate_blocks())?,
        mempool: mempool.clone(),
        network: network.clone(),
        timing: config.consensus.clone(),
        evidence_log: home.evidence_log(),
        evidence: load_evidence(&home),
        metrics: metrics.clone(),
    };
    let (outputs, mut driver_task) = Driver::spawn(parts, driver_rx, shutdown_rx.clone());

    let sync_server = SyncServer {
        store: store.clone(),
        network: network.clone(),
        max_response_bytes: max_message_bytes_for(genesis.params.max_block_bytes as usize),
    };
    let dropped_batches = metrics.gossip_batches_dropped.clone();
    let router = tokio::spawn(route(network_events, driver_tx, mempool.clone(), sync_server, dropped_batches));

    let api = Arc::new(NodeRpc {
        store: store.clone(),
        genesis: genesis.clone(),
        mempool: mempool.clone(),
        head: outputs.head.clone(),
        blocks: outputs.blocks.clone(),
        evidence: outputs.evidence.clone(),
        node_id,
        moniker: config.moniker.clone(),
        validator: validator_key,
    });
    let listener = tokio::net::TcpListener::bind(config.rpc_listen)
        .await
        .with_context(|| format!("binding the RPC server to {}", config.rpc_listen))?;
    info!(rpc = %listener.local_addr().unwrap_or(config.rpc_listen), "RPC server listening");
    let server = RpcServer::new(api, config.rpc.clone())
        .map_err(|e| anyhow::anyhow!("rpc: {e}"))?
        .with_metrics(rpc_metrics, Arc::new(registry));
    let mut rpc_shutdown = shutdown_rx.clone();
    let rpc_task = tokio::spawn(server.serve(listener, async move {
        let _ = rpc_shutdown.wait_for(|stop| *stop).await;
    }));

    let outcome = tokio::select! {
        signal = shutdown_signal() => {
            info!(signal, "shutting down");
            Ok(())
        }
        result = &mut driver_task => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(fatal)) => Err(anyhow::anyhow!("{fatal}")),
            Err(join) => Err(anyhow::anyhow!("consensus driver panicked: {join}")),
        },
    };
    let _ = shutdown_tx.send(true);
    if !driver_task.is_finished() {
        let _ = driver_task.await;
    }
    let _ = rpc_task.await;
    router.abort();
    network.shutdown().await;
    drop(mempool);
    // The store closes (and RocksDB flushes) when the last handle drops here.
    drop(store);
    if let Err(e) = &outcome {
        error!(error = %e, "node stopped on an error");
    } else {
        info!("node stopped");
    }
    outcome
}

/// Dispatches network events to the actor that owns each concern.
async fn route(
    mut events: mpsc::Receiver<NetworkEvent>,
    driver: mpsc::Sender<DriverEvent>,
    mempool: MempoolHandle,
    sync_server: SyncServer,
    dropped_batches: Counter,
) {
    while let Some(event) = events.recv().await {
        let delivered = match event {
            NetworkEvent::Gossip { topic: Topic::Consensus, source, message_id, data } => {
                driver.send(DriverEvent::Gossip { data, source, message_id }).await.is_ok()
            }
            NetworkEvent::Gossip { topic: Topic::Transfers, source, message_id, data } => {
                match mempool.gossip(data, source, message_id) {
                    Ok(true) => true,
                    Ok(false) => {
                        debug!("mempool backed up: a transfer batch from gossip is dropped");
                        dropped_batches.inc();
                        true
                    }
                    Err(_) => false,
                }
            }
            NetworkEvent::PeerConnected(peer) => driver.send(DriverEvent::PeerConnected(peer)).await.is_ok(),
            NetworkEvent::PeerDisconnected(peer) => driver.send(DriverEvent::PeerDisconnected(peer)).await.is_ok(),
            NetworkEvent::InboundRequest { request_id, peer, request } => {
                tokio::spawn(sync_server.clone().answer(request_id, peer, request));
                true
            }
        };
        if !delivered {
            break;
        }
    }
}

/// Waits for SIGINT or SIGTERM; returns its name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "SIGINT";
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
