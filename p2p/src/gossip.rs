//! Gossipsub configuration and peer-scoring parameters, chosen for a small validator network
//! (2 to a few dozen peers) that wants low latency and must never forward unvalidated bytes.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use libp2p::gossipsub::{
    self, score_parameter_decay, ConfigBuilder, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode,
};

use crate::{config::NetworkConfig, error::P2pError, types::MessageId, types::Topic};

/// How long the node has to [`report`](crate::NetworkHandle::report) a verdict on a gossip
/// message before gossipsub forgets it (it is then neither forwarded nor held against anyone).
pub const VALIDATION_WINDOW: Duration = Duration::from_secs(8);

/// Room for gossipsub's protobuf envelope around a message's data.
const RPC_ENVELOPE_BYTES: usize = 4 * 1024;

/// Mesh degree: with up to ~10 peers this meshes (almost) everyone, i.e. near-flooding, which is
/// what a small validator set wants for latency; larger networks still get a bounded mesh.
const MESH_N: usize = 8;
const MESH_N_LOW: usize = 4;
const MESH_N_HIGH: usize = 12;
const MESH_OUTBOUND_MIN: usize = 2;

/// Below this score a peer is not sent gossip (IHAVE) any more.
pub(crate) const GOSSIP_THRESHOLD: f64 = -10.0;
/// Below this score a peer is not published to.
pub(crate) const PUBLISH_THRESHOLD: f64 = -50.0;
/// Below this score gossipsub ignores the peer entirely, and the actor disconnects and bans it.
pub(crate) const GRAYLIST_THRESHOLD: f64 = -80.0;

/// Penalty weight per squared invalid message on a topic: one Reject costs 15, two 60, three 135,
/// so a third invalid message in a short time graylists a peer even with the most positive
/// score it can earn ([`TOPIC_SCORE_CAP`]).
const INVALID_MESSAGE_WEIGHT: f64 = -15.0;
/// The positive part of a score (mesh time, first deliveries) is capped here.
const TOPIC_SCORE_CAP: f64 = 20.0;

/// Builds the gossipsub behaviour with scoring, subscribed to both topics of the chain.
pub(crate) fn behaviour(config: &NetworkConfig) -> Result<gossipsub::Behaviour, P2pError> {
    let setup = |reason: String| P2pError::Setup { component: "gossipsub", reason };
    let heartbeat = config.timing.heartbeat_interval;
    let history_length = windows(VALIDATION_WINDOW, heartbeat).max(5);

    let gossip_config = ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|message: &gossipsub::Message| MessageId::of(&message.data).to_gossipsub())
        .max_transmit_size(config.max_message_bytes.saturating_add(RPC_ENVELOPE_BYTES))
        .heartbeat_interval(heartbeat)
        .heartbeat_initial_delay(heartbeat)
        .history_length(history_length)
        .history_gossip(3)
        .mesh_n(MESH_N)
        .mesh_n_low(MESH_N_LOW)
        .mesh_n_high(MESH_N_HIGH)
        .mesh_outbound_min(MESH_OUTBOUND_MIN)
        .flood_publish(true)
        .duplicate_cache_time(Duration::from_secs(120))
        // Our own message relayed back to us is a plain duplicate, never an offence. Without an
        // author field (anonymous mode) gossipsub recognises its own messages by id alone, and
        // it punishes whoever relays one back as a forger. An honest peer does that whenever a
        // relay outruns our direct send (a busy peer, a paused one): three such echoes graylisted
        // honest validators, and gossipsub then silently dropped everything they sent — a
        // partition of tens of seconds between connected validators. The echo still lands in the
        // duplicate cache, filled when we publish, so it is dropped without reaching the node.
        .allow_self_origin(true)
        // A validator that crashes and restarts at once re-GRAFTs under the same peer id: keep
        // the PRUNE backoff short so it is not counted as misbehaving for a minute.
        .prune_backoff(Duration::from_secs(2))
        .build()
        .map_err(|e| setup(e.to_string()))?;

    let mut gossipsub =
        gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config).map_err(|e| setup(e.to_string()))?;
    gossipsub.with_peer_score(score_params(config), thresholds()).map_err(setup)?;
    for topic in Topic::ALL {
        gossipsub.subscribe(&ident_topic(config, topic)).map_err(|e| setup(e.to_string()))?;
    }
    Ok(gossipsub)
}

