//! The actor's handling of swarm events: connections, listeners, identify, ping, gossipsub and
//! the sync protocol.

use libp2p::{
    gossipsub, identify, ping, request_response,
    swarm::{DialError, SwarmEvent},
    PeerId,
};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Actor, PendingInbound, MAX_PENDING_INBOUND};
use crate::{
    behaviour::BehaviourEvent,
    error::P2pError,
    types::{InboundRequestId, MessageId, NetworkEvent, Verdict},
};

impl Actor {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
                self.on_gossip(propagation_source, &message_id, message);
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

    fn on_gossip(&mut self, source: PeerId, id: &gossipsub::MessageId, message: gossipsub::Message) {
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
        self.deliver(source, event);
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
                self.deliver(peer, event);
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
}
