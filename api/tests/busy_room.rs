//! A busy room over real HTTP on a real PostgreSQL: many staff speaking into one room through
//! `sendToRoom` at once, members talking through a gateway's own executor, and moderation from
//! GraphQL in the middle of it. Every post is accepted (no CONFLICT), every one is stored once,
//! and a post racing a ban or a mute lands before it in the room's stream or is refused.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use domain::events::{BanTarget, MemberRef, MessageKind};
use domain::{
    Actor, DisplayNick, Event, Gateway, Joining, Level, MessageBody, Metadata, Room, RoomCommand, RoomError, Speaker, StreamName,
};
use serde_json::json;
use store::{AnyEventStore, CommandExecutor, Direction, EventStore, ExecuteError};
use support::{Session, TestApp};
use uuid::Uuid;

const SENDERS: usize = 24;
const POSTS_PER_SENDER: usize = 25;
const MUTE_ROUNDS: usize = 8;

fn member_ref(session: &Session) -> MemberRef {
    MemberRef { user_id: Some(session.user_id.parse().unwrap()), nick: DisplayNick::parse(&session.nick).unwrap() }
}

/// A member joins the room the way the IRC gateway records it.
async fn join(executor: &CommandExecutor<AnyEventStore>, room: &StreamName, member: &Session) {
    let joining = Joining {
        member: member_ref(member),
        mask: None,
        phone: None,
        gateway: Gateway::Irc,
        caller_level: Level::Member,
        as_bot: false,
        nick_holder: None,
    };
    executor.execute::<Room>(room, &RoomCommand::Join(joining), Metadata::system()).await.unwrap();
}

/// What a member's posts came to while they kept talking.
#[derive(Debug, Default)]
struct Talk {
    accepted: usize,
    banned: usize,
    muted: usize,
    /// Anything else (a conflict the executor gave up on, say): must stay empty.
    failures: Vec<String>,
}

