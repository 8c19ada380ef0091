//! Connections, generation schemas, checkpoints and the `read` views.

use store::PgConfig;
use store::Position;
use tokio_postgres::Client;

use crate::error::ProjectionError;
use crate::projection::Projection;

/// A dedicated connection (runners hold session locks and a search path, so not from a pool).
pub async fn connect(config: &PgConfig) -> Result<Client, ProjectionError> {
    let (client, connection) = config.connect().await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "projection connection closed");
        }
    });
    Ok(client)
}

/// `proj_users_g3`: the schema holding generation 3 of `users`.
pub fn schema_name(projection: &str, generation: i32) -> String {
    format!("proj_{projection}_g{generation}")
}

/// The checkpoint row of one generation of one projection.
pub fn subscriber(projection: &str, generation: i32) -> String {
    format!("projection:{projection}:g{generation}")
}

pub async fn checkpoint(client: &Client, subscriber: &str) -> Result<Position, ProjectionError> {
    let row =
        client.query_opt("SELECT log_era, tx_id::text, global_position FROM es_checkpoints WHERE subscriber = $1", &[&subscriber]).await?;
    Ok(match row {
        None => Position::START,
        Some(row) => {
            let tx: &str = row.get(1);
            Position::from_stored_parts(row.get(0), tx.parse().unwrap_or(0), row.get(2))
        }
    })
}

/// The live generation and version of a projection, if it was ever built.
pub async fn live_generation(client: &Client, name: &str) -> Result<Option<(i32, i32)>, ProjectionError> {
    let row = client.query_opt("SELECT generation, version FROM es_projections WHERE name = $1", &[&name]).await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// The line that separates a schema's tables from its reader-only indexes.
const READER_INDEXES: &str = "-- @reader-indexes";

/// `(tables and the indexes the handlers need, reader-only indexes)`; see `Projection::schema`.
pub fn split_schema(sql: &str) -> (&str, &str) {
    match sql.find(READER_INDEXES) {
        // The marker line is a comment: it stays at the head of the second part.
        Some(at) => sql.split_at(at),
        None => (sql, ""),
    }
}

/// Creates an empty generation (dropping leftovers of an interrupted build of the same number).
/// `bulk_load`: leave the reader-only indexes for [`finish_bulk_load`].
pub async fn create_generation(
    client: &Client,
    projection: &dyn Projection,
    generation: i32,
    bulk_load: bool,
) -> Result<(), ProjectionError> {
    let schema = schema_name(projection.name(), generation);
    let subscriber = subscriber(projection.name(), generation);
    let (tables, reader_indexes) = split_schema(projection.schema());
    let reader_indexes = if bulk_load { "" } else { reader_indexes };
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema}, public; {tables} {reader_indexes} RESET search_path;"
        ))
        .await?;
    if bulk_load {
        // Autovacuum would analyse and vacuum the tables again and again while they fill, on
        // the cores the load runs on; finish_bulk_load analyses them once and hands them back.
        for table in generation_tables(client, &schema).await? {
            client.batch_execute(&format!("ALTER TABLE {schema}.{table} SET (autovacuum_enabled = false)")).await?;
        }
    }
    client.execute("DELETE FROM es_checkpoints WHERE subscriber = $1", &[&subscriber]).await?;
    Ok(())
}

