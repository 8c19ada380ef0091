//! The command executor on real aggregates and a real store: decisions under contention,
//! refusals, and idempotency keys.

use std::collections::BTreeSet;

use domain::aggregates::quotes::{QuoteBook, QuoteCommand, QuoteError};
use domain::values::{Level, QuoteText};
use domain::{Actor, Event, Gateway, Metadata, StreamName};
use store::testing::TestDatabase;
use store::{CommandExecutor, EventStore, ExecuteError};
use uuid::Uuid;

fn add(text: &str) -> QuoteCommand {
    QuoteCommand::Add { nick: "alice".parse().unwrap(), text: QuoteText::parse(text).unwrap(), caller_level: Level::Member }
}

fn meta() -> Metadata {
    Metadata::new(Actor::User(Uuid::now_v7()), Gateway::Irc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_on_one_stream_all_land_with_sequential_ids() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let mut tasks = Vec::new();
    for n in 0..8 {
        let executor = executor.clone();
        tasks.push(tokio::spawn(async move {
            executor.execute::<QuoteBook>(&StreamName::quotes(), &add(&format!("quote number {n}")), meta()).await
        }));
    }
    let mut ids = BTreeSet::new();
    for t in tasks {
        let executed = t.await.unwrap().expect("every add succeeds after retrying its conflicts");
        for event in executed.events {
            let Event::QuoteAdded(q) = event else { panic!("unexpected event {event:?}") };
            ids.insert(q.quote_id);
        }
    }
    assert_eq!(ids, (1..=8).collect(), "ids are sequential and never handed out twice");
    assert_eq!(executor.store().stream_version(&StreamName::quotes()).await.unwrap(), Some(7));
}

#[tokio::test]
async fn a_refused_command_writes_nothing_and_says_why() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let first = executor.execute::<QuoteBook>(&StreamName::quotes(), &add("To be or not to be"), meta()).await.unwrap();
    assert!(first.position() > store::Position::START);
    match executor.execute::<QuoteBook>(&StreamName::quotes(), &add("  to BE or not   to be "), meta()).await {
        Err(ExecuteError::Rejected(QuoteError::Duplicate { existing: 1, .. })) => {}
        other => panic!("expected a duplicate refusal, got {other:?}"),
    }
    assert_eq!(executor.store().stream_version(&StreamName::quotes()).await.unwrap(), Some(0));
}

#[tokio::test]
async fn the_same_request_executed_twice_with_an_idempotency_key_is_stored_once() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let key = Uuid::now_v7();
    let first = executor.execute_idempotent::<QuoteBook>(&StreamName::quotes(), &add("once only"), meta(), key).await.unwrap();
    // Another quote lands in between; then the first request is retried (a webhook re-sent).
    executor.execute::<QuoteBook>(&StreamName::quotes(), &add("something else"), meta()).await.unwrap();
    let again =
        executor.execute_idempotent::<QuoteBook>(&StreamName::quotes(), &add("a different text, same request"), meta(), key).await.unwrap();
    assert!(again.events.is_empty(), "a repeated request decides nothing");
    assert_eq!(again.position(), first.position(), "and answers with the first execution's position");
    assert_eq!(executor.store().stream_version(&StreamName::quotes()).await.unwrap(), Some(1));
}
