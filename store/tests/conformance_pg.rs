//! The backend-neutral conformance suite, run against the PostgreSQL backend.

use testkit::TestDatabase;

async fn fresh_store() -> (TestDatabase, store::PgEventStore) {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    (db, store)
}

testkit::conformance_tests!(fresh_store());
