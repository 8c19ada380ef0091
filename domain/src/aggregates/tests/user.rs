use chrono::TimeDelta;

use crate::aggregate::Aggregate;
use crate::aggregates::user::*;
use crate::events::*;
use crate::metadata::{Actor, Gateway};
use crate::testing::*;
use crate::values::*;

fn alice() -> uuid::Uuid {
    id(1)
}

fn registered() -> Event {
    UserRegistered { user_id: alice(), nick: nick("Alice"), gateway: Gateway::Irc }.into()
}

fn at_level(level: Level) -> Event {
    LevelChanged { user_id: alice(), from: Level::Guest, to: level, by: Actor::System }.into()
}

fn issued(token_id: u128, secret: &str, purpose: TokenPurpose, expires_in: TimeDelta) -> Event {
    IrcTokenIssued { user_id: alice(), token_id: id(token_id), token_hash: token(secret), purpose, expires_at: now() + expires_in }.into()
}

fn identity() -> Event {
    IrcIdentityRegistered { user_id: alice(), nick: nick("Alice"), host_mask: mask("Alice!~a@home.example") }.into()
}

fn login(secret: &str) -> UserCommand {
    UserCommand::LoginIrc { token: token(secret), nick: nick("Alice"), mask: mask("Alice!~a@cafe.example"), session_id: id(99) }
}

fn failed_at(delta: TimeDelta) -> Event {
    IrcLoginFailed {
        user_id: alice(),
        nick: nick("Alice"),
        mask: mask("Alice!~a@cafe.example"),
        reason: LoginFailureReason::WrongToken,
        at: at(delta),
    }
    .into()
}

fn session(session_id: u128, started: TimeDelta) -> Event {
    IrcSessionStarted {
        user_id: alice(),
        session_id: id(session_id),
        nick: nick("Alice"),
        mask: mask("Alice!~a@cafe.example"),
        started_at: at(started),
    }
    .into()
}

fn change_level(to: Level, caller_level: Level) -> UserCommand {
    UserCommand::ChangeLevel { to, caller_level }
}

// --- registration and profile

#[test]
fn a_new_user_is_registered_with_their_nick() {
    given::<User>(vec![])
        .when(UserCommand::Register { user_id: alice(), nick: nick("Alice"), gateway: Gateway::Irc })
        .then(vec![registered()]);
}

#[test]
fn a_user_cannot_be_registered_twice() {
    given::<User>(vec![registered()])
        .when(UserCommand::Register { user_id: alice(), nick: nick("Alice"), gateway: Gateway::Sms })
        .then_error(UserError::AlreadyRegistered);
}

#[test]
fn commands_for_an_unknown_user_are_refused() {
    given::<User>(vec![]).when(UserCommand::StartSms { room_id: None }).then_error(UserError::NotRegistered);
}

#[test]
fn a_nick_change_records_the_old_and_the_new_nick() {
    given::<User>(vec![registered()])
        .when(UserCommand::ChangeNick { new: nick("Ally") })
        .then(vec![NickChanged { user_id: alice(), old: nick("Alice"), new: nick("Ally") }.into()]);
}

#[test]
fn changing_to_the_same_nick_changes_nothing() {
    given::<User>(vec![registered()]).when(UserCommand::ChangeNick { new: nick("Alice") }).then_nothing();
}

#[test]
fn users_are_private_by_default() {
    let g = given::<User>(vec![registered()]);
    assert!(g.state().private);
    g.by_user(alice()).when(UserCommand::SetPrivacy { private: true }).then_nothing();
}

#[test]
fn a_user_sets_their_own_about_text() {
    let about = AboutText::parse("hi, I'm Alice").unwrap();
    given::<User>(vec![registered()])
        .by_user(alice())
        .when(UserCommand::SetAbout { about: Some(about.clone()) })
        .then(vec![AboutChanged { user_id: alice(), about: Some(about) }.into()]);
}

#[test]
fn nobody_sets_someone_elses_about_text() {
    given::<User>(vec![registered()])
        .by_user(id(2))
        .when(UserCommand::SetAbout { about: None })
        .then_error(UserError::NotYourProfile { user: alice() });
}