/// The gossipsub topic for one of the chain's topics.
pub(crate) fn ident_topic(config: &NetworkConfig, topic: Topic) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(topic.name(&config.chain_id))
}

/// How many heartbeats cover `span`, rounded up.
fn windows(span: Duration, heartbeat: Duration) -> usize {
    let heartbeat_ms = heartbeat.as_millis().max(1);
    usize::try_from(span.as_millis().div_ceil(heartbeat_ms)).unwrap_or(usize::MAX)
}

fn thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: GOSSIP_THRESHOLD,
        publish_threshold: PUBLISH_THRESHOLD,
        graylist_threshold: GRAYLIST_THRESHOLD,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

/// Scoring that only punishes what the node says is invalid (P4) and protocol misbehaviour (P7).
///
/// Delivery-rate penalties (P3, P3b) are off: a quiet chain sends few messages, and an honest
/// peer must not lose score for that. Ignore never costs anything (gossipsub records it as
/// ignored, not invalid).
fn score_params(config: &NetworkConfig) -> PeerScoreParams {
    let mut params = PeerScoreParams {
        topic_score_cap: TOPIC_SCORE_CAP,
        app_specific_weight: 0.0,
        // Several honest nodes on one host (a devnet, the tests) share loopback: no penalty there.
        ip_colocation_factor_weight: -5.0,
        ip_colocation_factor_threshold: 10.0,
        ip_colocation_factor_whitelist: [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]
            .into_iter()
            .collect(),
        // Broken IWANT promises and GRAFTs during backoff are not scored: on a small validator
        // network they come from benign events (simultaneous dials at start-up, a validator
        // restarting under the same peer id, messages held while the node validates them), and
        // scoring them graylisted honest validators in tests. Only what the node itself rejects
        // (P4 above) lowers a peer's score.
        behaviour_penalty_weight: 0.0,
        behaviour_penalty_threshold: 0.0,
        behaviour_penalty_decay: score_parameter_decay(Duration::from_secs(10)),
        decay_interval: Duration::from_secs(1),
        decay_to_zero: 0.01,
        retain_score: Duration::from_secs(3600),
        ..PeerScoreParams::default()
    };
    for topic in Topic::ALL {
        params.topics.insert(ident_topic(config, topic).hash(), topic_params());
    }
    params
}

fn topic_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        // P1: a little credit for staying in the mesh (at most 1 point after 100 s).
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        // P2: credit for being first with a valid message.
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: score_parameter_decay(Duration::from_secs(600)),
        first_message_deliveries_cap: 10.0,
        // P3, P3b: off (see `score_params`).
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: invalid messages, squared; the count decays to 10 % in 10 minutes.
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: score_parameter_decay(Duration::from_secs(600)),
        ..TopicScoreParams::default()
    }
}

#[cfg(test)]
mod tests {
    use libp2p::identity::Keypair;

    use super::*;

    #[test]
    fn parameters_are_accepted_by_gossipsub() {
        let config = NetworkConfig::new(Keypair::generate_ed25519(), "tally-devnet", [1; 32]);
        assert!(behaviour(&config).is_ok());
        assert!(score_params(&config).validate().is_ok());
        assert!(thresholds().validate().is_ok());
        assert!(topic_params().validate().is_ok());
    }

    #[test]
    fn third_rejection_graylists_even_a_well_scored_peer() {
        let w = INVALID_MESSAGE_WEIGHT;
        assert!(TOPIC_SCORE_CAP + 2.0 * 2.0 * w > GRAYLIST_THRESHOLD, "two rejections are tolerated");
        assert!(TOPIC_SCORE_CAP + 3.0 * 3.0 * w < GRAYLIST_THRESHOLD, "three are not");
    }

    #[test]
    fn validation_window_spans_enough_heartbeats() {
        assert_eq!(windows(VALIDATION_WINDOW, Duration::from_millis(300)), 27);
        assert_eq!(windows(Duration::from_secs(1), Duration::from_secs(3)), 1);
    }
}
