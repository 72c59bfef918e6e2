//! The network actor: one task that owns the swarm and runs one `select!` loop over commands
//! from the handle, swarm events and a housekeeping tick.

use std::collections::{HashMap, HashSet, VecDeque};

use futures::StreamExt;
use libp2p::{
    core::transport::ListenerId,
    gossipsub::{self, TopicHash},
    request_response,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        ConnectionId,
    },
    Multiaddr, PeerId, Swarm,
};
use tokio::{
    sync::{mpsc, mpsc::error::TrySendError, oneshot, watch},
    time::{Duration, Instant, MissedTickBehavior},
};
use tracing::{debug, info, warn};

use crate::{
    behaviour::Behaviour,
    config::{NetworkConfig, NetworkTiming},
    dialer::{Bootstrap, DialTarget},
    error::P2pError,
    gossip::{self, GRAYLIST_THRESHOLD},
    handle::Command,
    peers::PeerBook,
    types::{InboundRequestId, MessageId, NetworkEvent, NetworkStats, Topic, Verdict},
};

/// How often the actor redials, expires bans, times out identification and checks scores.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);
/// How long a refused peer's connection stays open for our identify answer to reach it.
const REFUSE_GRACE: Duration = Duration::from_secs(1);
/// How long shutdown waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Most inbound sync requests waiting for the node's response at once.
const MAX_PENDING_INBOUND: usize = 1024;

mod events;

/// The actor's ends of its channels.
pub(crate) struct Channels {
    pub(crate) rx_command: mpsc::Receiver<Command>,
    pub(crate) tx_event: mpsc::Sender<NetworkEvent>,
    pub(crate) tx_listen_addrs: watch::Sender<Vec<Multiaddr>>,
}

/// Listeners still waiting for their first address, and whom to tell when all have one.
pub(crate) struct Startup {
    pub(crate) listeners: HashMap<ListenerId, Multiaddr>,
    pub(crate) tx_ready: Option<oneshot::Sender<Result<(), P2pError>>>,
}

impl Startup {
    fn finish(&mut self, outcome: Result<(), P2pError>) {
        if let Some(tx) = self.tx_ready.take() {
            let _ = tx.send(outcome);
        }
    }
}

/// Where the response to one of our sync requests goes.
type ResponseSender = oneshot::Sender<Result<Vec<u8>, P2pError>>;

/// A sync request from a peer that waits for the node's response.
struct PendingInbound {
    libp2p_id: request_response::InboundRequestId,
    channel: request_response::ResponseChannel<Vec<u8>>,
}

/// The state owned by the network task.
pub(crate) struct Actor {
    swarm: Swarm<Behaviour>,
    rx_command: mpsc::Receiver<Command>,
    tx_event: mpsc::Sender<NetworkEvent>,
    tx_listen_addrs: watch::Sender<Vec<Multiaddr>>,
    startup: Startup,
    /// Events waiting for room in the event channel, in order.
    outbox: VecDeque<NetworkEvent>,
    outbox_bytes: usize,
    receiver_gone: bool,

    /// The gossipsub hashes of [`Topic::Transfers`] and [`Topic::Consensus`].
    transfers_topic: TopicHash,
    consensus_topic: TopicHash,
    protocol_version: String,
    max_message_bytes: usize,
    max_peers: usize,
    timing: NetworkTiming,

    peers: PeerBook,
    bootstrap: Bootstrap,
    bans: HashMap<PeerId, Instant>,
    /// Refused peers whose connections close at the instant (see `refuse`).
    refusing: HashMap<PeerId, Instant>,
    /// Connected peers whose gossipsub score is below the graylist threshold: gossipsub drops
    /// all they send. Tracked only to log each change, since it silences a peer.
    graylisted: HashSet<PeerId>,
    outbound: HashMap<request_response::OutboundRequestId, ResponseSender>,
    inbound: HashMap<InboundRequestId, PendingInbound>,
    inbound_ids: HashMap<request_response::InboundRequestId, InboundRequestId>,
    next_inbound: u64,
}