#[test]
fn an_email_is_verified_with_the_right_token_before_it_expires() {
    let history = vec![
        registered(),
        WebAccountCreated {
            user_id: alice(),
            username: Username::parse("alice").unwrap(),
            email: Email::parse("a@x.org").unwrap(),
            password_hash: "h".into(),
        }
        .into(),
        EmailVerificationRequested {
            user_id: alice(),
            email: Email::parse("a@x.org").unwrap(),
            token_hash: token("mail"),
            expires_at: at(TimeDelta::hours(1)),
        }
        .into(),
    ];
    given::<User>(history.clone())
        .when(UserCommand::VerifyEmail { token_hash: token("mail") })
        .then(vec![EmailVerified { user_id: alice(), email: Email::parse("a@x.org").unwrap() }.into()]);
    given::<User>(history.clone()).when(UserCommand::VerifyEmail { token_hash: token("nope") }).then_error(UserError::InvalidToken);
    given::<User>(history)
        .after(TimeDelta::hours(2))
        .when(UserCommand::VerifyEmail { token_hash: token("mail") })
        .then_error(UserError::TokenExpired);
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn verified_web_account() -> Vec<Event> {
    vec![
        registered(),
        WebAccountCreated {
            user_id: alice(),
            username: Username::parse("alice").unwrap(),
            email: email("a@x.org"),
            password_hash: "h".into(),
        }
        .into(),
        EmailVerified { user_id: alice(), email: email("a@x.org") }.into(),
    ]
}

#[test]
fn a_new_email_address_gets_the_link_and_the_old_one_stays_until_it_is_opened() {
    let change =
        UserCommand::RequestEmailChange { email: email("new@x.org"), token_hash: token("mail"), expires_at: at(TimeDelta::hours(1)) };
    let requested = EmailVerificationRequested {
        user_id: alice(),
        email: email("new@x.org"),
        token_hash: token("mail"),
        expires_at: at(TimeDelta::hours(1)),
    };
    given::<User>(verified_web_account()).by_user(alice()).when(change.clone()).then(vec![requested.clone().into()]);

    let mut history = verified_web_account();
    history.push(requested.into());
    let pending = history.iter().fold(User::default(), |u, e| u.evolve(e));
    assert_eq!(pending.web.as_ref().unwrap().email, email("a@x.org"), "the old address stays");
    assert_eq!(pending.pending_email(), Some(&email("new@x.org")));
    given::<User>(history)
        .when(UserCommand::VerifyEmail { token_hash: token("mail") })
        .then(vec![EmailVerified { user_id: alice(), email: email("new@x.org") }.into()]);
}

#[test]
fn changing_to_the_same_verified_address_or_someone_elses_is_refused() {
    let same = UserCommand::RequestEmailChange { email: email("a@x.org"), token_hash: token("mail"), expires_at: at(TimeDelta::hours(1)) };
    given::<User>(verified_web_account()).by_user(alice()).when(same.clone()).then_error(UserError::SameEmail);
    given::<User>(verified_web_account()).by_user(id(2)).when(same).then_error(UserError::NotYourProfile { user: alice() });
}

fn member() -> Vec<Event> {
    vec![registered(), at_level(Level::Member)]
}

fn code_texted(code: &str, to: &str, at_delta: TimeDelta) -> Event {
    PhoneVerificationRequested {
        user_id: alice(),
        phone: phone(to),
        code_hash: token(code),
        requested_at: at(at_delta),
        expires_at: at(at_delta + TimeDelta::minutes(10)),
    }
    .into()
}

fn request_code(code: &str) -> UserCommand {
    UserCommand::RequestPhoneVerification { phone: phone("+15551230001"), code_hash: token(code), expires_at: at(TimeDelta::minutes(10)) }
}

#[test]
fn a_member_asks_for_a_phone_code_and_the_right_code_verifies_the_number() {
    given::<User>(member()).by_user(alice()).when(request_code("123456")).then(vec![code_texted(
        "123456",
        "+15551230001",
        TimeDelta::zero(),
    )]);
    let mut history = member();
    history.push(code_texted("123456", "+15551230001", TimeDelta::zero()));
    given::<User>(history)
        .by_user(alice())
        .when(UserCommand::VerifyPhone { code_hash: token("123456") })
        .then(vec![PhoneVerified { user_id: alice(), phone: phone("+15551230001") }.into()]);
}

#[test]
fn a_guest_cannot_have_a_code_texted() {
    given::<User>(vec![registered()])
        .by_user(alice())
        .when(request_code("123456"))
        .then_error(UserError::InsufficientLevel { needed: Level::Member, have: Level::Guest });
}

#[test]
fn a_wrong_code_is_recorded_and_the_fifth_voids_the_code() {
    let mut history = member();
    history.push(code_texted("123456", "+15551230001", TimeDelta::zero()));
    for left in (0..PHONE_CODE_ATTEMPTS).rev() {
        let events = given::<User>(history.clone()).by_user(alice()).when(UserCommand::VerifyPhone { code_hash: token("000000") }).events();
        assert_eq!(events, vec![PhoneVerificationFailed { user_id: alice(), attempts_left: left }.into()]);
        assert_eq!(phone_outcome(&events), Some(PhoneOutcome::WrongCode { attempts_left: left }));
        history.extend(events);
    }
    // Even the right code is refused now: a new one has to be texted.
    given::<User>(history)
        .by_user(alice())
        .when(UserCommand::VerifyPhone { code_hash: token("123456") })
        .then_error(UserError::NoPendingPhoneVerification);
}

#[test]
fn an_expired_code_is_refused() {
    let mut history = member();
    history.push(code_texted("123456", "+15551230001", TimeDelta::zero()));
    given::<User>(history)
        .by_user(alice())
        .after(TimeDelta::minutes(11))
        .when(UserCommand::VerifyPhone { code_hash: token("123456") })
        .then_error(UserError::TokenExpired);
}

#[test]
fn at_most_three_codes_are_texted_an_hour() {
    let mut history = member();
    for minutes in [0, 10, 20] {
        history.push(code_texted("123456", "+15551230001", TimeDelta::minutes(minutes) - TimeDelta::minutes(30)));
    }
    given::<User>(history.clone())
        .by_user(alice())
        .when(request_code("654321"))
        .then_error(UserError::TooManyPhoneCodes { until: at(TimeDelta::minutes(30)) });
    // Once the first falls out of the hour, one more may be texted.
    let later = given::<User>(history).by_user(alice()).after(TimeDelta::minutes(31)).when(request_code("654321")).events();
    assert!(matches!(later.as_slice(), [Event::PhoneVerificationRequested(_)]), "{later:?}");
}

#[test]
fn the_number_already_bound_needs_no_code() {
    let mut history = member();
    history.push(PhoneBound { user_id: alice(), phone: phone("+15551230001") }.into());
    given::<User>(history).by_user(alice()).when(request_code("123456")).then_error(UserError::PhoneAlreadyYours);
}

#[test]
fn a_second_web_account_is_refused() {
    let create = || UserCommand::CreateWebAccount {
        username: Username::parse("alice").unwrap(),
        email: Email::parse("a@x.org").unwrap(),
        password_hash: "h".into(),
    };
    let first = given::<User>(vec![registered()]).when(create()).events();
    let mut history = vec![registered()];
    history.extend(first);
    given::<User>(history).when(create()).then_error(UserError::WebAccountExists);
}

// --- levels

#[test]
fn an_operator_can_grant_voice() {
    given::<User>(vec![registered(), at_level(Level::Member)])
        .by_user(id(2))
        .when(change_level(Level::Voice, Level::Operator))
        .then(vec![LevelChanged { user_id: alice(), from: Level::Member, to: Level::Voice, by: Actor::User(id(2)) }.into()]);
}

#[test]
fn an_operator_can_grant_operator() {
    given::<User>(vec![registered(), at_level(Level::Member)]).by_user(id(2)).when(change_level(Level::Operator, Level::Operator)).events();
}

#[test]
fn a_level_three_operator_cannot_grant_staff() {
    given::<User>(vec![registered(), at_level(Level::Member)])
        .by_user(id(2))
        .when(change_level(Level::Staff, Level::Operator))
        .then_error(UserError::CannotGrantAbove { caller: Level::Operator, requested: Level::Staff });
}

#[test]
fn staff_cannot_grant_superuser() {
    given::<User>(vec![registered()])
        .by_user(id(2))
        .when(change_level(Level::Superuser, Level::Staff))
        .then_error(UserError::CannotGrantAbove { caller: Level::Staff, requested: Level::Superuser });
}

#[test]
fn staff_can_grant_staff() {
    given::<User>(vec![registered(), at_level(Level::Operator)]).by_user(id(2)).when(change_level(Level::Staff, Level::Staff)).events();
}

#[test]
fn a_voice_member_cannot_change_levels() {
    given::<User>(vec![registered()])
        .by_user(id(2))
        .when(change_level(Level::Member, Level::Voice))
        .then_error(UserError::InsufficientLevel { needed: Level::Operator, have: Level::Voice });
}

#[test]
fn an_operator_cannot_demote_another_operator() {
    given::<User>(vec![registered(), at_level(Level::Operator)])
        .by_user(id(2))
        .when(change_level(Level::Member, Level::Operator))
        .then_error(UserError::TargetOutranksCaller { target: Level::Operator, caller: Level::Operator });
}

#[test]
fn nobody_but_a_superuser_changes_their_own_level() {
    given::<User>(vec![registered(), at_level(Level::Staff)])
        .by_user(alice())
        .when(change_level(Level::Member, Level::Staff))
        .then_error(UserError::TargetOutranksCaller { target: Level::Staff, caller: Level::Staff });
}

#[test]
fn a_superuser_can_change_anyones_level_including_another_superuser() {
    given::<User>(vec![registered(), at_level(Level::Superuser)])
        .by_user(id(2))
        .when(change_level(Level::Member, Level::Superuser))
        .events();
}

#[test]
fn the_system_can_set_any_level() {
    given::<User>(vec![registered()]).when(change_level(Level::Superuser, Level::Guest)).events();
}

#[test]
fn granting_the_current_level_changes_nothing() {
    given::<User>(vec![registered(), at_level(Level::Voice)]).by_user(id(2)).when(change_level(Level::Voice, Level::Staff)).then_nothing();
}

#[test]
fn only_members_send_sign_up_invitations() {
    let invite = || UserCommand::SendSignUpInvitation { nick: display("newbie") };
    given::<User>(vec![registered()]).when(invite()).then_error(UserError::InsufficientLevel { needed: Level::Member, have: Level::Guest });
    given::<User>(vec![registered(), at_level(Level::Member)])
        .when(invite())
        .then(vec![SignUpInvitationSent { user_id: alice(), nick: display("newbie") }.into()]);
}

// --- IRC tokens and registration

#[test]
fn an_unverified_or_demoted_account_gets_no_irc_token() {
    let issue = UserCommand::IssueIrcToken {
        token_id: id(22),
        token_hash: token("new"),
        purpose: TokenPurpose::Register,
        expires_at: at(TimeDelta::minutes(15)),
    };
    let refused = UserError::InsufficientLevel { needed: Level::Member, have: Level::Guest };
    given::<User>(vec![registered()]).by_user(alice()).when(issue.clone()).then_error(refused.clone());
    let demoted = LevelChanged { user_id: alice(), from: Level::Member, to: Level::Guest, by: Actor::System }.into();
    given::<User>(vec![registered(), at_level(Level::Member), demoted]).by_user(alice()).when(issue.clone()).then_error(refused);
    given::<User>(vec![registered(), at_level(Level::Member)]).by_user(alice()).when(issue).events();
}

#[test]
fn a_new_token_supersedes_the_outstanding_one_of_the_same_purpose() {
    given::<User>(vec![
        registered(),
        at_level(Level::Member),
        issued(20, "old", TokenPurpose::Login, TimeDelta::minutes(15)),
        issued(21, "reg", TokenPurpose::Register, TimeDelta::minutes(15)),
    ])
    .when(UserCommand::IssueIrcToken {
        token_id: id(22),
        token_hash: token("new"),
        purpose: TokenPurpose::Login,
        expires_at: at(TimeDelta::minutes(15)),
    })
    .then(vec![
        IrcTokenRevoked { user_id: alice(), token_id: id(20), reason: TokenRevocationReason::Superseded }.into(),
        issued(22, "new", TokenPurpose::Login, TimeDelta::minutes(15)),
    ]);
}

#[test]
fn a_register_token_binds_the_nick_and_mask_and_is_used_up() {
    given::<User>(vec![registered(), issued(20, "reg", TokenPurpose::Register, TimeDelta::minutes(15))])
        .when(UserCommand::RegisterIrcIdentity { token: token("reg"), nick: nick("alice"), mask: mask("alice!~a@home.example") })
        .then(vec![
            IrcTokenRevoked { user_id: alice(), token_id: id(20), reason: TokenRevocationReason::Used }.into(),
            IrcIdentityRegistered { user_id: alice(), nick: nick("alice"), host_mask: mask("alice!~a@home.example") }.into(),
        ]);
}

#[test]
fn a_token_cannot_be_used_twice() {
    given::<User>(vec![
        registered(),
        issued(20, "reg", TokenPurpose::Register, TimeDelta::minutes(15)),
        IrcTokenRevoked { user_id: alice(), token_id: id(20), reason: TokenRevocationReason::Used }.into(),
        identity(),
    ])
    .when(UserCommand::RegisterIrcIdentity { token: token("reg"), nick: nick("Alice"), mask: mask("Alice!~a@home.example") })
    .then_error(UserError::TokenRevoked);
}

#[test]
fn an_expired_register_token_is_refused() {
    given::<User>(vec![registered(), issued(20, "reg", TokenPurpose::Register, TimeDelta::minutes(15))])
        .after(TimeDelta::minutes(15))
        .when(UserCommand::RegisterIrcIdentity { token: token("reg"), nick: nick("Alice"), mask: mask("Alice!~a@home.example") })
        .then_error(UserError::TokenExpired);
}

#[test]
fn a_login_token_does_not_register() {
    given::<User>(vec![registered(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(15))])
        .when(UserCommand::RegisterIrcIdentity { token: token("tok"), nick: nick("Alice"), mask: mask("Alice!~a@home.example") })
        .then_error(UserError::InvalidToken);
}

#[test]
fn a_token_only_registers_the_accounts_own_nick() {
    given::<User>(vec![registered(), issued(20, "reg", TokenPurpose::Register, TimeDelta::minutes(15))])
        .when(UserCommand::RegisterIrcIdentity { token: token("reg"), nick: nick("Mallory"), mask: mask("Mallory!~m@x") })
        .then_error(UserError::NickMismatch { expected: nick("Alice"), got: nick("Mallory") });
}

#[test]
fn a_token_leaked_in_a_channel_is_revoked_at_once() {
    given::<User>(vec![registered(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(15))])
        .when(UserCommand::RevokeLeakedToken { token: token("tok") })
        .then(vec![IrcTokenRevoked { user_id: alice(), token_id: id(20), reason: TokenRevocationReason::LeakedInChannel }.into()]);
}

#[test]
fn a_leaked_string_that_is_no_token_punishes_nothing() {
    given::<User>(vec![registered(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(15))])
        .when(UserCommand::RevokeLeakedToken { token: token("something else") })
        .then_nothing();
}

// --- IRC login, lockout, sessions

#[test]
fn a_right_login_token_starts_a_session_bound_to_the_mask_and_is_used_up() {
    let events = given::<User>(vec![registered(), identity(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(15))])
        .when(login("tok"))
        .events();
    assert_eq!(
        events,
        vec![
            IrcTokenRevoked { user_id: alice(), token_id: id(20), reason: TokenRevocationReason::Used }.into(),
            session(99, TimeDelta::zero()),
        ]
    );
    assert_eq!(login_outcome(&events), Some(LoginOutcome::LoggedIn { session_id: id(99) }));
}

#[test]
fn a_wrong_login_token_is_recorded_as_a_failure() {
    let events = given::<User>(vec![registered(), identity(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(15))])
        .when(login("guess"))
        .events();
    assert_eq!(events, vec![failed_at(TimeDelta::zero())]);
    assert_eq!(login_outcome(&events), Some(LoginOutcome::Failed { reason: LoginFailureReason::WrongToken, locked_until: None }));
}

#[test]
fn an_expired_login_token_is_a_failure_with_its_own_reason() {
    let events = given::<User>(vec![registered(), identity(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(15))])
        .after(TimeDelta::minutes(16))
        .when(login("tok"))
        .events();
    assert!(matches!(login_outcome(&events), Some(LoginOutcome::Failed { reason: LoginFailureReason::Expired, .. })));
}

#[test]
fn five_failed_logins_lock_the_nick_for_ten_minutes() {
    let history = vec![
        registered(),
        identity(),
        failed_at(TimeDelta::minutes(-9)),
        failed_at(TimeDelta::minutes(-5)),
        failed_at(TimeDelta::minutes(-3)),
        failed_at(TimeDelta::minutes(-1)),
    ];
    let events = given::<User>(history).when(login("guess")).events();
    assert_eq!(
        events,
        vec![
            failed_at(TimeDelta::zero()),
            IrcLoginLocked { user_id: alice(), nick: nick("Alice"), until: at(TimeDelta::minutes(10)) }.into()
        ]
    );
    assert_eq!(
        login_outcome(&events),
        Some(LoginOutcome::Failed { reason: LoginFailureReason::WrongToken, locked_until: Some(at(TimeDelta::minutes(10))) })
    );
}

#[test]
fn failures_from_another_host_neither_count_nor_lock_the_owners_host() {
    let from_elsewhere = |delta| {
        IrcLoginFailed {
            user_id: alice(),
            nick: nick("Alice"),
            mask: mask("Alice!~x@attacker.example"),
            reason: LoginFailureReason::WrongToken,
            at: at(delta),
        }
        .into()
    };
    let mut history = vec![registered(), identity(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(30))];
    history.extend((1..=4).map(|n| from_elsewhere(TimeDelta::minutes(-n))));
    history.push(from_elsewhere(TimeDelta::seconds(-30)));
    history.push(IrcLoginLocked { user_id: alice(), nick: nick("Alice"), until: at(TimeDelta::minutes(10)) }.into());
    // The attacker's host is locked; the owner, from their own host, is not.
    let attacker =
        UserCommand::LoginIrc { token: token("tok"), nick: nick("Alice"), mask: mask("Alice!~x@Attacker.Example"), session_id: id(98) };
    given::<User>(history.clone()).when(attacker).then_error(UserError::LoginLocked { until: at(TimeDelta::minutes(10)) });
    let events = given::<User>(history.clone()).when(login("tok")).events();
    assert_eq!(login_outcome(&events), Some(LoginOutcome::LoggedIn { session_id: id(99) }));
    // Nor do the attacker's failures count towards a lock of the owner's host.
    history.extend([failed_at(TimeDelta::minutes(-2)), failed_at(TimeDelta::minutes(-1))]);
    given::<User>(history).when(login("guess")).then(vec![failed_at(TimeDelta::zero())]);
}

#[test]
fn failures_older_than_ten_minutes_do_not_count_towards_a_lock() {
    let history = vec![
        registered(),
        identity(),
        failed_at(TimeDelta::minutes(-11)),
        failed_at(TimeDelta::minutes(-5)),
        failed_at(TimeDelta::minutes(-3)),
        failed_at(TimeDelta::minutes(-1)),
    ];
    given::<User>(history).when(login("guess")).then(vec![failed_at(TimeDelta::zero())]);
}

#[test]
fn a_locked_nick_refuses_even_the_right_token() {
    given::<User>(vec![
        registered(),
        identity(),
        issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(30)),
        IrcLoginLocked { user_id: alice(), nick: nick("Alice"), until: at(TimeDelta::minutes(10)) }.into(),
    ])
    .after(TimeDelta::minutes(9))
    .when(login("tok"))
    .then_error(UserError::LoginLocked { until: at(TimeDelta::minutes(10)) });
}

