//! The network actor: one task that owns the swarm and runs one `select!` loop over commands
//! from the handle, swarm events and a housekeeping tick.

use std::collections::{HashMap, VecDeque};

use futures::StreamExt;
use libp2p::{
    core::transport::ListenerId,
    gossipsub::{self, TopicHash},
    identify, ping, request_response,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        ConnectionId, DialError, SwarmEvent,
    },
    Multiaddr, PeerId, Swarm,
};
use tokio::{
    sync::{mpsc, mpsc::error::TrySendError, oneshot, watch},
    time::{Duration, Instant, MissedTickBehavior},
};
use tracing::{debug, info, warn, Instrument};

use crate::{
    behaviour::{build_swarm, Behaviour, BehaviourEvent},
    config::{NetworkConfig, NetworkTiming},
    dialer::{Bootstrap, DialTarget},
    error::P2pError,
    gossip::{self, GRAYLIST_THRESHOLD},
    handle::{Command, NetworkHandle},
    peers::PeerBook,
    types::{InboundRequestId, MessageId, NetworkEvent, NetworkStats, Topic, Verdict},
};

/// Capacity of the handle → actor command channel.
pub const COMMAND_CHANNEL_CAPACITY: usize = 1024;
/// Capacity of the actor → node event channel. When it is full, events wait in a byte-bounded
/// overflow queue; gossip and requests beyond that are dropped (gossip reported as Ignore).
pub const EVENT_CHANNEL_CAPACITY: usize = 256;
/// How often the actor redials, expires bans, times out identification and checks scores.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);
/// How long [`Network::spawn`] waits for its listeners to bind.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Most inbound sync requests waiting for the node's response at once.
const MAX_PENDING_INBOUND: usize = 1024;

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

struct Channels {
    rx_command: mpsc::Receiver<Command>,
    tx_event: mpsc::Sender<NetworkEvent>,
    tx_listen_addrs: watch::Sender<Vec<Multiaddr>>,
}

/// Listeners still waiting for their first address, and whom to tell when all have one.
struct Startup {
    listeners: HashMap<ListenerId, Multiaddr>,
    tx_ready: Option<oneshot::Sender<Result<(), P2pError>>>,
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

struct Actor {
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
    outbound: HashMap<request_response::OutboundRequestId, ResponseSender>,
    inbound: HashMap<InboundRequestId, PendingInbound>,
    inbound_ids: HashMap<request_response::InboundRequestId, InboundRequestId>,
    next_inbound: u64,
}

impl Actor {
    fn new(swarm: Swarm<Behaviour>, config: &NetworkConfig, channels: Channels, mut startup: Startup) -> Self {
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
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            inbound_ids: HashMap::new(),
            next_inbound: 0,
        }
    }