impl Actor {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        config: &NetworkConfig,
        channels: Channels,
        mut startup: Startup,
    ) -> Self {
        if startup.listeners.is_empty() {
            startup.finish(Ok(()));
        }
        let now = Instant::now();
        let timing = config.timing.clone();
        Actor {
            swarm,
            rx_command: channels.rx_command,
            tx_event: channels.tx_event,
            tx_listen_addrs: channels.tx_listen_addrs,
            startup,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            receiver_gone: false,
            transfers_topic: gossip::ident_topic(config, Topic::Transfers).hash(),
            consensus_topic: gossip::ident_topic(config, Topic::Consensus).hash(),
            protocol_version: config.protocol_version(),
            max_message_bytes: config.max_message_bytes,
            max_peers: usize::try_from(config.max_peers).unwrap_or(usize::MAX),
            peers: PeerBook::new(config.max_message_bytes.saturating_mul(2)),
            bootstrap: Bootstrap::new(&config.bootstrap, timing.redial_initial, timing.redial_max, now),
            timing,
            bans: HashMap::new(),
            refusing: HashMap::new(),
            graylisted: HashSet::new(),
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            inbound_ids: HashMap::new(),
            next_inbound: 0,
        }
    }

    pub(crate) async fn run(mut self, tx_stopped: watch::Sender<bool>) {
        let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // A clone, so that a reserved permit does not borrow `self` into the branch.
            let tx_event = self.tx_event.clone();
            tokio::select! {
                command = self.rx_command.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tick.tick() => self.housekeeping(Instant::now()),
                permit = tx_event.reserve(), if !self.outbox.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.outbox.pop_front() {
                            self.outbox_bytes = self.outbox_bytes.saturating_sub(event.payload_len());
                            permit.send(event);
                        }
                    }
                    Err(_) => self.receiver_gone = true,
                },
            }
            if self.receiver_gone {
                info!("event receiver dropped");
                break;
            }
        }
        self.close().await;
        let _ = tx_stopped.send(true);
    }

    /// Closes every connection (briefly waiting for them to go), then drops the swarm.
    async fn close(mut self) {
        info!("network task stopping");
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in connected {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(deadline);
        while self.swarm.connected_peers().next().is_some() {
            tokio::select! {
                _ = &mut deadline => break,
                _ = self.swarm.select_next_some() => {}
            }
        }
        drop(self.swarm);
    }

    // ---------------------------------------------------------------- commands from the handle

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::Report { message_id, source, verdict } => self.report(message_id, source, verdict),
            Command::Respond { request_id, response, reply } => {
                let _ = reply.send(self.respond(request_id, response));
            }
            Command::Request { peer, request, reply } => {
                if !self.peers.is_verified(&peer) {
                    let _ = reply.send(Err(P2pError::NotConnected { peer }));
                    return;
                }
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.outbound.insert(id, reply);
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers.verified());
            }
            Command::MeshPeers { topic, reply } => {
                let hash = self.topic_hash(topic);
                let _ = reply.send(self.swarm.behaviour().gossipsub.mesh_peers(&hash).copied().collect());
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::Stats { reply } => {
                let _ = reply.send(NetworkStats {
                    connected_peers: self.swarm.connected_peers().count(),
                    identified_peers: self.peers.verified().len(),
                    banned_peers: self.bans.len(),
                });
            }
            Command::Disconnect { peer } => {
                info!(%peer, "disconnecting peer on request");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            // Handled by the loop.
            Command::Shutdown => {}
        }
    }

    fn publish(&mut self, topic: Topic, data: Vec<u8>) -> Result<(), P2pError> {
        let size = data.len();
        if size > self.max_message_bytes {
            return Err(P2pError::MessageTooLarge { size, limit: self.max_message_bytes });
        }
        let hash = self.topic_hash(topic);
        match self.swarm.behaviour_mut().gossipsub.publish(hash, data) {
            Ok(_) => Ok(()),
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Err(P2pError::InsufficientPeers { topic }),
            Err(gossipsub::PublishError::Duplicate) => Err(P2pError::Duplicate { topic }),
            Err(gossipsub::PublishError::MessageTooLarge) => {
                Err(P2pError::MessageTooLarge { size, limit: self.max_message_bytes })
            }
            Err(gossipsub::PublishError::AllQueuesFull(peers)) => Err(P2pError::QueuesFull { topic, peers }),
            Err(source) => Err(P2pError::Publish { topic, source }),
        }
    }

    fn report(&mut self, message_id: MessageId, source: PeerId, verdict: Verdict) {
        let known = self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
            &message_id.to_gossipsub(),
            &source,
            verdict.into(),
        );
        if !known {
            debug!(%message_id, %source, ?verdict, "verdict for a message gossipsub no longer holds");
        }
        if verdict == Verdict::Reject {
            self.enforce_score(source, Instant::now());
        }
    }

    fn respond(&mut self, request_id: InboundRequestId, response: Vec<u8>) -> Result<(), P2pError> {
        if response.len() > self.max_message_bytes {
            return Err(P2pError::MessageTooLarge { size: response.len(), limit: self.max_message_bytes });
        }
        let pending = self.inbound.remove(&request_id).ok_or(P2pError::UnknownRequest { request_id })?;
        self.inbound_ids.remove(&pending.libp2p_id);
        self.swarm
            .behaviour_mut()
            .sync
            .send_response(pending.channel, response)
            .map_err(|_| P2pError::UnknownRequest { request_id })
    }

    // ---------------------------------------------------------------- peers (swarm events: `events`)

    /// Passes an event from `peer` to the node, or holds it until the peer is identified.
    fn deliver(&mut self, peer: PeerId, event: NetworkEvent) {
        if self.peers.is_verified(&peer) {
            self.emit(event);
        } else if let Some(event) = self.peers.hold(&peer, event) {
            debug!(%peer, "dropping a message from an unidentified peer");
            self.discard(event);
        }
    }

    /// Refuses a peer of another chain: logged, banned, never redialed.
    fn refuse(&mut self, peer: PeerId, theirs: &str, now: Instant) {
        if self.bans.contains_key(&peer) {
            return;
        }
        warn!(
            %peer,
            theirs,
            ours = %self.protocol_version,
            "refusing peer: it runs a different chain or genesis (identify protocol version differs)"
        );
        self.bootstrap.abandon(peer);
        // From now on nothing it sends reaches the node (it is no longer in the peer book).
        self.peer_gone(peer);
        self.bans.insert(peer, now + self.timing.ban_duration);
        // Its connection stays open briefly so that our identify answer reaches it and it
        // refuses us too, instead of redialing a peer that will never take it.
        self.refusing.insert(peer, now + REFUSE_GRACE);
    }

    /// Closes the connections of a refused peer once its grace is over. (Identify's `Sent` is too
    /// early a signal: closing right after it can still lose the answer in flight.)
    fn finish_refusal(&mut self, peer: PeerId) {
        if self.refusing.remove(&peer).is_some() {
            self.swarm.behaviour_mut().blocked.block_peer(peer);
        }
    }

    /// Bans a graylisted peer (its score fell below the graylist threshold).
    fn enforce_score(&mut self, peer: PeerId, now: Instant) {
        if self.bans.contains_key(&peer) {
            return;
        }
        let Some(score) = self.swarm.behaviour().gossipsub.peer_score(&peer) else {
            return;
        };
        if score < GRAYLIST_THRESHOLD {
            warn!(%peer, score, ban_secs = self.timing.ban_duration.as_secs(), "peer graylisted for invalid messages: disconnecting and banning it");
            self.ban(peer, now);
        }
    }

    fn ban(&mut self, peer: PeerId, now: Instant) {
        self.bans.insert(peer, now + self.timing.ban_duration);
        // Closes its connections now and refuses new ones until the ban expires.
        self.swarm.behaviour_mut().blocked.block_peer(peer);
    }

    /// Forgets `peer`: tells the node if it knew it, disposes of what it had sent meanwhile.
    fn peer_gone(&mut self, peer: PeerId) {
        let departed = self.peers.remove(&peer);
        for event in departed.held {
            self.discard(event);
        }
        if departed.was_verified {
            info!(%peer, "peer disconnected");
            self.emit(NetworkEvent::PeerDisconnected(peer));
        }
    }

    // ---------------------------------------------------------------- housekeeping

    fn housekeeping(&mut self, now: Instant) {
        let expired: Vec<PeerId> = self.bans.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
        for peer in expired {
            debug!(%peer, "ban expired");
            self.bans.remove(&peer);
            self.refusing.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }

        let refused: Vec<PeerId> = self.refusing.iter().filter(|(_, at)| **at <= now).map(|(p, _)| *p).collect();
        for peer in refused {
            self.finish_refusal(peer);
        }

        for target in self.bootstrap.due(now) {
            self.dial(target, now);
        }

        for peer in self.peers.unverified_since(now, self.timing.identify_timeout) {
            warn!(%peer, "peer did not identify itself in time: disconnecting");
            self.peer_gone(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }

        // Bans follow only from the node's own Reject verdicts (see `report`): gossipsub's score
        // also moves for benign reasons at start-up, which banned honest validators.
        self.watch_graylist();

        let closed: Vec<InboundRequestId> =
            self.inbound.iter().filter(|(_, p)| !p.channel.is_open()).map(|(id, _)| *id).collect();
        for id in closed {
            if let Some(pending) = self.inbound.remove(&id) {
                self.inbound_ids.remove(&pending.libp2p_id);
            }
        }
    }

    /// Logs each peer that gossipsub starts or stops ignoring (score below the graylist
    /// threshold) while it stays connected, so that a silenced peer never goes unnoticed.
    fn watch_graylist(&mut self) {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        for peer in self.peers.verified() {
            let Some(score) = gossipsub.peer_score(&peer) else { continue };
            if score < GRAYLIST_THRESHOLD {
                if self.graylisted.insert(peer) {
                    warn!(%peer, score, "gossipsub graylisted a connected peer: everything it sends is dropped until its score recovers");
                }
            } else if self.graylisted.remove(&peer) {
                info!(%peer, score, "gossipsub hears a graylisted peer again");
            }
        }
        let peers = &self.peers;
        self.graylisted.retain(|peer| peers.is_verified(peer));
    }

    fn dial(&mut self, target: DialTarget, now: Instant) {
        let opts = match target.peer {
            Some(peer) if self.bans.contains_key(&peer) => {
                self.bootstrap.postpone(target.index, now);
                return;
            }
            Some(peer) if self.swarm.is_connected(&peer) => {
                self.bootstrap.already_connected(target.index, now);
                return;
            }
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![target.addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build(),
            None => DialOpts::unknown_peer_id().address(target.addr.clone()).build(),
        };
        let id: ConnectionId = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                debug!(addr = %target.addr, "dialing bootstrap peer");
                self.bootstrap.dialing(target.index, id);
            }
            Err(error) => {
                debug!(addr = %target.addr, %error, "cannot dial bootstrap peer now");
                self.bootstrap.postpone(target.index, now);
            }
        }
    }

    // ---------------------------------------------------------------- events to the node

    /// Sends an event to the node, in order. When the channel is full, events queue in the
    /// outbox; gossip and requests beyond its byte budget are dropped (connection events never).
    fn emit(&mut self, event: NetworkEvent) {
        let event = if self.outbox.is_empty() {
            match self.tx_event.try_send(event) {
                Ok(()) => return,
                Err(TrySendError::Closed(_)) => {
                    self.receiver_gone = true;
                    return;
                }
                Err(TrySendError::Full(event)) => event,
            }
        } else {
            event
        };
        let len = event.payload_len();
        if len > 0 && self.outbox_bytes.saturating_add(len) > self.outbox_budget() {
            warn!("the node is not keeping up with network events: dropping one");
            self.discard(event);
            return;
        }
        self.outbox_bytes += len;
        self.outbox.push_back(event);
    }

    fn outbox_budget(&self) -> usize {
        self.max_message_bytes.saturating_mul(4)
    }

    /// Disposes of an event the node will never see: gossip is reported Ignore (no penalty, not
    /// forwarded); a request's response channel is dropped (the peer gets an error).
    fn discard(&mut self, event: NetworkEvent) {
        match event {
            NetworkEvent::Gossip { message_id, source, .. } => {
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id.to_gossipsub(),
                    &source,
                    gossipsub::MessageAcceptance::Ignore,
                );
            }
            NetworkEvent::InboundRequest { request_id, .. } => {
                if let Some(pending) = self.inbound.remove(&request_id) {
                    self.inbound_ids.remove(&pending.libp2p_id);
                }
            }
            NetworkEvent::PeerConnected(_) | NetworkEvent::PeerDisconnected(_) => {}
        }
    }

    fn topic_hash(&self, topic: Topic) -> TopicHash {
        match topic {
            Topic::Transfers => self.transfers_topic.clone(),
            Topic::Consensus => self.consensus_topic.clone(),
        }
    }

    fn topic_of(&self, hash: &TopicHash) -> Option<Topic> {
        if *hash == self.transfers_topic {
            Some(Topic::Transfers)
        } else if *hash == self.consensus_topic {
            Some(Topic::Consensus)
        } else {
            None
        }
    }
}
