//! `es_checkpoints`: where log followers left off, for either backend (the KurrentDB backend
//! keeps its followers' places here too, beside the read models). Positions are kept in the
//! columns both backends' fit ([`Position::stored_parts`]); each backend refuses the other's
//! positions before saving.

use deadpool_postgres::Pool;

use crate::error::StoreError;
use crate::types::Position;

/// Where `subscriber` left off; the start when it never saved a place.
pub(crate) async fn load(pool: &Pool, subscriber: &str) -> Result<Position, StoreError> {
    let client = pool.get().await?;
    let row =
        client.query_opt("SELECT log_era, tx_id::text, global_position FROM es_checkpoints WHERE subscriber = $1", &[&subscriber]).await?;
    Ok(row.map_or(Position::START, |r| Position::from_stored_parts(r.get(0), r.get::<_, &str>(1).parse().unwrap_or(0), r.get(2))))
}

pub(crate) async fn save(pool: &Pool, subscriber: &str, position: Position) -> Result<(), StoreError> {
    let (era, tx, pos) = position.stored_parts();
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO es_checkpoints (subscriber, log_era, tx_id, global_position, updated_at) \
             VALUES ($1, $2, $3::text::xid8, $4, now()) \
             ON CONFLICT (subscriber) DO UPDATE SET log_era = excluded.log_era, tx_id = excluded.tx_id, \
                 global_position = excluded.global_position, updated_at = now()",
            &[&subscriber, &era, &tx.to_string(), &pos],
        )
        .await?;
    Ok(())
}
