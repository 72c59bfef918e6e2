//! The WebSocket endpoint: every method, plus `subscribe` / `unsubscribe`.
//!
//! Each connection has a bounded outbound queue drained by a writer task. Requests are handled
//! concurrently (a few at a time per connection). Each subscription is a forwarder task that
//! reads the node's block broadcast, filters it, and `try_send`s notifications into the queue:
//! a subscriber whose queue is full, or who falls behind the broadcast, is disconnected rather
//! than allowed to slow anything down. A subscription's notifications start only after the
//! `subscribe` response is queued, so a client always learns the id first; blocks committed
//! in between are not lost (the broadcast receiver is taken at `subscribe`).

use crate::api::{BlockView, TransactionView};
use crate::dispatch::handle_body;
use crate::jsonrpc::{self, ErrorObject, Response};
use crate::server::Shared;
use crate::wire::{BlockInfo, TransactionInfo};
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tally_ledger::PublicKey;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot, Notify, Semaphore};
use tokio::task::AbortHandle;

/// Requests one connection may have in progress at once.
const IN_FLIGHT_PER_CONNECTION: usize = 16;
/// How long a closing connection may take to flush its queue.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What a subscription follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Every committed block.
    NewBlocks,
    /// Committed transfers sent or received by this key.
    Address(PublicKey),
}

/// One WebSocket connection's state shared by its request tasks.
struct Session {
    shared: Arc<Shared>,
    tx_out: mpsc::Sender<Message>,
    kick: Arc<Notify>,
    subscriptions: Mutex<HashMap<String, AbortHandle>>,
    next_id: AtomicU64,
}

impl Session {
    fn subscriptions(&self) -> MutexGuard<'_, HashMap<String, AbortHandle>> {
        match self.subscriptions.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn close(&self) {
        for (_, task) in self.subscriptions().drain() {
            task.abort();
        }
    }
}

/// The WebSocket context of one request: lets `subscribe` start forwarders, held back until the
/// request's response has been queued ([`Scope::open`]).
pub struct Scope {
    session: Arc<Session>,
    gates: Mutex<Vec<oneshot::Sender<()>>>,
}

impl Scope {
    fn new(session: Arc<Session>) -> Scope {
        Scope { session, gates: Mutex::new(Vec::new()) }
    }

    /// Starts a subscription; returns its id.
    pub(crate) fn subscribe(&self, topic: Topic) -> Result<String, ErrorObject> {
        let session = &self.session;
        let mut subscriptions = session.subscriptions();
        let limit = session.shared.config.ws_max_subscriptions;
        if subscriptions.len() >= limit {
            let detail = format!("this connection already holds {limit} subscriptions");
            return Err(ErrorObject::invalid_params("topic", &detail));
        }
        let id = format!("sub-{}", session.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let (gate_tx, gate_rx) = oneshot::channel();
        let forwarder = Forwarder {
            rx_blocks: session.shared.api.subscribe_blocks(),
            topic,
            id: id.clone(),
            tx_out: session.tx_out.clone(),
            kick: Arc::clone(&session.kick),
            shared: Arc::clone(&session.shared),
        };
        let task = tokio::spawn(forwarder.run(gate_rx));
        subscriptions.insert(id.clone(), task.abort_handle());
        match self.gates.lock() {
            Ok(mut gates) => gates.push(gate_tx),
            Err(poisoned) => poisoned.into_inner().push(gate_tx),
        }
        Ok(id)
    }

    /// Ends a subscription of this connection; false if it has none by that id.
    pub(crate) fn unsubscribe(&self, id: &str) -> bool {
        match self.session.subscriptions().remove(id) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    /// Lets this request's new subscriptions start sending.
    fn open(self) {
        let gates = match self.gates.into_inner() {
            Ok(gates) => gates,
            Err(poisoned) => poisoned.into_inner(),
        };
        for gate in gates {
            let _ = gate.send(());
        }
    }
}

#[derive(Serialize)]
struct Notification<'a, T: Serialize> {
    jsonrpc: &'static str,
    method: &'static str,
    params: NotificationParams<'a, T>,
}

#[derive(Serialize)]
struct NotificationParams<'a, T: Serialize> {
    subscription: &'a str,
    result: T,
}

