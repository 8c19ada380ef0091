//! LISTEN/NOTIFY wake-ups on a dedicated connection, reconnecting with backoff. A lost listener
//! only costs latency: subscribers also poll.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;

use super::PgConfig;

pub(crate) struct ListenerHandle(tokio::task::JoinHandle<()>);

impl ListenerHandle {
    pub(crate) fn stop(&self) {
        self.0.abort();
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) fn spawn_listener(config: PgConfig) -> (ListenerHandle, watch::Receiver<u64>) {
    let (tx, rx) = watch::channel(0u64);
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match listen(&config, &tx).await {
                Ok(()) => return, // every subscriber is gone
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "event listener lost its connection");
                    // Wake subscribers so they poll: events may have been missed while down.
                    tx.send_modify(|n| *n += 1);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    (ListenerHandle(task), rx)
}

async fn listen(config: &PgConfig, tx: &watch::Sender<u64>) -> Result<(), String> {
    let (client, mut connection) = config.connect().await.map_err(|e| e.to_string())?;
    let (msg_tx, mut msg_rx) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be polled for notifications to arrive; forward them.
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            let forwarded = match message {
                Ok(AsyncMessage::Notification(_)) => msg_tx.send(Ok(())),
                Ok(_) => Ok(()),
                Err(e) => msg_tx.send(Err(e.to_string())),
            };
            if forwarded.is_err() {
                return;
            }
        }
        let _ = msg_tx.send(Err("connection closed".to_owned()));
    });
    let result = async {
        client.batch_execute("LISTEN es_events").await.map_err(|e| e.to_string())?;
        // Subscribers poll once after (re)connecting, in case a wake-up was missed.
        tx.send_modify(|n| *n += 1);
        loop {
            match msg_rx.recv().await {
                Some(Ok(())) => {
                    if tx.is_closed() {
                        return Ok(());
                    }
                    tx.send_modify(|n| *n += 1);
                }
                Some(Err(e)) => return Err(e),
                None => return Err("listener stopped".to_owned()),
            }
        }
    }
    .await;
    driver.abort();
    result
}
