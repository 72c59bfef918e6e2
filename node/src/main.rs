//! `tally-node`: the Tally validator and full-node binary (SPEC §6).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;
use tally_node::config::{apply_override, LogFormat, NodeConfig};
use tally_node::home::Home;
use tally_node::init::{has_layout, init, testnet, InitOptions, TestnetOptions, DEVNET_GENESIS};

#[derive(Parser)]
#[command(name = "tally-node", version, about = "Tally validator and full node")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Create a node home: keys (mode 0600), config.toml, genesis, data directory.
    Init {
        /// The home directory to create.
        #[arg(long)]
        home: PathBuf,
        /// Genesis file to use (default: the development network's).
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// A human name for the node.
        #[arg(long, default_value = "tally-node")]
        moniker: String,
        /// No consensus key: follow the chain, relay and serve RPC.
        #[arg(long)]
        full_node: bool,
    },
    /// Run a node from its home. Flags override config.toml, and so do TALLY_NODE_* variables.
    Start {
        /// The node's home.
        #[arg(long, env = "TALLY_NODE_HOME")]
        home: PathBuf,
        /// Listen for peers here (multiaddr).
        #[arg(long, env = "TALLY_NODE_P2P_LISTEN")]
        p2p_listen: Option<String>,
        /// A bootstrap peer (repeatable; env: comma-separated).
        #[arg(long = "peer", env = "TALLY_NODE_PEERS", value_delimiter = ',')]
        peers: Vec<String>,
        /// Serve JSON-RPC here.
        #[arg(long, env = "TALLY_NODE_RPC_LISTEN")]
        rpc_listen: Option<std::net::SocketAddr>,
        /// Log format.
        #[arg(long, env = "TALLY_NODE_LOG_FORMAT", value_enum)]
        log_format: Option<LogFormat>,
        /// The node's moniker.
        #[arg(long, env = "TALLY_NODE_MONIKER")]
        moniker: Option<String>,
        /// Any other config.toml field, as dotted.key=value (repeatable), e.g.
        /// `--set consensus.empty_block_interval_ms=500`. Variables TALLY_NODE_SECTION__FIELD do the same.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Lay out homes for a local network of N validators on 127.0.0.1.
    Testnet {
        /// How many validators.
        #[arg(long)]
        validators: u32,
        /// Where node0..N-1 go.
        #[arg(long)]
        dir: PathBuf,
        /// The chain id; anything but tally-devnet gets fresh keys (seeds in DIR/accounts.json).
        #[arg(long, default_value = "tally-devnet")]
        chain_id: String,
        /// RPC port of node 0; node i uses base + i.
        #[arg(long, default_value_t = 8545)]
        rpc_port_base: u16,
        /// P2P port of node 0; node i uses base + i.
        #[arg(long, default_value_t = 26656)]
        p2p_port_base: u16,
    },
    /// Run the four-validator development network from the repository's genesis.json.
    Devnet {
        /// Where the node homes live.
        #[arg(long, default_value = ".devnet")]
        dir: PathBuf,
        /// Start again from genesis.
        #[arg(long)]
        reset: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Init { home, genesis, moniker, full_node } => run_init(home, genesis, moniker, full_node),
        Commands::Start { home, p2p_listen, peers, rpc_listen, log_format, moniker, set } => {
            run_start(home, p2p_listen, peers, rpc_listen, log_format, moniker, set)
        }
        Commands::Testnet { validators, dir, chain_id, rpc_port_base, p2p_port_base } => {
            testnet(&TestnetOptions { validators, dir: dir.clone(), chain_id, rpc_port_base, p2p_port_base }).map(
                |homes| {
                    println!("wrote {} node homes under {}", homes.len(), dir.display());
                },
            )
        }
        Commands::Devnet { dir, reset } => run_devnet(dir, reset),
    };
    if let Err(e) = result {
        eprintln!("tally-node: {e:#}");
        std::process::exit(1);
    }
}

fn run_init(home: PathBuf, genesis: Option<PathBuf>, moniker: String, full_node: bool) -> anyhow::Result<()> {
    let genesis = match genesis {
        Some(path) => std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        None => DEVNET_GENESIS.to_vec(),
    };
    let home =
        init(InitOptions { home, genesis, moniker, full_node, consensus_seed: None, config: NodeConfig::default() })?;
    println!("initialised {}", home.root().display());
    Ok(())
}

