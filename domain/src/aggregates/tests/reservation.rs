use crate::aggregates::reservation::*;
use crate::events::*;
use crate::testing::*;
use crate::values::*;

fn reserved(n: &str, user: u128) -> Event {
    NickReserved { nick: nick(n), user_id: id(user) }.into()
}

#[test]
fn a_free_nick_is_reserved_for_its_user() {
    given::<NickReservation>(vec![]).when(NickCommand::Reserve { nick: nick("Alice"), user_id: id(1) }).then(vec![reserved("Alice", 1)]);
}

#[test]
fn a_nick_held_by_someone_else_is_taken_whatever_its_case() {
    given::<NickReservation>(vec![reserved("Alice", 1)])
        .when(NickCommand::Reserve { nick: nick("ALICE"), user_id: id(2) })
        .then_error(ReservationError::NickTaken { nick: nick("Alice") });
}

#[test]
fn reserving_your_own_nick_again_changes_nothing() {
    given::<NickReservation>(vec![reserved("Alice", 1)]).when(NickCommand::Reserve { nick: nick("alice"), user_id: id(1) }).then_nothing();
}

#[test]
fn only_the_holder_releases_a_nick() {
    given::<NickReservation>(vec![reserved("Alice", 1)])
        .when(NickCommand::Release { nick: nick("Alice"), user_id: id(2) })
        .then_error(ReservationError::NotHolder);
    given::<NickReservation>(vec![reserved("Alice", 1)])
        .when(NickCommand::Release { nick: nick("Alice"), user_id: id(1) })
        .then(vec![NickReleased { nick: nick("Alice"), user_id: id(1) }.into()]);
}

#[test]
fn a_released_nick_can_be_taken_by_someone_else() {
    given::<NickReservation>(vec![reserved("Alice", 1), NickReleased { nick: nick("Alice"), user_id: id(1) }.into()])
        .when(NickCommand::Reserve { nick: nick("alice"), user_id: id(2) })
        .then(vec![reserved("alice", 2)]);
}

#[test]
fn releasing_a_free_nick_changes_nothing() {
    given::<NickReservation>(vec![]).when(NickCommand::Release { nick: nick("Alice"), user_id: id(1) }).then_nothing();
}

#[test]
fn a_phone_number_belongs_to_one_user() {
    let p = phone("+15551234567");
    given::<PhoneReservation>(vec![PhoneReserved { phone: p.clone(), user_id: id(1) }.into()])
        .when(PhoneCommand::Reserve { phone: p.clone(), user_id: id(2) })
        .then_error(ReservationError::PhoneTaken);
    given::<PhoneReservation>(vec![])
        .when(PhoneCommand::Reserve { phone: p.clone(), user_id: id(2) })
        .then(vec![PhoneReserved { phone: p, user_id: id(2) }.into()]);
}

#[test]
fn a_web_username_belongs_to_one_user() {
    let name = Username::parse("alice").unwrap();
    given::<AccountName>(vec![AccountNameReserved { username: name.clone(), user_id: id(1) }.into()])
        .when(AccountNameCommand::Reserve { username: Username::parse("Alice").unwrap(), user_id: id(2) })
        .then_error(ReservationError::UsernameTaken { username: name });
}