    async fn run(mut self, tx_stopped: watch::Sender<bool>) {
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

    // ---------------------------------------------------------------- swarm events

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        let now = Instant::now();
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event, now),
            SwarmEvent::NewListenAddr { listener_id, address } => {
                info!(%address, "listening");
                self.tx_listen_addrs.send_modify(|addrs| addrs.push(address));
                if self.startup.listeners.remove(&listener_id).is_some() && self.startup.listeners.is_empty() {
                    self.startup.finish(Ok(()));
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                info!(%address, "no longer listening");
                self.tx_listen_addrs.send_modify(|addrs| addrs.retain(|a| a != &address));
            }
            SwarmEvent::ListenerClosed { listener_id, addresses, reason } => {
                warn!(?addresses, ?reason, "listener closed");
                self.tx_listen_addrs.send_modify(|addrs| addrs.retain(|a| !addresses.contains(a)));
                if let Some(addr) = self.startup.listeners.remove(&listener_id) {
                    self.startup.finish(Err(P2pError::ListenFailed { addr }));
                }
            }
            SwarmEvent::ListenerError { error, .. } => warn!(%error, "listener error"),
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connection established");
                self.bootstrap.connected(connection_id, peer_id, now);
                let new = self.peers.connected(peer_id, now);
                if new && self.peers.len() > self.max_peers && !self.bootstrap.is_bootstrap(&peer_id, connection_id) {
                    debug!(peer = %peer_id, max_peers = self.max_peers, "peer limit reached: closing connection");
                    self.swarm.close_connection(connection_id);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, cause, .. } => {
                debug!(peer = %peer_id, ?cause, num_established, "connection closed");
                if num_established == 0 {
                    self.peer_gone(peer_id);
                    self.bootstrap.disconnected(peer_id, now);
                }
            }
            SwarmEvent::OutgoingConnectionError { connection_id, peer_id, error } => {
                let is_self = matches!(error, DialError::LocalPeerId { .. });
                if is_self {
                    info!("a bootstrap address is this node itself: not dialing it again");
                } else {
                    debug!(peer = ?peer_id, %error, "dial failed");
                }
                self.bootstrap.dial_failed(connection_id, is_self, now);
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                debug!(addr = %send_back_addr, %error, "incoming connection failed");
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent, now: Instant) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version == self.protocol_version {
                    if let Some(held) = self.peers.verify(peer_id) {
                        info!(peer = %peer_id, agent = %info.agent_version, "peer connected");
                        self.emit(NetworkEvent::PeerConnected(peer_id));
                        for event in held {
                            self.emit(event);
                        }
                    }
                } else {
                    self.refuse(peer_id, &info.protocol_version, now);
                }
            }
            BehaviourEvent::Identify(identify::Event::Error { peer_id, error, .. }) => {
                debug!(peer = %peer_id, %error, "identify failed");
            }
            BehaviourEvent::Identify(_) => {}
            BehaviourEvent::Ping(ping::Event { peer, connection, result: Err(error) }) => {
                debug!(%peer, %error, "ping failed: closing connection");
                self.swarm.close_connection(connection);
            }
            BehaviourEvent::Ping(_) => {}
            BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                self.on_gossip(propagation_source, &message_id, message, now);
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::SlowPeer { peer_id, failed_messages }) => {
                debug!(peer = %peer_id, ?failed_messages, "slow peer");
            }
            BehaviourEvent::Gossipsub(event) => debug!(?event, "gossipsub"),
            BehaviourEvent::Sync(event) => self.on_sync_event(event),
            BehaviourEvent::Blocked(never) => match never {},
            BehaviourEvent::Limits(never) => match never {},
        }
    }

    fn on_gossip(&mut self, source: PeerId, id: &gossipsub::MessageId, message: gossipsub::Message, now: Instant) {
        let message_id = MessageId::from_gossipsub(id, &message.data);
        let Some(topic) = self.topic_of(&message.topic) else {
            self.report(message_id, source, Verdict::Ignore);
            return;
        };
        if message.data.len() > self.max_message_bytes {
            warn!(peer = %source, size = message.data.len(), limit = self.max_message_bytes, "oversize gossip rejected");
            self.report(message_id, source, Verdict::Reject);
            return;
        }
        let event = NetworkEvent::Gossip { topic, source, message_id, data: message.data };
        self.deliver(source, event, now);
    }

    fn on_sync_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event, Message, OutboundFailure};
        match event {
            Event::Message { peer, message: Message::Request { request_id, request, channel }, .. } => {
                if self.inbound.len() >= MAX_PENDING_INBOUND {
                    warn!(%peer, "too many sync requests waiting for the node: dropping one");
                    return;
                }
                let id = InboundRequestId(self.next_inbound);
                self.next_inbound += 1;
                self.inbound.insert(id, PendingInbound { libp2p_id: request_id, channel });
                self.inbound_ids.insert(request_id, id);
                let event = NetworkEvent::InboundRequest { request_id: id, peer, request };
                self.deliver(peer, event, Instant::now());
            }
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                debug!(%peer, %error, "sync request failed");
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let error = match error {
                        OutboundFailure::Timeout => P2pError::RequestTimeout { peer },
                        source => P2pError::RequestFailed { peer, source },
                    };
                    let _ = reply.send(Err(error));
                }
            }
            Event::InboundFailure { peer, request_id, error, .. } => {
                debug!(%peer, %error, "inbound sync request failed");
                self.forget_inbound(request_id);
            }
            Event::ResponseSent { request_id, .. } => self.forget_inbound(request_id),
        }
    }

    fn forget_inbound(&mut self, libp2p_id: request_response::InboundRequestId) {
        if let Some(id) = self.inbound_ids.remove(&libp2p_id) {
            self.inbound.remove(&id);
        }
    }

    // ---------------------------------------------------------------- peers

    /// Passes an event from `peer` to the node, or holds it until the peer is identified.
    fn deliver(&mut self, peer: PeerId, event: NetworkEvent, _now: Instant) {
        if self.peers.is_verified(&peer) {
            self.emit(event);
        } else if let Some(event) = self.peers.hold(&peer, event) {
            debug!(%peer, "dropping a message from an unidentified peer");
            self.discard(event);
        }
    }

    /// Refuses a peer of another chain: logged, banned, never redialed.
    fn refuse(&mut self, peer: PeerId, theirs: &str, now: Instant) {
        warn!(
            %peer,
            theirs,
            ours = %self.protocol_version,
            "refusing peer: it runs a different chain or genesis (identify protocol version differs)"
        );
        self.bootstrap.abandon(peer);
        self.peer_gone(peer);
        self.ban(peer, now);
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
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }

        for target in self.bootstrap.due(now) {
            self.dial(target, now);
        }

        for peer in self.peers.unverified_since(now, self.timing.identify_timeout) {
            warn!(%peer, "peer did not identify itself in time: disconnecting");
            self.peer_gone(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }

        for peer in self.peers.verified() {
            self.enforce_score(peer, now);
        }

        let closed: Vec<InboundRequestId> =
            self.inbound.iter().filter(|(_, p)| !p.channel.is_open()).map(|(id, _)| *id).collect();
        for id in closed {
            if let Some(pending) = self.inbound.remove(&id) {
                self.inbound_ids.remove(&pending.libp2p_id);
            }
        }
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