fn run_start(
    home: PathBuf,
    p2p_listen: Option<String>,
    peers: Vec<String>,
    rpc_listen: Option<std::net::SocketAddr>,
    log_format: Option<LogFormat>,
    moniker: Option<String>,
    set: Vec<String>,
) -> anyhow::Result<()> {
    let home = Home::new(home);
    if !home.is_initialised() {
        bail!(
            "{} is not a node home: run `tally-node init --home {}` first",
            home.root().display(),
            home.root().display()
        );
    }
    let text = std::fs::read_to_string(home.config()).context("reading config.toml")?;
    let mut doc: toml::Table = toml::from_str(&text).context("config.toml")?;
    // Generic overrides: TALLY_NODE_SECTION__FIELD variables, then --set flags.
    let named = [
        "TALLY_NODE_HOME",
        "TALLY_NODE_P2P_LISTEN",
        "TALLY_NODE_PEERS",
        "TALLY_NODE_RPC_LISTEN",
        "TALLY_NODE_LOG_FORMAT",
        "TALLY_NODE_MONIKER",
    ];
    for (name, value) in std::env::vars() {
        if let Some(rest) = name.strip_prefix("TALLY_NODE_") {
            if !named.contains(&name.as_str()) {
                apply_override(&mut doc, &format!("{}={value}", rest.to_lowercase().replace("__", ".")))?;
            }
        }
    }
    for assignment in &set {
        apply_override(&mut doc, assignment)?;
    }
    let mut config: NodeConfig = NodeConfig::from_toml(&toml::to_string(&doc)?)?;
    if let Some(v) = p2p_listen {
        config.p2p_listen = v;
    }
    if !peers.is_empty() {
        config.peers = peers;
    }
    if let Some(v) = rpc_listen {
        config.rpc_listen = v;
    }
    if let Some(v) = log_format {
        config.log_format = v;
    }
    if let Some(v) = moniker {
        config.moniker = v;
    }
    install_logging(config.log_format);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        runtime.worker_threads(config.threads);
        rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .thread_name(|i| format!("tally-verify-{i}"))
            .build_global()
            .context("starting the signature-check threads")?;
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(tally_node::run::run(home, config))
}

fn install_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,libp2p=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run_devnet(dir: PathBuf, reset: bool) -> anyhow::Result<()> {
    if reset && dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    if !has_layout(&dir, 4) {
        testnet(&TestnetOptions {
            validators: 4,
            dir: dir.clone(),
            chain_id: "tally-devnet".into(),
            rpc_port_base: 8545,
            p2p_port_base: 26656,
        })?;
    }
    let exe = std::env::current_exe().context("locating tally-node")?;
    let mut children: Vec<Child> = Vec::new();
    for i in 0..4 {
        let home = dir.join(format!("node{i}"));
        let log = std::fs::File::create(home.join("node.log")).context("creating node.log")?;
        let child =
            Command::new(&exe).arg("start").arg("--home").arg(&home).stdout(log.try_clone()?).stderr(log).spawn()?;
        children.push(child);
    }
    let wallet = exe.with_file_name("tally");
    let dev0 = hex::encode(tally_ledger::genesis::dev_account_seed(0));
    let dev1 = tally_ledger::genesis::public_key_of_seed(&tally_ledger::genesis::dev_account_seed(1)).address();
    println!(
        "Tally devnet: 4 validators on 127.0.0.1, RPC on ports 8545-8548, homes and logs under {dir}/node0..3 (node.log).\n\
         \n\
         Try (the development keys are public; never use them for real money):\n\
         \n  curl -s http://127.0.0.1:8545 -H 'content-type: application/json' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}}'\n\
         \n  export TALLY_PASSPHRASE=devnet\n  {w} keys import dev0 --seed-hex {dev0}\n  {w} balance\n  {w} send --to {dev1} --amount 1000 --wait\n\
         \nCtrl-C stops the network; `tally-node devnet` resumes it, `--reset` starts from genesis.",
        dir = dir.display(),
        w = wallet.display(),
    );
    wait_for_signal_then_stop(children)
}

fn wait_for_signal_then_stop(mut children: Vec<Child>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut poll = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = poll.tick() => {
                    if children.iter_mut().any(|c| matches!(c.try_wait(), Ok(Some(_)))) {
                        eprintln!("a node exited; see its node.log. Stopping the others.");
                        break;
                    }
                }
            }
        }
        Ok::<(), anyhow::Error>(())
    })?;
    for child in &children {
        // SIGTERM: each node finishes its write in flight and exits 0.
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    }
    for child in &mut children {
        let _ = child.wait();
    }
    println!("devnet stopped");
    Ok(())
}