#[test]
fn the_lock_lifts_after_ten_minutes_with_a_fresh_count() {
    let mut history = vec![registered(), identity(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(30))];
    history.extend((0..5).map(|i| failed_at(TimeDelta::seconds(i - 10))));
    history.push(IrcLoginLocked { user_id: alice(), nick: nick("Alice"), until: at(TimeDelta::minutes(10)) }.into());
    // After the lock one more failure is just one failure, not a sixth.
    given::<User>(history.clone()).after(TimeDelta::minutes(10)).when(login("guess")).then(vec![
        IrcLoginFailed {
            user_id: alice(),
            nick: nick("Alice"),
            mask: mask("Alice!~a@cafe.example"),
            reason: LoginFailureReason::WrongToken,
            at: at(TimeDelta::minutes(10)),
        }
        .into(),
    ]);
    let events = given::<User>(history).after(TimeDelta::minutes(10)).when(login("tok")).events();
    assert!(matches!(login_outcome(&events), Some(LoginOutcome::LoggedIn { .. })));
}

#[test]
fn login_needs_a_registered_irc_identity() {
    given::<User>(vec![registered(), issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(15))])
        .when(login("tok"))
        .then_error(UserError::NoIrcIdentity);
}

#[test]
fn a_new_login_replaces_the_live_session() {
    let events = given::<User>(vec![
        registered(),
        identity(),
        session(98, TimeDelta::hours(-1)),
        issued(20, "tok", TokenPurpose::Login, TimeDelta::minutes(15)),
    ])
    .when(login("tok"))
    .events();
    assert_eq!(events[0], IrcSessionEnded { user_id: alice(), session_id: id(98), reason: SessionEndReason::Replaced }.into());
    assert_eq!(events.len(), 3);
}

