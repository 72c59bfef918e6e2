//! [`NetworkHandle`]: the node's side of the actor. Cheap to clone; when the last clone is
//! dropped, the network task shuts down.

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::{
    config::MAX_REQUEST_BYTES,
    error::P2pError,
    types::{InboundRequestId, MessageId, NetworkStats, Topic, Verdict},
};

/// What the handle asks of the actor.
#[derive(Debug)]
pub(crate) enum Command {
    Publish { topic: Topic, data: Vec<u8>, reply: oneshot::Sender<Result<(), P2pError>> },
    Report { message_id: MessageId, source: PeerId, verdict: Verdict },
    Respond { request_id: InboundRequestId, response: Vec<u8>, reply: oneshot::Sender<Result<(), P2pError>> },
    Request { peer: PeerId, request: Vec<u8>, reply: oneshot::Sender<Result<Vec<u8>, P2pError>> },
    Peers { reply: oneshot::Sender<Vec<PeerId>> },
    MeshPeers { topic: Topic, reply: oneshot::Sender<Vec<PeerId>> },
    PeerScore { peer: PeerId, reply: oneshot::Sender<Option<f64>> },
    Stats { reply: oneshot::Sender<NetworkStats> },
    Disconnect { peer: PeerId },
    Shutdown,
}

/// Talks to the network task. Every method fails with [`P2pError::Stopped`] once the task is gone.
#[derive(Debug, Clone)]
pub struct NetworkHandle {
    tx_command: mpsc::Sender<Command>,
    rx_listen_addrs: watch::Receiver<Vec<Multiaddr>>,
    rx_stopped: watch::Receiver<bool>,
    local_peer_id: PeerId,
    max_message_bytes: usize,
    request_timeout: std::time::Duration,
}

impl NetworkHandle {
    pub(crate) fn new(
        tx_command: mpsc::Sender<Command>,
        rx_listen_addrs: watch::Receiver<Vec<Multiaddr>>,
        rx_stopped: watch::Receiver<bool>,
        local_peer_id: PeerId,
        max_message_bytes: usize,
        request_timeout: std::time::Duration,
    ) -> Self {
        NetworkHandle { tx_command, rx_listen_addrs, rx_stopped, local_peer_id, max_message_bytes, request_timeout }
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The addresses actually bound (a `/tcp/0` listen address shows its real port here).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.rx_listen_addrs.borrow().clone()
    }

    /// Publishes `data` on `topic`. [`P2pError::InsufficientPeers`] (nobody subscribed yet) and
    /// [`P2pError::Duplicate`] (same bytes seen recently) are harmless; the rest say why nothing
    /// was sent.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), P2pError> {
        if data.len() > self.max_message_bytes {
            return Err(P2pError::MessageTooLarge { size: data.len(), limit: self.max_message_bytes });
        }
        self.ask(|reply| Command::Publish { topic, data, reply }).await?
    }

    /// Reports the node's verdict on a [`NetworkEvent::Gossip`](crate::NetworkEvent::Gossip):
    /// only accepted messages are forwarded; rejected ones count against `source`.
    pub async fn report(&self, message_id: MessageId, source: PeerId, verdict: Verdict) -> Result<(), P2pError> {
        self.send(Command::Report { message_id, source, verdict }).await
    }

    /// Answers a [`NetworkEvent::InboundRequest`](crate::NetworkEvent::InboundRequest). A response
    /// over `max_message_bytes` is refused here, and nothing is sent.
    pub async fn respond(&self, request_id: InboundRequestId, response: Vec<u8>) -> Result<(), P2pError> {
        if response.len() > self.max_message_bytes {
            return Err(P2pError::MessageTooLarge { size: response.len(), limit: self.max_message_bytes });
        }
        self.ask(|reply| Command::Respond { request_id, response, reply }).await?
    }

    /// Sends a `/tally/sync/1` request (at most [`MAX_REQUEST_BYTES`]) to a connected peer and
    /// waits for its response, at most the configured request timeout.
    pub async fn request(&self, peer: PeerId, request: Vec<u8>) -> Result<Vec<u8>, P2pError> {
        if request.len() > MAX_REQUEST_BYTES {
            return Err(P2pError::MessageTooLarge { size: request.len(), limit: MAX_REQUEST_BYTES });
        }
        let rx = self.start(|reply| Command::Request { peer, request, reply }).await?;
        // request-response enforces the timeout; this guard only covers a stuck task.
        let guard = self.request_timeout + std::time::Duration::from_secs(1);
        match tokio::time::timeout(guard, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(P2pError::Stopped),
            Err(_) => Err(P2pError::RequestTimeout { peer }),
        }
    }

    /// The connected peers that passed the chain check.
    pub async fn peers(&self) -> Result<Vec<PeerId>, P2pError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// The peers in this node's gossipsub mesh for `topic` (those it forwards to). For
    /// diagnostics and for tests that wait for a formed mesh.
    pub async fn mesh_peers(&self, topic: Topic) -> Result<Vec<PeerId>, P2pError> {
        self.ask(|reply| Command::MeshPeers { topic, reply }).await
    }

    /// This node's gossipsub score of `peer`, if it has one. For diagnostics and tests.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, P2pError> {
        self.ask(|reply| Command::PeerScore { peer, reply }).await
    }

    /// Counts of peers by state, for metrics (`tally_peers`) and diagnostics.
    pub async fn stats(&self) -> Result<NetworkStats, P2pError> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Closes every connection to `peer`. A bootstrap peer is redialed after the backoff.
    pub async fn disconnect(&self, peer: PeerId) -> Result<(), P2pError> {
        self.send(Command::Disconnect { peer }).await
    }

    /// Stops the network task and waits until it has closed its connections. Idempotent.
    pub async fn shutdown(&self) {
        let _ = self.tx_command.send(Command::Shutdown).await;
        let mut rx_stopped = self.rx_stopped.clone();
        // An error means the task is gone, which is what we wait for.
        let _ = rx_stopped.wait_for(|stopped| *stopped).await;
    }

    async fn send(&self, command: Command) -> Result<(), P2pError> {
        self.tx_command.send(command).await.map_err(|_| P2pError::Stopped)
    }

    async fn start<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<oneshot::Receiver<T>, P2pError> {
        let (reply, rx) = oneshot::channel();
        self.send(command(reply)).await?;
        Ok(rx)
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, P2pError> {
        self.start(command).await?.await.map_err(|_| P2pError::Stopped)
    }
}
