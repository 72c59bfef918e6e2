//! [`Network::spawn`]: validates the config, builds the swarm, binds the listeners and starts
//! the actor.

use std::collections::HashMap;

use tokio::{
    sync::{mpsc, oneshot, watch},
    time::Duration,
};
use tracing::Instrument;

use crate::{
    actor::{Actor, Channels, Startup},
    behaviour::build_swarm,
    config::NetworkConfig,
    error::P2pError,
    handle::NetworkHandle,
    types::NetworkEvent,
};

/// Capacity of the handle → actor command channel.
pub const COMMAND_CHANNEL_CAPACITY: usize = 1024;
/// Capacity of the actor → node event channel. When it is full, events wait in a byte-bounded
/// overflow queue; gossip and requests beyond that are dropped (gossip reported as Ignore).
pub const EVENT_CHANNEL_CAPACITY: usize = 256;
/// How long [`Network::spawn`] waits for its listeners to bind.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the network actor.
#[derive(Debug)]
pub struct Network;

impl Network {
    /// Validates `config`, binds its listen addresses, spawns the network task and returns its
    /// handle and event stream. Must be called within a tokio runtime. The task stops on
    /// [`NetworkHandle::shutdown`], when every handle is dropped, or when the event receiver is
    /// dropped.
    pub async fn spawn(config: NetworkConfig) -> Result<(NetworkHandle, mpsc::Receiver<NetworkEvent>), P2pError> {
        config.validate()?;
        let mut swarm = build_swarm(&config)?;
        let mut listeners = HashMap::new();
        for addr in &config.listen {
            let id = swarm.listen_on(addr.clone()).map_err(|source| P2pError::Listen { addr: addr.clone(), source })?;
            listeners.insert(id, addr.clone());
        }
        let first_listen = config.listen.first().cloned();

        let (tx_command, rx_command) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
        let (tx_event, rx_event) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
        let (tx_listen_addrs, rx_listen_addrs) = watch::channel(Vec::new());
        let (tx_stopped, rx_stopped) = watch::channel(false);
        let (tx_ready, rx_ready) = oneshot::channel();
        let local_peer_id = *swarm.local_peer_id();

        let actor = Actor::new(
            swarm,
            &config,
            Channels { rx_command, tx_event, tx_listen_addrs },
            Startup { listeners, tx_ready: Some(tx_ready) },
        );
        let span = tracing::info_span!("p2p", local = %local_peer_id);
        tokio::spawn(actor.run(tx_stopped).instrument(span));

        let handle = NetworkHandle::new(
            tx_command,
            rx_listen_addrs,
            rx_stopped,
            local_peer_id,
            config.max_message_bytes,
            config.timing.request_timeout,
        );
        let outcome = match tokio::time::timeout(LISTEN_TIMEOUT, rx_ready).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(P2pError::Stopped),
            Err(_) => Err(match first_listen {
                Some(addr) => P2pError::ListenFailed { addr },
                None => P2pError::Stopped,
            }),
        };
        match outcome {
            Ok(()) => Ok((handle, rx_event)),
            Err(e) => {
                handle.shutdown().await;
                Err(e)
            }
        }
    }
}