#[test]
fn logging_out_ends_the_session() {
    given::<User>(vec![registered(), identity(), session(99, TimeDelta::zero())])
        .when(UserCommand::EndIrcSession { session_id: None, reason: SessionEndReason::Logout })
        .then(vec![IrcSessionEnded { user_id: alice(), session_id: id(99), reason: SessionEndReason::Logout }.into()]);
}

#[test]
fn ending_a_session_twice_is_a_no_op() {
    given::<User>(vec![
        registered(),
        identity(),
        session(99, TimeDelta::zero()),
        IrcSessionEnded { user_id: alice(), session_id: id(99), reason: SessionEndReason::Quit }.into(),
    ])
    .when(UserCommand::EndIrcSession { session_id: None, reason: SessionEndReason::Logout })
    .then_nothing();
}

#[test]
fn ending_an_older_session_leaves_the_current_one_alone() {
    given::<User>(vec![registered(), identity(), session(99, TimeDelta::zero())])
        .when(UserCommand::EndIrcSession { session_id: Some(id(98)), reason: SessionEndReason::Part })
        .then_nothing();
}

#[test]
fn an_idle_session_ends_after_the_timeout() {
    given::<User>(vec![registered(), identity(), session(99, TimeDelta::hours(-13))])
        .when(UserCommand::EndIdleIrcSession { last_activity: Some(at(TimeDelta::hours(-12))), idle_timeout: TimeDelta::hours(12) })
        .then(vec![IrcSessionEnded { user_id: alice(), session_id: id(99), reason: SessionEndReason::IdleTimeout }.into()]);
}