fn notification<T: Serialize>(id: &str, result: T) -> Message {
    let text = jsonrpc::to_text(&Notification {
        jsonrpc: "2.0",
        method: "subscription",
        params: NotificationParams { subscription: id, result },
    });
    Message::Text(text.into())
}

struct Forwarder {
    rx_blocks: broadcast::Receiver<Arc<BlockView>>,
    topic: Topic,
    id: String,
    tx_out: mpsc::Sender<Message>,
    kick: Arc<Notify>,
    shared: Arc<Shared>,
}

impl Forwarder {
    async fn run(mut self, gate: oneshot::Receiver<()>) {
        // Closed without a send only when the request was a notification: start anyway.
        let _ = gate.await;
        loop {
            let block = match self.rx_blocks.recv().await {
                Ok(block) => block,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(subscription = %self.id, missed, "subscriber fell behind the block feed");
                    return self.drop_subscriber();
                }
                Err(RecvError::Closed) => return,
            };
            for message in self.messages(&block) {
                match self.tx_out.try_send(message) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!(subscription = %self.id, "subscriber queue full");
                        return self.drop_subscriber();
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        }
    }

    fn messages(&self, block: &BlockView) -> Vec<Message> {
        match self.topic {
            Topic::NewBlocks => vec![notification(&self.id, BlockInfo::from(block))],
            Topic::Address(key) => block
                .block
                .transfers
                .iter()
                .enumerate()
                .filter(|(_, t)| t.from == key || t.to == key)
                .map(|(index, t)| {
                    let view = TransactionView::committed(t.clone(), block.block.header.height, index as u32);
                    notification(&self.id, TransactionInfo::from(&view))
                })
                .collect(),
        }
    }

    fn drop_subscriber(&self) {
        self.shared.metrics.ws_dropped();
        self.kick.notify_one();
    }
}

/// Counts the connection in the gauge while it lives.
struct OpenConnection(Arc<Shared>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.metrics.ws_closed();
    }
}

/// Serves one upgraded connection until the client leaves, falls behind, or the server stops.
pub(crate) async fn run(socket: WebSocket, shared: Arc<Shared>, client: IpAddr) {
    shared.metrics.ws_opened();
    let _open = OpenConnection(Arc::clone(&shared));
    let (mut sink, mut stream) = socket.split();
    let (tx_out, mut rx_out) = mpsc::channel::<Message>(shared.config.ws_queue_len);
    let kick = Arc::new(Notify::new());
    let session = Arc::new(Session {
        shared: Arc::clone(&shared),
        tx_out: tx_out.clone(),
        kick: Arc::clone(&kick),
        subscriptions: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
    });
    let mut writer = tokio::spawn(async move {
        while let Some(message) = rx_out.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT_PER_CONNECTION));
    let mut shutdown = shared.shutdown.clone();
    let fell_behind = loop {
        let message = tokio::select! {
            _ = kick.notified() => break true,
            _ = shutdown.wait_for(|stop| *stop) => break false,
            message = stream.next() => message,
        };
        let body: Bytes = match message {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break false,
            Some(Ok(Message::Text(text))) => text.into(),
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(_)) => continue,
        };
        if let Err(wait) = shared.limiter.check(client) {
            shared.metrics.rate_limited();
            let error = ErrorObject::rate_limited(wait.as_millis() as u64);
            let text = jsonrpc::to_text(&Response::new(None, Err(error)));
            if tx_out.send(Message::Text(text.into())).await.is_err() {
                break false;
            }
            continue;
        }
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else { break false };
        let session = Arc::clone(&session);
        tokio::spawn(async move {
            let scope = Scope::new(Arc::clone(&session));
            if let Some(text) = handle_body(&session.shared, Some(&scope), &body).await {
                let _ = session.tx_out.send(Message::Text(text.into())).await;
            }
            scope.open();
            drop(permit);
        });
    };
    session.close();
    drop(tx_out);
    if fell_behind {
        tracing::info!(%client, "dropping a WebSocket subscriber that fell behind");
        writer.abort();
    } else if tokio::time::timeout(CLOSE_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
}
