//! The read models fed live: a scripted conversation across IRC and SMS, then the questions the
//! gateways and the API ask (members, bans and mutes now and as of a past time, reply-numbers,
//! last seen, quotes, levels), and the status report.

mod support;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use domain::events::*;
use domain::{Actor, DisplayNick, Event, Gateway, Level, MemberKey, QuoteText, StreamName};
use projections::queries::{Activity, PersonalMute};
use projections::{AsOf, ReadModels};
use support::*;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_read_models_answer_what_the_gateways_and_api_ask() {
    let h = Harness::new().await;
    let runners = h.start(projections::projection::all());
    let read = ReadModels::new(h.store.pool().clone(), store::Backend::Postgres);
    let (alice, bob, carol) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let room = Uuid::new_v4();

    for (id, n, gateway) in [(alice, "alice", Gateway::Irc), (bob, "Bob", Gateway::Sms), (carol, "carol", Gateway::Sms)] {
        h.append(StreamName::user(id), vec![registered(id, n, gateway)], Actor::System).await;
    }
    h.append(
        StreamName::user(alice),
        vec![Event::LevelChanged(LevelChanged { user_id: alice, from: Level::Guest, to: Level::Operator, by: Actor::System })],
        Actor::System,
    )
    .await;
    h.append(
        StreamName::room(room),
        vec![
            created(room, "Lobby"),
            Event::SmsNumberBound(SmsNumberBound { room_id: room, number: phone("+15550000001"), by: Actor::System }),
            joined(room, alice, "alice", None),
            joined(room, bob, "Bob", Some("+15550000002")),
            joined(room, carol, "carol", Some("+15550000003")),
            said(room, alice, "alice", "hello from IRC"),
            Event::PersonalMuteSet(PersonalMuteSet { room_id: room, muter: carol, mutee: Mutee::User(alice) }),
        ],
        Actor::User(alice),
    )
    .await;
    let everyone_in = h.head().await;
    runners.wait_for(everyone_in, &[], WAIT).await.unwrap();
    let before_ban = Utc::now();

    // Reply-numbers: carol muted alice, so alice's text reaches bob only; bob's reaches carol.
    let to = |v: Vec<projections::queries::Recipient>| v.into_iter().map(|r| r.phone).collect::<Vec<_>>();
    assert_eq!(to(read.reply_numbers(room, alice).await.unwrap()), vec!["+15550000002"]);
    assert_eq!(to(read.reply_numbers(room, bob).await.unwrap()), vec!["+15550000003"]);

    let ban = Uuid::new_v4();
    h.append(
        StreamName::room(room),
        vec![
            Event::UserBanned(UserBanned {
                room_id: room,
                ban_id: ban,
                target: BanTarget::User { user_id: bob },
                until: Some(Utc::now() + TimeDelta::hours(1)),
                reason: None,
                by: Actor::User(alice),
            }),
            Event::MemberLeft(MemberLeft { room_id: room, member: member(bob, "Bob"), reason: LeaveReason::Banned }),
        ],
        Actor::User(alice),
    )
    .await;
    h.append(
        StreamName::user(carol),
        vec![Event::SmsStopped(SmsStopped { user_id: carol, reason: SmsStopReason::Command, room_id: None })],
        Actor::System,
    )
    .await;
    let banned = h.head().await;
    runners.wait_for(banned, &[], WAIT).await.unwrap();
    let while_banned = Utc::now();
    h.append(
        StreamName::room(room),
        vec![Event::UserUnbanned(UserUnbanned {
            room_id: room,
            ban_id: ban,
            target: BanTarget::User { user_id: bob },
            by: Actor::User(alice),
        })],
        Actor::User(alice),
    )
    .await;
    h.append(
        StreamName::quotes(),
        vec![Event::QuoteAdded(QuoteAdded {
            quote_id: 1,
            nick: DisplayNick::from(nick("alice")),
            text: QuoteText::parse("the cake is a lie").unwrap(),
            added_by: Actor::User(bob),
            added_at: Utc::now(),
        })],
        Actor::User(bob),
    )
    .await;
    let end = h.head().await;
    runners.wait_for(end, &[], WAIT).await.unwrap();

    // Members now, and as of before the ban (by time and by log position).
    let keys = |v: Vec<projections::queries::Member>| v.into_iter().map(|m| m.nick).collect::<Vec<_>>();
    assert_eq!(keys(read.members(room, AsOf::Now).await.unwrap()), vec!["alice", "carol"]);
    assert_eq!(keys(read.members(room, AsOf::Time(before_ban)).await.unwrap()), vec!["alice", "Bob", "carol"]);
    assert_eq!(keys(read.members(room, AsOf::Position(everyone_in)).await.unwrap()), vec!["alice", "Bob", "carol"]);
    assert!(read.members(room, AsOf::Position(store::Position::START)).await.unwrap().is_empty());

    // Bans: none before, bob's while banned, none after the unban.
    assert!(read.bans(room, AsOf::Time(before_ban)).await.unwrap().is_empty());
    let then = read.bans(room, AsOf::Time(while_banned)).await.unwrap();
    assert_eq!(then.iter().map(|b| b.target_user).collect::<Vec<_>>(), vec![Some(bob)]);
    assert!(read.bans(room, AsOf::Now).await.unwrap().is_empty());

    // Carol stopped: nobody receives alice's text any more (bob left, carol stopped).
    assert!(read.reply_numbers(room, alice).await.unwrap().is_empty());
    let mutes = read.personal_mutes(room, AsOf::Now).await.unwrap();
    assert_eq!(mutes, vec![PersonalMute { muter: carol, mutee_key: alice.to_string(), mutee: Some(alice), mutee_nick: None }]);

    // Levels over time.
    assert_eq!(read.level(alice, AsOf::Now).await.unwrap(), Some(3));
    assert_eq!(read.level(bob, AsOf::Now).await.unwrap(), Some(0));
    assert_eq!(read.nick_owner("BOB", AsOf::Now).await.unwrap(), Some(bob));

    // Last seen across gateways: alice spoke; bob's last sighting is leaving (banned).
    let seen = read.last_seen("ALICE").await.unwrap().unwrap();
    assert_eq!(
        (seen.activity.as_str(), seen.detail.as_deref(), seen.room_name.as_deref()),
        ("said", Some("hello from IRC"), Some("Lobby"))
    );
    assert_eq!((seen.activity, seen.gateway), (Activity::Said, Gateway::Irc));
    let seen = read.last_seen("bob").await.unwrap().unwrap();
    assert_eq!((seen.activity.as_str(), seen.detail.as_deref()), ("left", Some("banned")));
    assert_eq!(seen.activity, Activity::Left);
    assert!(read.last_seen("nobody").await.unwrap().is_none());

    // The rooms and users tables through their typed queries.
    assert!(read.is_member(room, alice).await.unwrap());
    assert_eq!(read.room_of_sms_number("+15550000001").await.unwrap(), Some(room));
    assert_eq!(read.sms_number_bound_elsewhere("+15550000001", room).await.unwrap(), None);
    assert_eq!(read.sms_number_bound_elsewhere("+15550000001", Uuid::nil()).await.unwrap(), Some(room));
    let lobby = read.room_by_name("LOBBY", None).await.unwrap().expect("the lobby by name");
    assert_eq!((lobby.room_id, lobby.sms_number.as_deref()), (room, Some("+15550000001")));
    assert_eq!(read.room(room, Some(before_ban)).await.unwrap().map(|r| r.name), Some("Lobby".to_owned()));
    let bob_row = read.user(bob).await.unwrap().expect("bob's row");
    assert_eq!((bob_row.nick.as_str(), bob_row.registered_via), ("Bob", Gateway::Sms));
    let via_sms = projections::queries::UserFilter { registered_via: Some(Gateway::Sms), ..Default::default() };
    let listed: Vec<Uuid> = read.users(&via_sms, "", 10).await.unwrap().into_iter().map(|u| u.user_id).collect();
    assert_eq!(listed, vec![bob, carol]);
    let bans = read.bans_of_user(bob).await.unwrap();
    assert_eq!(bans.iter().map(|b| (b.ban_id, b.room_id)).collect::<Vec<_>>(), vec![(ban, room)]);

    // Quotes: full-text search (stemmed) and by id.
    let found = read.search_quotes("lies", 3).await.unwrap();
    assert_eq!(found.iter().map(|q| q.quote_id).collect::<Vec<_>>(), vec![1]);
    assert_eq!(read.quote(1).await.unwrap().unwrap().nick, "alice");

    // Time ↔ position.
    let at_end = read.position_at(Utc::now()).await.unwrap().unwrap();
    assert_eq!(at_end, end);
    assert!(read.position_at(before_ban - TimeDelta::days(1)).await.unwrap().is_none());

    // History: alice's message.
    let messages = read.messages(room, None, None, None, 10).await.unwrap();
    assert_eq!(messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["hello from IRC"]);

    // Status: all live, nothing left to apply.
    let client = h.client().await;
    let report = projections::status::report(&client, store::Backend::Postgres, &projections::projection::all()).await.unwrap();
    for p in &report {
        assert_eq!((p.name, p.state.as_str(), p.lag_events), (p.name, "live", 0), "{p:?}");
    }
    runners.stop().await;
}