#[test]
fn a_recently_active_session_is_kept() {
    given::<User>(vec![registered(), identity(), session(99, TimeDelta::hours(-13))])
        .when(UserCommand::EndIdleIrcSession { last_activity: Some(at(TimeDelta::hours(-1))), idle_timeout: TimeDelta::hours(12) })
        .then_nothing();
}

// --- SMS and API tokens

#[test]
fn stopping_sms_twice_records_it_once() {
    let stopped: Event = SmsStopped { user_id: alice(), reason: SmsStopReason::Command, room_id: None }.into();
    given::<User>(vec![registered()])
        .when(UserCommand::StopSms { reason: SmsStopReason::Command, room_id: None })
        .then(vec![stopped.clone()]);
    given::<User>(vec![registered(), stopped.clone()])
        .when(UserCommand::StopSms { reason: SmsStopReason::CarrierKeyword, room_id: None })
        .then_nothing();
    given::<User>(vec![registered(), stopped])
        .when(UserCommand::StartSms { room_id: None })
        .then(vec![SmsStarted { user_id: alice(), room_id: None }.into()]);
}

#[test]
fn a_stop_in_one_room_leaves_the_others_and_a_start_there_lifts_it() {
    let (lobby, games) = (id(31), id(32));
    let stopped: Event = SmsStopped { user_id: alice(), reason: SmsStopReason::CarrierKeyword, room_id: Some(lobby) }.into();
    given::<User>(vec![registered()])
        .when(UserCommand::StopSms { reason: SmsStopReason::CarrierKeyword, room_id: Some(lobby) })
        .then(vec![stopped.clone()]);
    let state = [registered(), stopped.clone()].iter().fold(User::default(), |s, e| s.evolve(e));
    assert!(!state.receives_sms_in(lobby) && state.receives_sms_in(games));
    given::<User>(vec![registered(), stopped.clone()])
        .when(UserCommand::StopSms { reason: SmsStopReason::Command, room_id: Some(lobby) })
        .then_nothing();
    given::<User>(vec![registered(), stopped.clone()]).when(UserCommand::StartSms { room_id: Some(games) }).then_nothing();
    given::<User>(vec![registered(), stopped])
        .when(UserCommand::StartSms { room_id: Some(lobby) })
        .then(vec![SmsStarted { user_id: alice(), room_id: Some(lobby) }.into()]);
}