async fn generation_tables(client: &Client, schema: &str) -> Result<Vec<String>, ProjectionError> {
    let rows = client.query("SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1", &[&schema]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// After a bulk load: builds the reader-only indexes and gathers planner statistics for the
/// new tables (they have none yet, and the first queries after the switch-over need them).
pub async fn finish_bulk_load(client: &Client, projection: &dyn Projection, generation: i32) -> Result<(), ProjectionError> {
    let schema = schema_name(projection.name(), generation);
    let (_, reader_indexes) = split_schema(projection.schema());
    client.batch_execute(&format!("SET search_path TO {schema}, public; {reader_indexes} RESET search_path;")).await?;
    for table in generation_tables(client, &schema).await? {
        client.batch_execute(&format!("ANALYZE {schema}.{table}; ALTER TABLE {schema}.{table} RESET (autovacuum_enabled)")).await?;
    }
    Ok(())
}

/// Makes `generation` the one readers see: repoints the `read.*` views and records it, in one
/// transaction under the batch lock (so a live batch of the old generation is never cut in two).
/// The old generation's schema is dropped afterwards.
pub async fn switch_over(client: &mut Client, projection: &dyn Projection, generation: i32) -> Result<(), ProjectionError> {
    let name = projection.name();
    let schema = schema_name(name, generation);
    let (space, key) = crate::locks::batch(name);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&space, &key]).await?;
    let old = tx.query_opt("SELECT generation, tables FROM es_projections WHERE name = $1 FOR UPDATE", &[&name]).await?;
    let old: Option<(i32, Vec<String>)> = old.map(|r| (r.get(0), r.get(1)));
    let tables: Vec<String> = tx
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
            &[&schema],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Views of tables the new generation no longer has go; the others are recreated (not
    // replaced: a new version may change their columns).
    let old_tables = old.as_ref().map(|(_, t)| t.as_slice()).unwrap_or_default();
    let mut ddl = String::new();
    for table in old_tables.iter().chain(tables.iter().filter(|t| !old_tables.contains(t))) {
        ddl.push_str(&format!("DROP VIEW IF EXISTS read.{table};"));
    }
    for table in &tables {
        ddl.push_str(&format!("CREATE VIEW read.{table} AS SELECT * FROM {schema}.{table};"));
    }
    tx.batch_execute(&format!("SET LOCAL client_min_messages = warning; {ddl}")).await?;
    tx.execute(
        "INSERT INTO es_projections (name, version, generation, tables, state, error, error_position, updated_at) \
         VALUES ($1, $2, $3, $4, 'live', NULL, NULL, now()) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, generation = excluded.generation, tables = excluded.tables, \
             state = 'live', error = NULL, error_position = NULL, updated_at = now()",
        &[&name, &projection.version(), &generation, &tables],
    )
    .await?;
    if let Some((old_generation, _)) = &old {
        tx.execute("DELETE FROM es_checkpoints WHERE subscriber = $1", &[&subscriber(name, *old_generation)]).await?;
    }
    tx.commit().await?;
    if let Some((old_generation, _)) = old
        && old_generation != generation
    {
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema_name(name, old_generation))).await?;
    }
    Ok(())
}

/// Records that a projection stopped on an event it cannot apply (shown by `projections status`).
pub async fn record_failure(client: &Client, name: &str, error: &ProjectionError) -> Result<(), ProjectionError> {
    let position = match error {
        ProjectionError::EventFailed { position, .. } => Some(position.to_string()),
        _ => None,
    };
    client
        .execute(
            "UPDATE es_projections SET state = 'failed', error = $2, error_position = $3, updated_at = now() WHERE name = $1",
            &[&name, &error.to_string(), &position],
        )
        .await?;
    Ok(())
}

pub async fn record_live(client: &Client, name: &str) -> Result<(), ProjectionError> {
    client
        .execute(
            "UPDATE es_projections SET state = 'live', error = NULL, error_position = NULL, updated_at = now() \
             WHERE name = $1 AND state <> 'live'",
            &[&name],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_schema;

    #[test]
    fn reader_only_parts_hold_nothing_but_indexes() {
        let projections = crate::projection::all();
        for projection in projections {
            let (tables, readers) = split_schema(projection.schema());
            assert!(readers.starts_with("-- @reader-indexes"), "{}: no reader-only indexes marked", projection.name());
            assert!(tables.contains("CREATE TABLE"), "{}", projection.name());
            assert!(!tables.contains("@reader-indexes"), "{}", projection.name());
            // Whatever a rebuild leaves for later is an index or an exclusion constraint
            // (tables, keys and anything the handlers rely on stay in the first part).
            let statements = readers.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"));
            for statement in statements {
                let index = statement.starts_with("CREATE INDEX ") || statement.starts_with("CREATE UNIQUE INDEX ");
                let exclusion = statement.starts_with("ALTER TABLE ")
                    && statement.contains(" ADD CONSTRAINT ")
                    && statement.contains(" EXCLUDE USING gist ");
                assert!(index || exclusion, "{}: {statement}", projection.name());
            }
        }
    }
}
