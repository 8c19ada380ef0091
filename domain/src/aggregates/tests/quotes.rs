use crate::aggregates::quotes::*;
use crate::events::*;
use crate::metadata::Actor;
use crate::testing::*;
use crate::values::*;

fn text(s: &str) -> QuoteText {
    QuoteText::parse(s).unwrap()
}

fn added(quote_id: u64, who: &str, said: &str, by: u128) -> Event {
    QuoteAdded { quote_id, nick: display(who), text: text(said), added_by: Actor::User(id(by)), added_at: now() }.into()
}

fn add(who: &str, said: &str, level: Level) -> QuoteCommand {
    QuoteCommand::Add { nick: display(who), text: text(said), caller_level: level }
}

#[test]
fn the_first_quote_gets_id_one() {
    given::<QuoteBook>(vec![]).by_user(id(1)).when(add("Bob", "it works", Level::Member)).then(vec![added(1, "Bob", "it works", 1)]);
}

#[test]
fn a_guest_cannot_add_quotes() {
    given::<QuoteBook>(vec![])
        .by(Actor::Anonymous)
        .when(add("Bob", "it works", Level::Guest))
        .then_error(QuoteError::InsufficientLevel { needed: Level::Member, have: Level::Guest });
}

#[test]
fn duplicate_quote_text_for_the_same_nick_is_refused() {
    given::<QuoteBook>(vec![added(1, "Bob", "It works   on my machine", 1)])
        .by_user(id(2))
        .when(add("bob", "it works on my MACHINE", Level::Member))
        .then_error(QuoteError::Duplicate { nick: display("bob"), existing: 1 });
}

#[test]
fn the_same_text_for_another_nick_is_a_new_quote() {
    given::<QuoteBook>(vec![added(1, "Bob", "hello", 1)])
        .by_user(id(2))
        .when(add("Carol", "hello", Level::Member))
        .then(vec![added(2, "Carol", "hello", 2)]);
}

#[test]
fn deleted_quote_ids_are_never_reused() {
    let deleted: Event = QuoteDeleted { quote_id: 2, by: Actor::User(id(1)) }.into();
    given::<QuoteBook>(vec![added(1, "Bob", "a", 1), added(2, "Bob", "b", 1), deleted])
        .by_user(id(1))
        .when(add("Bob", "c", Level::Member))
        .then(vec![added(3, "Bob", "c", 1)]);
}

#[test]
fn the_one_who_added_a_quote_may_delete_it() {
    given::<QuoteBook>(vec![added(1, "Bob", "a", 1)])
        .by_user(id(1))
        .when(QuoteCommand::Delete { quote_id: 1, caller_level: Level::Member })
        .then(vec![QuoteDeleted { quote_id: 1, by: Actor::User(id(1)) }.into()]);
}

#[test]
fn an_operator_may_delete_anyones_quote() {
    given::<QuoteBook>(vec![added(1, "Bob", "a", 1)])
        .by_user(id(3))
        .when(QuoteCommand::Delete { quote_id: 1, caller_level: Level::Operator })
        .events();
}

#[test]
fn another_member_may_not_delete_a_quote() {
    given::<QuoteBook>(vec![added(1, "Bob", "a", 1)])
        .by_user(id(2))
        .when(QuoteCommand::Delete { quote_id: 1, caller_level: Level::Voice })
        .then_error(QuoteError::NotAllowed(1));
}

#[test]
fn deleting_an_unknown_or_deleted_quote_is_not_found() {
    given::<QuoteBook>(vec![])
        .by_user(id(1))
        .when(QuoteCommand::Delete { quote_id: 7, caller_level: Level::Superuser })
        .then_error(QuoteError::NotFound(7));
    given::<QuoteBook>(vec![added(1, "Bob", "a", 1), QuoteDeleted { quote_id: 1, by: Actor::User(id(1)) }.into()])
        .by_user(id(1))
        .when(QuoteCommand::Delete { quote_id: 1, caller_level: Level::Member })
        .then_error(QuoteError::NotFound(1));
}