#[test]
fn a_stop_recorded_for_every_room_is_lifted_by_a_start_in_any_room() {
    let old_stop: Event = SmsStopped { user_id: alice(), reason: SmsStopReason::Command, room_id: None }.into();
    let started: Event = SmsStarted { user_id: alice(), room_id: Some(id(31)) }.into();
    let state = [registered(), old_stop, started].iter().fold(User::default(), |s, e| s.evolve(e));
    assert!(state.receives_sms_in(id(31)) && state.receives_sms_in(id(32)));
}

#[test]
fn revoking_an_unknown_api_token_is_refused_and_a_revoked_one_is_a_no_op() {
    let issued: Event =
        ApiTokenIssued { user_id: alice(), token_id: id(21), token_hash: token("api"), expires_at: at(TimeDelta::days(1)) }.into();
    given::<User>(vec![registered()]).when(UserCommand::RevokeApiToken { token_id: id(21) }).then_error(UserError::UnknownApiToken);
    given::<User>(vec![registered(), issued.clone(), ApiTokenRevoked { user_id: alice(), token_id: id(21) }.into()])
        .when(UserCommand::RevokeApiToken { token_id: id(21) })
        .then_nothing();
}

// --- password reset and closing the account

fn web_account() -> Event {
    WebAccountCreated {
        user_id: alice(),
        username: Username::parse("alice").unwrap(),
        email: Email::parse("a@x.org").unwrap(),
        password_hash: "old".into(),
    }
    .into()
}