/// The per-room recipient lists follow every change that reaches them: joins and leaves in the
/// room, and a member's stop/start, new phone and new nick (which touch every room they are in).
#[tokio::test]
async fn reply_numbers_follow_stops_phones_nicks_and_leaves() {
    let h = Harness::new().await;
    let runners = h.start(projections::projection::all());
    let read = ReadModels::new(h.store.pool().clone(), store::Backend::Postgres);
    let (alice, bob, carol) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let (lobby, other) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, n) in [(alice, "alice"), (bob, "bob"), (carol, "carol")] {
        h.append(StreamName::user(id), vec![registered(id, n, Gateway::Sms)], Actor::System).await;
    }
    for (room, number) in [(lobby, "+15550000001"), (other, "+15550000009")] {
        h.append(
            StreamName::room(room),
            vec![
                created(room, "Room"),
                Event::SmsNumberBound(SmsNumberBound { room_id: room, number: phone(number), by: Actor::System }),
                joined(room, alice, "alice", Some("+15550000002")),
                joined(room, bob, "bob", Some("+15550000003")),
                joined(room, carol, "carol", Some("+15550000004")),
            ],
            Actor::System,
        )
        .await;
    }
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    let recipients = |room: Uuid, sender: Uuid| {
        let read = read.clone();
        async move { sorted(read.reply_numbers(room, sender).await.unwrap().into_iter().map(|r| (r.nick, r.phone)).collect()) }
    };
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    assert_eq!(recipients(lobby, alice).await, vec![("bob".into(), "+15550000003".into()), ("carol".into(), "+15550000004".into())]);

    // Bob stops, changes his nick and his phone; carol leaves the lobby only.
    h.append(
        StreamName::user(bob),
        vec![Event::SmsStopped(SmsStopped { user_id: bob, reason: SmsStopReason::CarrierKeyword, room_id: None })],
        Actor::System,
    )
    .await;
    h.append(
        StreamName::user(bob),
        vec![
            Event::NickChanged(NickChanged { user_id: bob, old: "bob".parse().unwrap(), new: "robert".parse().unwrap() }),
            Event::PhoneBound(PhoneBound { user_id: bob, phone: phone("+15550000005") }),
        ],
        Actor::System,
    )
    .await;
    h.append(
        StreamName::room(lobby),
        vec![Event::MemberLeft(MemberLeft {
            room_id: lobby,
            member: MemberRef { user_id: Some(carol), nick: DisplayNick::parse("carol").unwrap() },
            reason: LeaveReason::Part,
        })],
        Actor::System,
    )
    .await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    assert!(recipients(lobby, alice).await.is_empty(), "bob stopped, carol left");
    assert_eq!(recipients(other, alice).await, vec![("carol".into(), "+15550000004".into())]);

    // Bob starts again: back in both rooms, with his new nick and phone.
    h.append(StreamName::user(bob), vec![Event::SmsStarted(SmsStarted { user_id: bob, room_id: None })], Actor::System).await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    assert_eq!(recipients(lobby, alice).await, vec![("robert".into(), "+15550000005".into())]);
    assert_eq!(recipients(other, alice).await, vec![("carol".into(), "+15550000004".into()), ("robert".into(), "+15550000005".into())]);
    // The fan-out list is the same, without nicks; a room without a list has no recipients.
    let mut fan_out = read.fan_out(other, &MemberKey::User(alice)).await.unwrap();
    fan_out.sort();
    let mut expected = vec![(carol, "+15550000004".to_owned()), (bob, "+15550000005".to_owned())];
    expected.sort();
    assert_eq!(fan_out, expected);
    assert!(read.fan_out(Uuid::new_v4(), &MemberKey::User(alice)).await.unwrap().is_empty());

    // Readers of a version 1 generation (live during the upgrade's rebuild) have no lists: the
    // same answers come from the recipients table.
    h.store.pool().get().await.unwrap().batch_execute("DROP VIEW read.sms_room_lists").await.unwrap();
    assert_eq!(recipients(other, alice).await, vec![("carol".into(), "+15550000004".into()), ("robert".into(), "+15550000005".into())]);
    let mut fan_out = read.fan_out(other, &MemberKey::User(alice)).await.unwrap();
    fan_out.sort();
    assert_eq!(fan_out, expected);
}

