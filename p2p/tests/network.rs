//! Scenarios on real loopback networks of 2 to 4 nodes.

mod harness;

use std::time::Duration;

use harness::{bounded, config, config_with, line, payload, Node, GENESIS};
use tally_p2p::{Keypair, MessageId, NetworkEvent, P2pError, Topic, Verdict, MAX_REQUEST_BYTES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_crosses_a_line_only_after_the_middle_accepts() {
    let mut nodes = line(3).await;
    let (a, b) = (nodes[0].peer_id(), nodes[1].peer_id());
    for topic in Topic::ALL {
        let data = payload(&format!("line-{topic}"), 0);
        nodes[0].handle.publish(topic, data.clone()).await.unwrap();

        let at_b = nodes[1].next_gossip().await;
        assert_eq!((at_b.topic, at_b.source, &at_b.data), (topic, a, &data));
        assert_eq!(at_b.message_id, MessageId::of(&data), "message id is SHA-256 of the data");
        // B has not answered: nothing may have reached C.
        tokio::time::sleep(Duration::from_millis(300)).await;
        nodes[2].assert_no_gossip_queued();

        nodes[1].report(&at_b, Verdict::Accept).await;
        let at_c = nodes[2].next_gossip().await;
        assert_eq!((at_c.topic, at_c.source, &at_c.data), (topic, b, &data));
        nodes[2].report(&at_c, Verdict::Accept).await;
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_is_not_forwarded() {
    let mut nodes = line(3).await;
    let topic = Topic::Transfers;
    let bad = payload("bad", 0);
    let good = payload("good", 0);

    nodes[0].handle.publish(topic, bad.clone()).await.unwrap();
    let at_b = nodes[1].next_gossip().await;
    assert_eq!(at_b.data, bad);
    nodes[1].report(&at_b, Verdict::Reject).await;

    nodes[0].handle.publish(topic, good.clone()).await.unwrap();
    let at_b = nodes[1].next_gossip().await;
    assert_eq!(at_b.data, good);
    nodes[1].report(&at_b, Verdict::Accept).await;

    // Had the rejected message been forwarded, C would have seen it first.
    let at_c = nodes[2].next_gossip().await;
    assert_eq!(at_c.data, good, "C's first message is the accepted one");
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_megabyte_proposal_propagates() {
    let mut nodes = line(3).await;
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    nodes[0].handle.publish(Topic::Consensus, big.clone()).await.unwrap();
    let at_b = nodes[1].next_gossip().await;
    assert_eq!(at_b.topic, Topic::Consensus);
    assert!(at_b.data == big, "B got the 3 MB message intact");
    nodes[1].report(&at_b, Verdict::Accept).await;
    let at_c = nodes[2].next_gossip().await;
    assert!(at_c.data == big, "C got it through B");

    // Over the limit is refused before anything is sent.
    let limit = tally_p2p::max_message_bytes_for(4 * 1024 * 1024);
    let err = nodes[0].handle.publish(Topic::Consensus, vec![0; limit + 1]).await.unwrap_err();
    assert!(matches!(err, P2pError::MessageTooLarge { .. }), "{err:?}");
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_deliver_every_message_to_every_node() {
    let mut nodes: Vec<Node> = Vec::new();
    for _ in 0..4 {
        let peers: Vec<&Node> = nodes.iter().collect();
        let node = Node::start_with_peers(&peers).await;
        nodes.push(node);
    }
    let ids: Vec<_> = nodes.iter().map(Node::peer_id).collect();
    for (i, node) in nodes.iter_mut().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                node.wait_connected(*id).await;
            }
        }
    }
    for node in &nodes {
        for (j, id) in ids.iter().enumerate() {
            if *id != node.peer_id() {
                for topic in Topic::ALL {
                    node.wait_mesh(topic, ids[j]).await;
                }
            }
        }
    }
    let mut expected = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for topic in Topic::ALL {
            let data = payload(&format!("from-{i}-{topic}"), i);
            node.handle.publish(topic, data.clone()).await.unwrap();
            expected.push((i, topic, data));
        }
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        let mut want: Vec<_> =
            expected.iter().filter(|(from, ..)| *from != i).map(|(_, t, d)| (*t, d.clone())).collect();
        while !want.is_empty() {
            let got = node.next_gossip().await;
            node.report(&got, Verdict::Accept).await;
            if let Some(pos) = want.iter().position(|(t, d)| *t == got.topic && *d == got.data) {
                want.remove(pos);
            }
        }
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_another_genesis_is_refused() {
    let mut theirs = Node::start(config_with(Keypair::generate_ed25519(), [0x22; 32])).await;
    let mut ours_config = config();
    ours_config.bootstrap = vec![theirs.addr()];

    // The stranger publishes as fast as it can, before and while any connection lasts.
    let spammer = theirs.handle.clone();
    let spam = tokio::spawn(async move {
        for i in 0..100 {
            let _ = spammer.publish(Topic::Transfers, payload("stranger", i)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let mut ours = Node::start(ours_config).await;

    // We dial it, see the other genesis in identify, ban it and close the connection.
    ours.wait_stats("refused", |s| s.banned_peers == 1 && s.connected_peers == 0).await;
    bounded("spam ends", spam).await.unwrap();
    // A redial would come within the first backoff (500 ms): there is none.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats = ours.handle.stats().await.unwrap();
    assert_eq!((stats.connected_peers, stats.identified_peers, stats.banned_peers), (0, 0, 1));
    assert!(ours.handle.peers().await.unwrap().is_empty());

    // It never was a peer on either side, and nothing it sent got through.
    for node in [&mut ours, &mut theirs] {
        if let Ok(event) = node.events.try_recv() {
            panic!("no event expected, got {event:?}");
        }
    }
    ours.stop().await;
    theirs.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_request_round_trip_and_oversize_refusals() {
    let mut small = config();
    small.max_message_bytes = 1024 * 1024;
    let mut a = Node::start(small).await;
    let mut big = config();
    big.max_message_bytes = 2 * 1024 * 1024;
    big.bootstrap = vec![a.addr()];
    let mut b = Node::start(big).await;
    a.wait_connected(b.peer_id()).await;
    b.wait_connected(a.peer_id()).await;

    // Round trip.
    let handle = a.handle.clone();
    let peer = b.peer_id();
    let ask = tokio::spawn(async move { handle.request(peer, b"blocks 1..10".to_vec()).await });
    let (id, from, request) = b
        .wait_for("request", |e| match e {
            NetworkEvent::InboundRequest { request_id, peer, request } => Some((request_id, peer, request)),
            _ => None,
        })
        .await;
    assert_eq!((from, request.as_slice()), (a.peer_id(), &b"blocks 1..10"[..]));
    b.handle.respond(id, b"here they are".to_vec()).await.unwrap();
    assert_eq!(bounded("response", ask).await.unwrap().unwrap(), b"here they are");
    let again = b.handle.respond(id, b"twice".to_vec()).await.unwrap_err();
    assert!(matches!(again, P2pError::UnknownRequest { .. }), "{again:?}");

    // A response over the responder's own limit is refused locally.
    let handle = a.handle.clone();
    let ask = tokio::spawn(async move { handle.request(peer, b"more".to_vec()).await });
    let id = b.wait_for("request", |e| match e {
        NetworkEvent::InboundRequest { request_id, .. } => Some(request_id),
        _ => None,
    });
    let id = id.await;
    let err = b.handle.respond(id, vec![0; 2 * 1024 * 1024 + 1]).await.unwrap_err();
    assert!(matches!(err, P2pError::MessageTooLarge { .. }), "{err:?}");
    // A response within B's limit but over A's is refused by A's codec: an error, not a buffer.
    b.handle.respond(id, vec![7; 1024 * 1024 + 1]).await.unwrap();
    let err = bounded("oversize response", ask).await.unwrap().unwrap_err();
    assert!(matches!(err, P2pError::RequestFailed { .. }), "{err:?}");

    // Oversize requests never leave, and unknown peers are an error.
    let err = a.handle.request(peer, vec![0; MAX_REQUEST_BYTES + 1]).await.unwrap_err();
    assert!(matches!(err, P2pError::MessageTooLarge { .. }), "{err:?}");
    let stranger = Keypair::generate_ed25519().public().to_peer_id();
    let err = a.handle.request(stranger, b"hi".to_vec()).await.unwrap_err();
    assert!(matches!(err, P2pError::NotConnected { .. }), "{err:?}");

    // The connection survived all of it.
    assert_eq!(a.handle.peers().await.unwrap(), vec![b.peer_id()]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_peer_is_redialed_after_it_restarts() {
    let b_key = Keypair::generate_ed25519();
    let b = Node::start(config_with(b_key.clone(), GENESIS)).await;
    let b_addr = b.addr();
    let b_id = b.peer_id();
    let mut a_config = config();
    a_config.bootstrap = vec![b_addr.clone()];
    let mut a = Node::start(a_config).await;
    a.wait_connected(b_id).await;

    b.stop().await;
    a.wait_disconnected(b_id).await;

    // Same identity, same port.
    let mut b_config = config_with(b_key, GENESIS);
    b_config.listen = vec![b_addr.iter().filter(|p| !matches!(p, tally_p2p::Protocol::P2p(_))).collect()];
    let mut b = Node::start(b_config).await;
    a.wait_connected(b_id).await;
    b.wait_connected(a.peer_id()).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_never_penalises_but_a_persistent_offender_is_cut_off() {
    let mut nodes = line(2).await;
    let (a, b) = (nodes[0].peer_id(), nodes[1].peer_id());

    // Stale messages, ignored: no penalty at all.
    for i in 0..10 {
        nodes[0].handle.publish(Topic::Transfers, payload("stale", i)).await.unwrap();
        let got = nodes[1].next_gossip().await;
        nodes[1].report(&got, Verdict::Ignore).await;
    }
    let score = nodes[1].handle.peer_score(a).await.unwrap().unwrap();
    assert!(score >= 0.0, "ignored messages cost nothing, score {score}");
    assert_eq!(nodes[1].handle.peers().await.unwrap(), vec![a]);

    // Invalid messages, rejected: the third one gets the sender graylisted and cut off.
    for i in 0..3 {
        nodes[0].handle.publish(Topic::Transfers, payload("invalid", i)).await.unwrap();
        let got = nodes[1].next_gossip().await;
        nodes[1].report(&got, Verdict::Reject).await;
    }
    nodes[1].wait_disconnected(a).await;
    nodes[0].wait_disconnected(b).await;
    nodes[1].wait_stats("banned", |s| s.banned_peers == 1).await;

    // Its later messages are not delivered: it has no one left to send them to.
    let later = nodes[0].handle.publish(Topic::Transfers, payload("later", 0)).await;
    assert!(matches!(later, Err(P2pError::InsufficientPeers { topic: Topic::Transfers })), "{later:?}");
    nodes[1].assert_no_gossip_queued();
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_messages_relayed_back_cost_the_relay_nothing() {
    // X publishes to Z before Y is around; then Y, which never saw those messages, sends the
    // very same bytes to X, as an honest relay does when it outruns X's direct send.
    let mut nodes = line(2).await;
    let echoes: Vec<Vec<u8>> = (0..5).map(|i| payload("echo", i)).collect();
    for data in &echoes {
        nodes[0].handle.publish(Topic::Consensus, data.clone()).await.unwrap();
        let at_z = nodes[1].next_gossip().await;
        nodes[1].report(&at_z, Verdict::Ignore).await;
    }
    let mut y = Node::start_with_peers(&[&nodes[0]]).await;
    let (x, y_id) = (nodes[0].peer_id(), y.peer_id());
    y.wait_connected(x).await;
    nodes[0].wait_connected(y_id).await;
    y.wait_mesh(Topic::Consensus, x).await;
    for data in &echoes {
        y.handle.publish(Topic::Consensus, data.clone()).await.unwrap();
    }

    // The echoes are duplicates to X: not delivered, not punished, and Y is still heard.
    let fresh = payload("fresh", 0);
    y.handle.publish(Topic::Consensus, fresh.clone()).await.unwrap();
    let got = nodes[0].next_gossip().await;
    assert_eq!(got.data, fresh, "the echoes never reach the node; Y's next message does");
    nodes[0].report(&got, Verdict::Accept).await;
    let score = nodes[0].handle.peer_score(y_id).await.unwrap().unwrap();
    assert!(score >= 0.0, "relaying our own message back is no offence, score {score}");
    y.stop().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_alone_is_a_harmless_typed_error() {
    let node = Node::start(config()).await;
    let err = node.handle.publish(Topic::Consensus, b"vote".to_vec()).await.unwrap_err();
    assert!(matches!(err, P2pError::InsufficientPeers { topic: Topic::Consensus }), "{err:?}");
    // The task is unharmed.
    assert!(node.handle.peers().await.unwrap().is_empty());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_stops_the_task() {
    let Node { handle, mut events, .. } = Node::start(config()).await;
    let addr = handle.listen_addrs()[0].clone();
    assert!(addr.to_string().starts_with("/ip4/127.0.0.1/tcp/"), "{addr}");
    assert!(!addr.to_string().ends_with("/tcp/0"), "the real port is reported");
    drop(handle);
    assert!(bounded("event stream ends", events.recv()).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_refused_with_the_field_named() {
    let mut bad = config();
    bad.chain_id = "Not Valid".into();
    let err = tally_p2p::Network::spawn(bad).await.unwrap_err();
    assert!(err.to_string().contains("chain_id"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_set_is_bounded_but_bootstrap_peers_always_get_in() {
    let mut hub_config = config();
    hub_config.max_peers = 1;
    let mut hub = Node::start(hub_config).await;
    let mut first = Node::start_with_peers(&[&hub]).await;
    hub.wait_connected(first.peer_id()).await;
    first.wait_connected(hub.peer_id()).await;

    // A second stranger is turned away: the hub is full.
    let second = Node::start_with_peers(&[&hub]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hub.handle.peers().await.unwrap(), vec![first.peer_id()]);
    assert!(second.handle.peers().await.unwrap().is_empty());

    // A peer the hub itself bootstraps from is let in even when the hub is full.
    let seed_key = Keypair::generate_ed25519();
    let seed = Node::start(config_with(seed_key.clone(), GENESIS)).await;
    let (seed_addr, seed_id) = (seed.addr(), seed.peer_id());
    seed.stop().await;
    let mut hub_config = config();
    hub_config.max_peers = 1;
    hub_config.bootstrap = vec![seed_addr.clone()];
    let mut hub2 = Node::start(hub_config).await;
    let mut other = Node::start_with_peers(&[&hub2]).await;
    hub2.wait_connected(other.peer_id()).await;
    other.wait_connected(hub2.peer_id()).await;
    let mut seed_config = config_with(seed_key, GENESIS);
    seed_config.listen = vec![seed_addr.iter().filter(|p| !matches!(p, tally_p2p::Protocol::P2p(_))).collect()];
    let mut seed = Node::start(seed_config).await;
    hub2.wait_connected(seed_id).await;
    seed.wait_connected(hub2.peer_id()).await;
    assert_eq!(hub2.handle.peers().await.unwrap().len(), 2);
    for node in [hub, first, second, seed, hub2, other] {
        node.stop().await;
    }
}