fn api_token(n: u128) -> Event {
    ApiTokenIssued { user_id: alice(), token_id: id(n), token_hash: token(&format!("api{n}")), expires_at: at(TimeDelta::days(1)) }.into()
}

fn reset_requested(secret: &str) -> Event {
    PasswordResetRequested { user_id: alice(), token_hash: token(secret), expires_at: at(TimeDelta::hours(1)) }.into()
}

fn reset(secret: &str) -> UserCommand {
    UserCommand::ResetPassword { token_hash: token(secret), password_hash: "new".into() }
}

#[test]
fn a_password_reset_needs_a_web_account() {
    given::<User>(vec![registered()])
        .when(UserCommand::RequestPasswordReset { token_hash: token("r"), expires_at: at(TimeDelta::hours(1)) })
        .then_error(UserError::NoWebAccount);
}

#[test]
fn a_new_password_set_with_the_reset_token_revokes_every_api_token() {
    let revoked: Event = ApiTokenRevoked { user_id: alice(), token_id: id(21) }.into();
    given::<User>(vec![registered(), web_account(), api_token(21), api_token(22), revoked, reset_requested("r")]).when(reset("r")).then(
        vec![
            PasswordChanged { user_id: alice(), password_hash: "new".into() }.into(),
            ApiTokenRevoked { user_id: alice(), token_id: id(22) }.into(),
        ],
    );
}

