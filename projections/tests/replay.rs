//! Historic replay and rebuilds over generated, realistic histories.
//!
//! Property: for random histories (several seeds) and random past times, the as-of lookups on the
//! temporal tables (members, bans, room and personal mutes, levels, nicks, privacy) agree with
//! folding the entity's own stream up to that time with its aggregate. And a rebuild from zero
//! equals the state the live runners built while the history was being written.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Room, StreamName, User};
use futures::StreamExt;
use projections::{AsOf, BuildOptions, ReadModels, Until, replay::fold_stream};
use rand::{Rng, SeedableRng};
use store::{EventStore, ExpectedVersion};
use support::*;
use testkit::history::{HistoryConfig, HistoryGenerator};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// Appends a generated history in order (appends are queued in order; the committer keeps it).
async fn write_history(h: &Harness, config: HistoryConfig) {
    let mut appends = futures::stream::iter(HistoryGenerator::new(config))
        .map(|a| {
            let store = h.store.clone();
            async move { store.append(&a.stream, ExpectedVersion::Any, a.events).await }
        })
        .buffered(64);
    while let Some(result) = appends.next().await {
        h.seen(result.expect("append").position);
    }
}

async fn ids(h: &Harness, sql: &str) -> Vec<Uuid> {
    h.client().await.query(sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn as_of_lookups_agree_with_folding_the_streams_for_random_histories() {
    for seed in 1..=4u64 {
        let h = Harness::new().await;
        let runners = h.start(projections::projection::all());
        write_history(&h, HistoryConfig { seed, events: 2_500, users: 14, rooms: 3, sms_rooms: 2 }).await;
        runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
        runners.stop().await;
        let read = ReadModels::new(h.store.pool().clone(), store::Backend::Postgres);

        let rooms = ids(&h, "SELECT room_id FROM read.rooms").await;
        let users = ids(&h, "SELECT user_id FROM read.users").await;
        assert!(rooms.len() == 3 && users.len() >= 14, "seed {seed}: {} rooms, {} users", rooms.len(), users.len());
        // Times to look at: when random events were recorded (exact boundaries) and random
        // instants between them.
        let client = h.client().await;
        let times: Vec<DateTime<Utc>> = client
            .query("SELECT recorded_at FROM es_events ORDER BY random() LIMIT 12", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut instants = times.clone();
        for pair in times.windows(2) {
            let (a, b) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
            let span = (b - a).num_microseconds().unwrap_or(0).max(1);
            instants.push(a + chrono::TimeDelta::microseconds(rng.random_range(0..span)));
        }

        for &t in &instants {
            for &room in &rooms {
                let (folded, _) = fold_stream::<Room>(&h.store, &StreamName::room(room), Until::Time(t)).await.unwrap();
                let members: BTreeSet<Option<Uuid>> = folded.members.values().map(|m| m.member.user_id).collect();
                let projected: BTreeSet<Option<Uuid>> =
                    read.members(room, AsOf::Time(t)).await.unwrap().into_iter().map(|m| m.user_id).collect();
                assert_eq!(projected, members, "seed {seed}: members of {room} at {t}");

                let bans: BTreeSet<Uuid> = folded.bans.values().filter(|b| b.is_active(t)).map(|b| b.ban_id).collect();
                let projected: BTreeSet<Uuid> = read.bans(room, AsOf::Time(t)).await.unwrap().into_iter().map(|b| b.ban_id).collect();
                assert_eq!(projected, bans, "seed {seed}: bans of {room} at {t}");

                let mutes: BTreeSet<String> =
                    folded.room_mutes.iter().filter(|(_, until)| until.is_none_or(|u| t < u)).map(|(key, _)| key.to_string()).collect();
                let projected: BTreeSet<String> =
                    read.room_mutes(room, AsOf::Time(t)).await.unwrap().into_iter().map(|m| m.member_key).collect();
                assert_eq!(projected, mutes, "seed {seed}: room mutes of {room} at {t}");

                let personal: BTreeSet<(Uuid, String)> = folded.personal_mutes.iter().map(|(m, key)| (*m, key.to_string())).collect();
                let projected: BTreeSet<(Uuid, String)> =
                    read.personal_mutes(room, AsOf::Time(t)).await.unwrap().into_iter().map(|m| (m.muter, m.mutee_key)).collect();
                assert_eq!(projected, personal, "seed {seed}: personal mutes of {room} at {t}");
            }
            for &user in &users {
                let (folded, version) = fold_stream::<User>(&h.store, &StreamName::user(user), Until::Time(t)).await.unwrap();
                let expected = version.map(|_| i16::from(folded.level.as_u8()));
                assert_eq!(read.level(user, AsOf::Time(t)).await.unwrap(), expected, "seed {seed}: level of {user} at {t}");
                let expected = version.map(|_| folded.private);
                assert_eq!(read.private(user, AsOf::Time(t)).await.unwrap(), expected, "seed {seed}: privacy of {user} at {t}");
                let expected = folded.nick.as_ref().map(|n| n.to_string());
                assert_eq!(read.nick(user, AsOf::Time(t)).await.unwrap(), expected, "seed {seed}: nick of {user} at {t}");
            }
        }
    }
}

#[tokio::test]
async fn a_rebuild_from_zero_equals_the_live_state_of_a_realistic_history() {
    let h = Harness::new().await;
    // The live runners project while the history is being written.
    let runners = h.start(projections::projection::all());
    write_history(&h, HistoryConfig::realistic(12_000, 7)).await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    let live = h.snapshot().await;
    assert!(live.len() >= 20, "tables: {:?}", live.keys());
    assert!(live["messages"].0 > 5_000 && live["members"].0 > 0 && live["bans"].0 > 0, "{live:?}");

    let switched =
        projections::rebuild(&h.store, &h.db.config, &projections::projection::all(), &BuildOptions { page: 700 }, |_| {}).await.unwrap();
    assert_eq!(switched.len(), 7);
    let rebuilt = h.snapshot().await;
    for (table, digest) in &live {
        assert_eq!(rebuilt.get(table), Some(digest), "table {table} differs after a rebuild");
    }
    assert_eq!(rebuilt, live);
    runners.stop().await;
}
