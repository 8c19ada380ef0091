//! The backend-neutral conformance suite, run against the KurrentDB backend: against the test
//! kit's KurrentDB stand-in (an in-process server on KurrentDB's gRPC protocol, not KurrentDB),
//! or against a real KurrentDB when `SWITCHBOARD_TEST_KURRENTDB_URL` holds its connection string.
//! PostgreSQL (the event-id index and checkpoints) is a fresh test database either way.

use store::{KurrentEventStore, KurrentOptions};
use testkit::TestDatabase;
use testkit::kurrentdb::KurrentStandIn;

/// Keeps the test's database and stand-in alive while the store uses them.
struct Servers {
    _database: TestDatabase,
    _stand_in: Option<KurrentStandIn>,
}

async fn fresh_store() -> (Servers, KurrentEventStore) {
    let database = TestDatabase::create().await;
    let pool = database.store().await.pool().clone();
    let (stand_in, url) = match std::env::var("SWITCHBOARD_TEST_KURRENTDB_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let stand_in = KurrentStandIn::start().await;
            // Without the client's 500 ms wait before its first connection.
            let url = format!("{}&discoveryInterval=10", stand_in.url());
            (Some(stand_in), url)
        }
    };
    let store = KurrentEventStore::connect(KurrentOptions::new(url), pool).expect("a KurrentDB client");
    (Servers { _database: database, _stand_in: stand_in }, store)
}

testkit::conformance_tests!(fresh_store());