#[tokio::test]
async fn no_two_periods_of_one_member_in_one_room_overlap_and_other_rooms_and_members_are_free() {
    let h = Harness::new().await;
    let runners = h.start(projections::projection::all());
    let room = Uuid::new_v4();
    h.append(StreamName::room(room), vec![created(room, "Lobby")], Actor::System).await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    let client = h.client().await;
    let schema: String =
        client.query_one("SELECT schemaname::text FROM pg_tables WHERE tablename = 'memberships'", &[]).await.unwrap().get(0);
    let insert = format!(
        "INSERT INTO {schema}.memberships (room_id, member_key, nick, gateway, valid) \
         VALUES ($1, $2, 'n', 'irc', tstzrange(now() - $3::int * interval '1 hour', NULL))"
    );
    let other_room = Uuid::new_v4();
    client.execute(&insert, &[&room, &"user:a", &3]).await.expect("a first period");
    // The same member in another room, and another member in this room: both free.
    client.execute(&insert, &[&other_room, &"user:a", &2]).await.expect("another room");
    client.execute(&insert, &[&room, &"user:b", &2]).await.expect("another member");
    let refused = client.execute(&insert, &[&room, &"user:a", &1]).await.expect_err("an overlapping period is refused");
    assert_eq!(refused.code(), Some(&tokio_postgres::error::SqlState::EXCLUSION_VIOLATION));
}

