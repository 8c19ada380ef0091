//! `/graphql/ws` around async-graphql's protocol handling, adding what it leaves to the server:
//! a connection that never sends `connection_init` is closed after `ws_init_timeout_secs` (close
//! code 4408, as graphql-transport-ws specifies), every connection gets a WebSocket ping every
//! `ws_keepalive_secs` (proxies keep it open, and a peer that is gone is noticed when the ping
//! cannot be written), and a message over `max_body_bytes` closes the socket with 1009 (message
//! too big) rather than dropping the connection without a word.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};

use crate::graphql::SwitchboardSchema;

/// graphql-transport-ws: "Connection initialisation timeout".
const INIT_TIMEOUT: u16 = 4408;
/// RFC 6455: a message too big to process.
const MESSAGE_TOO_BIG: u16 = 1009;

pub(crate) struct SocketLimits {
    pub init_timeout: Duration,
    pub keepalive: Duration,
}

/// Runs one GraphQL WebSocket connection until either side ends it.
pub(crate) async fn serve<OnInit, InitFut>(
    socket: WebSocket,
    schema: SwitchboardSchema,
    protocol: GraphQLProtocol,
    limits: SocketLimits,
    on_init: OnInit,
) where
    OnInit: FnOnce(serde_json::Value) -> InitFut + Send + 'static,
    InitFut: Future<Output = async_graphql::Result<Data>> + Send + 'static,
{
    let (mut to_socket, from_socket) = socket.split();
    // Why the server ends the connection, when it is the one to end it.
    let closing: Arc<Mutex<Option<CloseFrame>>> = Arc::default();
    let incoming = guarded(from_socket, limits.init_timeout, closing.clone());
    let (to_writer, mut outgoing) = futures::channel::mpsc::channel::<Message>(16);
    let protocol_side = GraphQLWebSocket::new_with_pair(to_writer, incoming, schema, protocol).on_connection_init(on_init).serve();
    let writer = async move {
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + limits.keepalive, limits.keepalive);
        loop {
            let message = tokio::select! {
                message = outgoing.next() => match message {
                    Some(message) => message,
                    None => break, // the protocol side is done
                },
                _ = keepalive.tick() => Message::Ping(Default::default()),
            };
            if to_socket.send(message).await.is_err() {
                return;
            }
        }
        let frame = closing.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(frame) = frame {
            let _ = to_socket.send(Message::Close(Some(frame))).await;
        }
        let _ = to_socket.close().await;
    };
    futures::join!(protocol_side, writer);
}

/// The client's messages, ending (with the reason in `closing`) when no protocol message came
/// within `init_timeout` of connecting, or when a message was too big.
fn guarded(
    from_socket: futures::stream::SplitStream<WebSocket>,
    init_timeout: Duration,
    closing: Arc<Mutex<Option<CloseFrame>>>,
) -> futures::stream::BoxStream<'static, Result<Message, axum::Error>> {
    let init_deadline = tokio::time::Instant::now() + init_timeout;
    let close = move |code: u16, reason: &str| {
        *closing.lock().unwrap_or_else(|e| e.into_inner()) = Some(CloseFrame { code, reason: reason.into() });
    };
    futures::stream::unfold((from_socket, false, close), move |(mut from_socket, initialised, close)| async move {
        let next = if initialised {
            from_socket.next().await
        } else {
            match tokio::time::timeout_at(init_deadline, from_socket.next()).await {
                Ok(next) => next,
                Err(_) => {
                    close(INIT_TIMEOUT, "Connection initialisation timeout");
                    return None;
                }
            }
        };
        match next? {
            Ok(message) => {
                let initialised = initialised || matches!(message, Message::Text(_) | Message::Binary(_));
                Some((Ok(message), (from_socket, initialised, close)))
            }
            Err(e) => {
                if is_too_big(e) {
                    close(MESSAGE_TOO_BIG, "message too big");
                }
                None
            }
        }
    })
    .boxed()
}

fn is_too_big(error: axum::Error) -> bool {
    matches!(error.into_inner().downcast::<tungstenite::Error>().map(|e| *e), Ok(tungstenite::Error::Capacity(_)))
}