/// A member talks in the room through a gateway's executor of its own (as the IRC bot does, in
/// its own process) until `stop`, or until a ban refuses them when `until_banned`.
async fn keep_talking(
    executor: CommandExecutor<AnyEventStore>,
    room: StreamName,
    member: Session,
    stop: Arc<AtomicBool>,
    until_banned: bool,
) -> Talk {
    let mut talk = Talk::default();
    let metadata = Metadata::new(Actor::User(member.user_id.parse().unwrap()), Gateway::Irc);
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let command = RoomCommand::Post {
            message_id: Uuid::now_v7(),
            speaker: Speaker::Member { member: member_ref(&member), mask: None },
            body: MessageBody::parse(&format!("{} line {i}", member.nick)).unwrap(),
            kind: MessageKind::Say,
            gateway: Gateway::Irc,
            caller_level: Level::Member,
        };
        match executor.execute::<Room>(&room, &command, metadata.clone()).await {
            Ok(_) => talk.accepted += 1,
            Err(ExecuteError::Rejected(RoomError::Banned { .. })) => {
                talk.banned += 1;
                if until_banned {
                    break;
                }
            }
            Err(ExecuteError::Rejected(RoomError::Muted { .. })) => talk.muted += 1,
            Err(e) => talk.failures.push(e.to_string()),
        }
    }
    talk
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_room_takes_every_post_and_a_post_racing_a_ban_or_mute_lands_before_it_or_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let bob = app.member("bob").await;
    let mallory = app.member("mallory").await;
    let created = app
        .data(Some(&admin.token), "mutation { createRoom(input: {name: \"busy\", ircChannel: \"#busy\"}) { roomId position } }", json!({}))
        .await;
    let room_id = created["createRoom"]["roomId"].as_str().unwrap().to_owned();
    app.data(Some(&admin.token), "query($p: Position) { rooms(waitFor: $p) { id } }", json!({ "p": created["createRoom"]["position"] }))
        .await;
    let room = StreamName::room(room_id.parse().unwrap());
    // The IRC gateway's executor: a writer of the room's stream beside the API's own.
    let gateway = CommandExecutor::new(Arc::new(app.store.clone()));
    join(&gateway, &room, &bob).await;
    join(&gateway, &room, &mallory).await;

    let stop = Arc::new(AtomicBool::new(false));
    let bob_talks = tokio::spawn(keep_talking(gateway.clone(), room.clone(), bob.clone(), stop.clone(), false));
    let mallory_talks = tokio::spawn(keep_talking(gateway.clone(), room.clone(), mallory.clone(), stop.clone(), true));

    // The staff's posts over HTTP, all at once.
    let app = Arc::new(app);
    let say = "mutation($r: UUID!, $t: String!) { sendToRoom(room: $r, text: $t) { position } }";
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (app, token, room_id) = (app.clone(), admin.token.clone(), room_id.clone());
            tokio::spawn(async move {
                let mut refused = Vec::new();
                for i in 0..POSTS_PER_SENDER {
                    let response = app.graphql(Some(&token), say, json!({ "r": room_id, "t": format!("sender {s} post {i}") })).await;
                    if let Some(error) = response.get("errors") {
                        refused.push(error[0]["extensions"]["code"].as_str().unwrap_or("no code").to_owned());
                    }
                }
                refused
            })
        })
        .collect();

    // Moderation in the middle of it: bob muted and unmuted, then mallory banned.
    let mute = "mutation($r: UUID!) { mute(room: $r, nick: \"bob\") { position } }";
    let unmute = "mutation($r: UUID!) { unmute(room: $r, nick: \"bob\") { position } }";
    let ban = "mutation($r: UUID!) { ban(room: $r, target: {nick: \"mallory\"}, reason: \"flooding\") { position } }";
    let mut moderation_refused = Vec::new();
    for mutation in [mute, unmute].repeat(MUTE_ROUNDS).into_iter().chain([ban]) {
        let response = app.graphql(Some(&admin.token), mutation, json!({ "r": room_id })).await;
        if let Some(error) = response.get("errors") {
            moderation_refused.push(error[0]["extensions"]["code"].as_str().unwrap_or("no code").to_owned());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let mut refused: HashMap<String, usize> = HashMap::new();
    for sender in senders {
        for code in sender.await.unwrap() {
            *refused.entry(code).or_default() += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (bob_talk, mallory_talk) = (bob_talks.await.unwrap(), mallory_talks.await.unwrap());
    assert!(
        refused.is_empty() && moderation_refused.is_empty(),
        "sendToRoom refused {refused:?} of {} posts; moderation refused {moderation_refused:?} of {} steps",
        SENDERS * POSTS_PER_SENDER,
        2 * MUTE_ROUNDS + 1
    );
    assert!(bob_talk.failures.is_empty() && mallory_talk.failures.is_empty(), "members' posts failed: {bob_talk:?} {mallory_talk:?}");
    assert_eq!(mallory_talk.banned, 1, "mallory talked until the ban refused her: {mallory_talk:?}");

    // The room's stream, in order: what was accepted is there once, and nobody's post comes
    // after the ban or mute that silenced them.
    let mut events = Vec::new();
    loop {
        let page = app.store.read_stream(&room, Direction::Forwards, Some(events.len() as u64), 1_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page.into_iter().map(|r| r.decode::<Event>().unwrap()));
    }
    let (bob_id, mallory_id) = (Some(bob.user_id.parse::<Uuid>().unwrap()), Some(mallory.user_id.parse::<Uuid>().unwrap()));
    let (mut bob_muted, mut mallory_banned) = (false, false);
    let (mut staff_posts, mut bob_posts, mut mallory_posts) = (HashMap::new(), 0, 0);
    let (mut mutes, mut bans) = (0, 0);
    for (version, envelope) in events.iter().enumerate() {
        assert_eq!(envelope.stream_version, version as u64, "the stream has no gaps");
        match &envelope.event {
            Event::MessagePosted(m) if m.author_id.is_none() => *staff_posts.entry(m.body.as_str().to_owned()).or_insert(0) += 1,
            Event::MessagePosted(m) if m.author_id == bob_id => {
                assert!(!bob_muted, "bob's post at version {version} came after his mute");
                bob_posts += 1;
            }
            Event::MessagePosted(m) if m.author_id == mallory_id => {
                assert!(!mallory_banned, "mallory's post at version {version} came after her ban");
                mallory_posts += 1;
            }
            Event::RoomMuteSet(m) if m.target.user_id == bob_id => {
                bob_muted = true;
                mutes += 1;
            }
            Event::RoomMuteLifted(m) if m.target.user_id == bob_id => bob_muted = false,
            Event::UserBanned(b) if b.target == BanTarget::User { user_id: mallory_id.unwrap() } => {
                mallory_banned = true;
                bans += 1;
            }
            _ => {}
        }
    }
    assert_eq!((mutes, bans), (MUTE_ROUNDS, 1), "every mute and the ban are recorded once");
    assert_eq!(staff_posts.len(), SENDERS * POSTS_PER_SENDER, "every accepted sendToRoom is in the stream");
    assert!(staff_posts.values().all(|n| *n == 1), "no post is stored twice");
    assert_eq!(bob_posts, bob_talk.accepted, "bob's accepted posts are each stored once");
    assert_eq!(mallory_posts, mallory_talk.accepted, "mallory's accepted posts are each stored once");
    assert!(bob_talk.accepted > 0 && mallory_talk.accepted > 0, "the members talked: {bob_talk:?} {mallory_talk:?}");
}
