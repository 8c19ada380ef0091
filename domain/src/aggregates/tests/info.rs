use crate::aggregates::info::*;
use crate::events::*;
use crate::metadata::Actor;
use crate::testing::*;
use crate::values::*;

fn key() -> InfoKey {
    InfoKey::parse("rules").unwrap()
}

fn text(s: &str) -> InfoText {
    InfoText::parse(s).unwrap()
}

fn added_by(user: u128) -> Event {
    InfoItemAdded { item: key(), text: text("Be nice."), by: Actor::User(id(user)) }.into()
}

#[test]
fn a_member_adds_an_info_item() {
    given::<InfoItem>(vec![])
        .by_user(id(1))
        .when(InfoCommand::Add { item: key(), text: text("Be nice."), caller_level: Level::Member })
        .then(vec![added_by(1)]);
}

#[test]
fn adding_an_existing_item_is_refused() {
    given::<InfoItem>(vec![added_by(1)])
        .by_user(id(2))
        .when(InfoCommand::Add { item: key(), text: text("Mine now"), caller_level: Level::Member })
        .then_error(InfoError::AlreadyExists(key()));
}

#[test]
fn the_creator_replaces_their_item() {
    given::<InfoItem>(vec![added_by(1)])
        .by_user(id(1))
        .when(InfoCommand::Replace { text: text("Be kind."), caller_level: Level::Member })
        .then(vec![InfoItemReplaced { item: key(), text: text("Be kind."), by: Actor::User(id(1)) }.into()]);
}

#[test]
fn another_member_cannot_replace_or_delete_an_item() {
    given::<InfoItem>(vec![added_by(1)])
        .by_user(id(2))
        .when(InfoCommand::Replace { text: text("x"), caller_level: Level::Voice })
        .then_error(InfoError::NotAllowed);
    given::<InfoItem>(vec![added_by(1)])
        .by_user(id(2))
        .when(InfoCommand::Delete { caller_level: Level::Voice })
        .then_error(InfoError::NotAllowed);
}

#[test]
fn an_operator_may_delete_anyones_item() {
    given::<InfoItem>(vec![added_by(1)])
        .by_user(id(3))
        .when(InfoCommand::Delete { caller_level: Level::Operator })
        .then(vec![InfoItemDeleted { item: key(), by: Actor::User(id(3)) }.into()]);
}

#[test]
fn a_deleted_item_is_unknown_until_added_again() {
    let history = vec![added_by(1), InfoItemDeleted { item: key(), by: Actor::User(id(1)) }.into()];
    given::<InfoItem>(history.clone())
        .by_user(id(1))
        .when(InfoCommand::Replace { text: text("x"), caller_level: Level::Member })
        .then_error(InfoError::NotFound);
    given::<InfoItem>(history)
        .by_user(id(2))
        .when(InfoCommand::Add { item: key(), text: text("Be nice."), caller_level: Level::Member })
        .then(vec![added_by(2)]);
}