#[tokio::test]
async fn statistics_over_whole_hours_add_up_the_hourly_counts_and_match_the_messages() {
    use projections::queries::StatisticsBucket;
    let h = Harness::new().await;
    let runners = h.start(projections::projection::all());
    let read = ReadModels::new(h.store.pool().clone(), store::Backend::Postgres);
    let (alice, bob, room, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (id, n) in [(alice, "alice"), (bob, "bob")] {
        h.append(StreamName::user(id), vec![registered(id, n, Gateway::Irc)], Actor::System).await;
    }
    let mut events = vec![created(room, "Lobby")];
    events.extend((0..3).map(|i| said(room, alice, "alice", &format!("hello {i}"))));
    events.push(said(room, bob, "bob", "hi"));
    h.append(StreamName::room(room), events, Actor::User(alice)).await;
    h.append(StreamName::room(other), vec![created(other, "Other"), said(other, bob, "bob", "elsewhere")], Actor::User(bob)).await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    let by_sms = |mut event: Event| {
        if let Event::MessagePosted(posted) = &mut event {
            posted.gateway = Gateway::Sms;
        }
        event
    };
    h.append(StreamName::room(other), vec![by_sms(said(other, bob, "bob", "by text"))], Actor::User(bob)).await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();

    let now = Utc::now();
    let hour = chrono::DurationRound::duration_trunc(now, TimeDelta::hours(1)).unwrap();
    // Whole hours (the hourly counts) and a window to the second (the messages): the same counts.
    let whole = (hour - TimeDelta::hours(2), hour + TimeDelta::hours(1));
    let exact = (now - TimeDelta::minutes(30), now + TimeDelta::seconds(1));
    for (from, to) in [whole, exact] {
        let per_author = read.message_counts(StatisticsBucket::Hour, from, to, Some(room), None, true).await.unwrap();
        let mut counts: Vec<(Option<Uuid>, i64)> = per_author.iter().map(|c| (c.author_id, c.messages)).collect();
        counts.sort();
        let mut expected = vec![(Some(alice), 3), (Some(bob), 1)];
        expected.sort();
        assert_eq!(counts, expected, "{from}..{to}");
        let per_day = read.message_counts(StatisticsBucket::Day, from, to, None, Some(bob), false).await.unwrap();
        assert_eq!(per_day.iter().map(|c| c.messages).sum::<i64>(), 3, "{from}..{to}");
        let shares = read.message_counts_by_gateway(from, to, None).await.unwrap();
        let shares: Vec<(String, i64)> = shares.into_iter().map(|g| (g.gateway, g.messages)).collect();
        assert_eq!(shares, [("irc".to_owned(), 5), ("sms".to_owned(), 1)], "{from}..{to}");
        let in_room = read.message_counts_by_gateway(from, to, Some(other)).await.unwrap();
        assert_eq!(in_room.iter().map(|g| (g.gateway.as_str(), g.messages)).collect::<Vec<_>>(), [("irc", 1), ("sms", 1)], "{from}..{to}");
    }

    // What the charts page shows, added up in the database over the whole hours.
    let charts = read.chart_counts(whole.0, whole.1, None).await.unwrap();
    assert_eq!(charts.per_day.iter().map(|(_, n)| n).sum::<i64>(), 6);
    assert_eq!(charts.per_hour_of_day.iter().sum::<i64>(), 6);
    assert_eq!(charts.per_hour_of_day[chrono::Timelike::hour(&now) as usize], 6);
    let mut per_room = charts.per_room.clone();
    per_room.sort_by_key(|(_, n)| *n);
    assert_eq!(per_room, [(other, 2), (room, 4)]);
    let shares: Vec<(&str, i64)> = charts.per_gateway.iter().map(|g| (g.gateway.as_str(), g.messages)).collect();
    assert_eq!(shares, [("irc", 5), ("sms", 1)]);
    let mut talkers = charts.top_talkers.clone();
    talkers.sort();
    let mut expected = vec![(Some(alice), 3), (Some(bob), 3)];
    expected.sort();
    assert_eq!(talkers, expected);
    let lobby = read.chart_counts(whole.0, whole.1, Some(room)).await.unwrap();
    assert_eq!(lobby.per_room, [(room, 4)]);
    assert_eq!(lobby.top_talkers[0], (Some(alice), 3), "the busiest first");
}

#[tokio::test]
async fn a_guest_identified_as_an_account_is_listed_by_account_and_keeps_the_longer_mute() {
    let h = Harness::new().await;
    let runners = h.start(projections::projection::all());
    let read = ReadModels::new(h.store.pool().clone(), store::Backend::Postgres);
    let (room, dave, erin) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let guest = |n: &str| MemberRef { user_id: None, nick: DisplayNick::parse(n).unwrap() };
    let irc_guest_joined = |n: &str| {
        Event::MemberJoined(MemberJoined {
            room_id: room,
            member: guest(n),
            mask: None,
            phone: None,
            gateway: Gateway::Irc,
            invite_id: None,
            is_bot: false,
        })
    };
    let in_an_hour = Utc::now() + TimeDelta::hours(1);
    let in_two_hours = Utc::now() + TimeDelta::hours(2);
    let muted = |target, until| Event::RoomMuteSet(RoomMuteSet { room_id: room, target, until, by: Actor::System });
    h.append(
        StreamName::room(room),
        vec![
            created(room, "Lobby"),
            irc_guest_joined("dave"),
            muted(guest("dave"), Some(in_an_hour)),
            // Erin is a member by SMS, muted for two hours, and a guest on IRC muted for one.
            joined(room, erin, "erin", Some("+15550000009")),
            muted(member(erin, "erin"), Some(in_two_hours)),
            irc_guest_joined("erin"),
            muted(guest("erin"), Some(in_an_hour)),
        ],
        Actor::System,
    )
    .await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    let before = Utc::now();
    h.append(
        StreamName::room(room),
        vec![
            Event::MemberIdentified(MemberIdentified { room_id: room, nick: DisplayNick::parse("dave").unwrap(), user_id: dave }),
            Event::MemberIdentified(MemberIdentified { room_id: room, nick: DisplayNick::parse("erin").unwrap(), user_id: erin }),
        ],
        Actor::System,
    )
    .await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();

    let members = read.members(room, AsOf::Now).await.unwrap();
    let listed: Vec<(String, Option<Uuid>, String)> =
        members.iter().map(|m| (m.member_key.clone(), m.user_id, m.gateway.clone())).collect();
    assert_eq!(listed.len(), 2, "{members:?}");
    assert!(listed.contains(&(dave.to_string(), Some(dave), "irc".into())), "{listed:?}");
    assert!(listed.contains(&(erin.to_string(), Some(erin), "sms".into())), "the SMS membership stays: {listed:?}");
    let as_guests: Vec<String> = read.members(room, AsOf::Time(before)).await.unwrap().into_iter().map(|m| m.member_key).collect();
    assert!(as_guests.contains(&"nick:dave".to_owned()), "{as_guests:?}");

    let mutes = read.room_mutes(room, AsOf::Now).await.unwrap();
    let held: Vec<(String, Option<i64>)> =
        mutes.iter().map(|m| (m.member_key.clone(), m.until.map(|u| (u - Utc::now()).num_minutes()))).collect();
    assert_eq!(held.len(), 2, "the guest mutes are over, the accounts hold them: {mutes:?}");
    let until_of = |key: String| held.iter().find(|(k, _)| *k == key).and_then(|(_, u)| *u);
    assert!(until_of(dave.to_string()).is_some_and(|m| (58..=60).contains(&m)), "dave's hour carried over: {held:?}");
    assert!(until_of(erin.to_string()).is_some_and(|m| (118..=120).contains(&m)), "erin's longer mute holds: {held:?}");
}

#[tokio::test]
async fn personal_mutes_of_irc_guests_follow_them_into_their_account_and_end_when_they_leave() {
    let h = Harness::new().await;
    let runners = h.start(projections::projection::all());
    let read = ReadModels::new(h.store.pool().clone(), store::Backend::Postgres);
    let (alice, bob, carl) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let room = Uuid::new_v4();
    let gus = DisplayNick::parse("Gus").unwrap();
    let guest = MemberRef { user_id: None, nick: gus.clone() };
    let fan_out = |sender: MemberKey| {
        let read = read.clone();
        async move {
            let mut numbers: Vec<String> = read.fan_out(room, &sender).await.unwrap().into_iter().map(|(_, phone)| phone).collect();
            numbers.sort();
            numbers
        }
    };
    let guest_joined = Event::MemberJoined(MemberJoined {
        room_id: room,
        member: guest.clone(),
        mask: None,
        phone: None,
        gateway: Gateway::Irc,
        invite_id: None,
        is_bot: false,
    });
    let muted_gus = Event::PersonalMuteSet(PersonalMuteSet { room_id: room, muter: alice, mutee: Mutee::Guest { nick: gus.clone() } });
    h.append(
        StreamName::room(room),
        vec![
            created(room, "Lobby"),
            Event::SmsNumberBound(SmsNumberBound { room_id: room, number: phone("+15550000001"), by: Actor::System }),
            joined(room, alice, "alice", Some("+15550000002")),
            joined(room, bob, "bob", Some("+15550000003")),
            guest_joined,
            muted_gus,
        ],
        Actor::User(alice),
    )
    .await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    let as_guest = Utc::now();
    assert_eq!(fan_out(MemberKey::Guest("gus".into())).await, ["+15550000003"], "alice muted the guest");
    let guest_mute = PersonalMute { muter: alice, mutee_key: "nick:gus".into(), mutee: None, mutee_nick: Some("Gus".into()) };
    assert_eq!(read.personal_mutes(room, AsOf::Now).await.unwrap(), vec![guest_mute.clone()]);

    // Gus logs in as carl: alice keeps not hearing him, now by account.
    h.append(
        StreamName::room(room),
        vec![Event::MemberIdentified(MemberIdentified { room_id: room, nick: gus.clone(), user_id: carl })],
        Actor::User(carl),
    )
    .await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    let as_carl = Utc::now();
    assert_eq!(fan_out(MemberKey::User(carl)).await, ["+15550000003"]);
    assert_eq!(fan_out(MemberKey::Guest("gus".into())).await, ["+15550000002", "+15550000003"]);
    let account_mute = PersonalMute { muter: alice, mutee_key: carl.to_string(), mutee: Some(carl), mutee_nick: None };
    assert_eq!(read.personal_mutes(room, AsOf::Now).await.unwrap(), vec![account_mute.clone()]);

    // A new guest called Gus is someone else: once carl leaves, nothing of the mute is left.
    h.append(
        StreamName::room(room),
        vec![Event::MemberLeft(MemberLeft { room_id: room, member: member(carl, "Gus"), reason: LeaveReason::Quit })],
        Actor::User(carl),
    )
    .await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    assert!(read.personal_mutes(room, AsOf::Now).await.unwrap().is_empty());
    assert_eq!(fan_out(MemberKey::User(carl)).await, ["+15550000002", "+15550000003"]);
    // As of the earlier moments, each mute as it stood.
    assert_eq!(read.personal_mutes(room, AsOf::Time(as_guest)).await.unwrap(), vec![guest_mute]);
    assert_eq!(read.personal_mutes(room, AsOf::Time(as_carl)).await.unwrap(), vec![account_mute.clone()]);

    // Readers of a version 3 generation (live during the upgrade's rebuild) see mutes of
    // accounts only, without a key column: the same answer for those.
    h.store
        .pool()
        .get()
        .await
        .unwrap()
        .batch_execute(
            "ALTER VIEW read.personal_mutes RENAME TO personal_mutes_keyed; \
             CREATE VIEW read.personal_mutes AS SELECT room_id, muter, mutee, valid FROM read.personal_mutes_keyed WHERE mutee IS NOT NULL",
        )
        .await
        .unwrap();
    assert_eq!(read.personal_mutes(room, AsOf::Time(as_carl)).await.unwrap(), vec![account_mute]);
    assert!(read.personal_mutes(room, AsOf::Time(as_guest)).await.unwrap().is_empty());
}