#[test]
fn a_reset_token_works_once_only_the_newest_works_and_not_after_it_expires() {
    let changed: Event = PasswordChanged { user_id: alice(), password_hash: "new".into() }.into();
    given::<User>(vec![registered(), web_account(), reset_requested("r"), changed]).when(reset("r")).then_error(UserError::NoPendingReset);
    given::<User>(vec![registered(), web_account(), reset_requested("r"), reset_requested("s")])
        .when(reset("r"))
        .then_error(UserError::NoPendingReset);
    given::<User>(vec![registered(), web_account(), reset_requested("r")])
        .after(TimeDelta::hours(2))
        .when(reset("r"))
        .then_error(UserError::TokenExpired);
    given::<User>(vec![registered(), web_account()]).when(reset("r")).then_error(UserError::NoPendingReset);
}

#[test]
fn closing_the_account_ends_the_irc_session_and_revokes_every_api_token() {
    given::<User>(vec![registered(), web_account(), api_token(21), session(7, TimeDelta::minutes(-5))])
        .by_user(alice())
        .when(UserCommand::CloseAccount)
        .then(vec![
            AccountClosed { user_id: alice() }.into(),
            IrcSessionEnded { user_id: alice(), session_id: id(7), reason: SessionEndReason::Logout }.into(),
            ApiTokenRevoked { user_id: alice(), token_id: id(21) }.into(),
        ]);
}

#[test]
fn only_the_owner_closes_an_account() {
    given::<User>(vec![registered()])
        .by_user(id(2))
        .when(UserCommand::CloseAccount)
        .then_error(UserError::NotYourProfile { user: alice() });
}

#[test]
fn a_closed_account_refuses_everything_but_its_clean_ups() {
    let closed: Event = AccountClosed { user_id: alice() }.into();
    let history = vec![registered(), web_account(), closed];
    given::<User>(history.clone())
        .when(UserCommand::IssueApiToken { token_id: id(30), token_hash: token("t"), expires_at: at(TimeDelta::days(1)) })
        .then_error(UserError::AccountClosed);
    given::<User>(history.clone()).when(login("x")).then_error(UserError::AccountClosed);
    given::<User>(history.clone()).by_user(alice()).when(UserCommand::CloseAccount).then_nothing();
    given::<User>(history).when(UserCommand::EndIrcSession { session_id: None, reason: SessionEndReason::Logout }).then_nothing();
}
