//! The backend-neutral conformance suite, run against the PostgreSQL backend.

use store::testing::TestDatabase;

async fn fresh_store() -> (TestDatabase, store::PgEventStore) {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    (db, store)
}

store::conformance_tests!(fresh_store());
