//! Read models compared across databases: each table's row count and a digest of its rows, with
//! the columns a comparison must leave out (those each backend or each fold stamps its own way:
//! log positions, and for folds of different appends also times) dropped.

use std::collections::BTreeMap;

use tokio_postgres::Client;

/// Columns that hold a log position (they differ between two logs holding the same events).
pub const POSITION_COLUMNS: &str = "data_type = 'xid8' OR column_name ~ '(position|tx_id|log_era)'";
/// Position columns and every time (they differ between two logs appended separately).
pub const POSITION_AND_TIME_COLUMNS: &str =
    "data_type IN ('timestamp with time zone', 'tstzrange', 'date', 'xid8') OR column_name ~ '(position|tx_id|log_era)'";

/// Every projection's table: its row count and an md5 over its rows without the columns
/// `dropped` (an SQL condition on `information_schema.columns`, such as [`POSITION_COLUMNS`])
/// selects, rows in a fixed order.
pub async fn table_digests(client: &Client, dropped: &str) -> Result<BTreeMap<String, (i64, String)>, tokio_postgres::Error> {
    let tables: Vec<String> =
        client.query("SELECT unnest(tables) FROM es_projections ORDER BY 1", &[]).await?.iter().map(|r| r.get(0)).collect();
    let mut out = BTreeMap::new();
    for table in tables {
        let columns = client
            .query(
                &format!(
                    "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'read' AND table_name = $1 \
                     AND ({dropped})"
                ),
                &[&table],
            )
            .await?;
        let without = columns.iter().map(|r| format!(" - '{}'", r.get::<_, String>(0))).collect::<String>();
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), md5(coalesce(string_agg((to_jsonb(t){without})::text, E'\\n' ORDER BY (to_jsonb(t){without})::text), '')) \
                     FROM read.{table} t"
                ),
                &[],
            )
            .await?;
        out.insert(table, (row.get(0), row.get(1)));
    }
    Ok(out)
}
