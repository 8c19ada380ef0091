//! The profile on the account page in a real headless Chromium, against a real `serve` with
//! real PostgreSQL: the nick (the same reservation as SMS `#update`, a taken nick refused next
//! to its field), a new email address confirmed by the link emailed to it, and a phone number
//! proven by a code texted through the Twilio client (to the contract-checking stand-in, which
//! is where the test reads the code), with wrong codes and codes asked for limited. Screenshots
//! as in `browser.rs` (`UPDATE_SCREENSHOTS=1` writes them to `docs/screenshots/`), including the
//! home and account pages at a phone's size.

mod support;

use api::accounts::{LoggedIn, NewAccount};
use domain::{PhoneReservation, StreamName};
use fantoccini::{Client, Locator};
use support::{PASSWORD, WAIT, WebApp, click_to_load, screenshot, text_of};
use testkit::browser::Browser;
use testkit::twilio::TwilioStandIn;

/// The Twilio number phone codes come from in these tests (a US number, so numbers typed
/// without `+1` are read as US numbers).
const VERIFICATION_NUMBER: &str = "+14155550100";

/// An account with a confirmed email address (a member), logged in through the API.
async fn member(web: &WebApp, username: &str) -> LoggedIn {
    let email = format!("{username}@example.org");
    let account = NewAccount { username: username.into(), email: email.clone(), password: PASSWORD.into(), nick: None };
    api::accounts::sign_up(&web.app, account, None).await.unwrap_or_else(|e| panic!("sign-up of {username}: {e:?}"));
    let link = web.emailed_link(&email, "/verify?token=");
    api::accounts::verify_email(&web.app, link.split("token=").nth(1).unwrap()).await.unwrap();
    api::accounts::log_in(&web.app, username, PASSWORD, None).await.unwrap()
}

/// Logs the browser in as `username` on the log-in page, then opens the account page.
async fn open_account_page(web: &WebApp, browser: &Client, username: &str) {
    browser.goto(&web.url("/login")).await.unwrap();
    submit(browser, "/login", &[("username", username), ("password", PASSWORD)]).await;
    browser.goto(&web.url("/account")).await.unwrap();
    assert_eq!(text_of(browser, "h1").await, "Your account");
}

/// Fills the form posting to `action` and sends it (a real click on its submit button).
async fn submit(browser: &Client, action: &str, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let input = browser.find(Locator::Css(&format!("form[action='{action}'] [name='{name}']"))).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    click_to_load(browser, &format!("form[action='{action}'] button[type='submit']")).await;
}

async fn status(browser: &Client) -> String {
    text_of(browser, "[role='status']").await
}

async fn value_of(browser: &Client, css: &str) -> String {
    browser.find(Locator::Css(css)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
}

/// The account page's facts (username, email, nick, IRC, phone) once `needle` is among them,
/// reloading until then (a link opened elsewhere reaches the read model within moments).
async fn eventually_facts(browser: &Client, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let facts = text_of(browser, "dl.facts").await;
        if facts.contains(needle) {
            return facts;
        }
        assert!(tokio::time::Instant::now() < deadline, "{needle:?} did not show in the facts: {facts}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        browser.refresh().await.unwrap();
    }
}

/// Makes the page area (not the window around it) 390×844 CSS pixels, a phone's screen.
async fn phone_sized(browser: &Client) {
    let (width, height) = (390i64, 844i64);
    browser.set_window_size(width as u32, height as u32).await.unwrap();
    let inner = browser.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.unwrap();
    let (inner_width, inner_height) = (inner[0].as_i64().unwrap(), inner[1].as_i64().unwrap());
    let size = |want: i64, got: i64| (2 * want - got) as u32;
    browser.set_window_size(size(width, inner_width), size(height, inner_height)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nick_changes_on_the_profile_and_a_taken_one_is_refused_next_to_the_field() {
    let web = WebApp::spawn().await;
    let dora = member(&web, "dora").await;
    let erin = member(&web, "erin").await;
    let browser = Browser::start().await;
    let b = browser.client();
    open_account_page(&web, b, "dora").await;

    // Taken, in another case: refused next to the field (in the holder's spelling), what was
    // typed kept, nothing changed.
    submit(b, "/account/nick", &[("nick", "ERIN")]).await;
    let error = text_of(b, "#field-nick-error").await;
    assert_eq!(error, "Error: the nick erin is taken");
    assert_eq!(value_of(b, "#field-nick").await, "ERIN");
    assert_eq!(web.app.read.user(dora.user_id).await.unwrap().unwrap().nick, "dora");
    // Not a nick at all: the rule's own words.
    submit(b, "/account/nick", &[("nick", "9 lives")]).await;
    assert!(text_of(b, "#field-nick-error").await.contains("a nick is 1-20 letters"), "{}", text_of(b, "#field-nick-error").await);

    submit(b, "/account/nick", &[("nick", "Dorothy")]).await;
    assert_eq!(status(b).await, "Your nick is now Dorothy.");
    assert!(text_of(b, "dl.facts").await.contains("Dorothy"));
    assert_eq!(web.app.read.user(dora.user_id).await.unwrap().unwrap().nick, "Dorothy");
    // The old nick was given back (someone else may take it) and the new one is held.
    let viewer = api::auth::viewer_for_token(&web.app.read, &erin.token).await.unwrap();
    api::accounts::change_nick(&web.app, &viewer, "Dora").await.expect("dora is free again");
    let taken = api::accounts::change_nick(&web.app, &viewer, "dorothy").await.unwrap_err();
    assert_eq!(taken.message(), "the nick Dorothy is taken");

    // The home and account pages at a phone's size.
    phone_sized(b).await;
    b.goto(&web.url("/account")).await.unwrap();
    screenshot(b, "profile-phone").await;
    b.goto(&web.url("/")).await.unwrap();
    screenshot(b, "home-phone").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_email_address_is_confirmed_by_its_emailed_link_and_the_old_one_stays_until_then() {
    let web = WebApp::spawn().await;
    let fay = member(&web, "fay").await;
    let browser = Browser::start().await;
    let b = browser.client();
    open_account_page(&web, b, "fay").await;

    submit(b, "/account/email", &[("email", "fay@localhost")]).await;
    assert!(text_of(b, "#field-email-error").await.starts_with("Error: "));
    assert_eq!(value_of(b, "#field-email").await, "fay@localhost");

    submit(b, "/account/email", &[("email", "fay.new@example.org")]).await;
    assert_eq!(status(b).await, "We sent a link to fay.new@example.org. Open it to make it your address.");
    // Until the link is opened, the address is the old one.
    assert!(text_of(b, "dl.facts").await.contains("fay@example.org (confirmed)"));
    let hint = text_of(b, "#field-email-hint").await;
    assert!(hint.contains("A link was sent to fay.new@example.org") && hint.contains("stays fay@example.org"), "{hint}");
    let user = web.app.read.user(fay.user_id).await.unwrap().unwrap();
    assert_eq!(user.email.as_deref(), Some("fay@example.org"));
    screenshot(b, "email-change").await;

    b.goto(&web.emailed_link("fay.new@example.org", "/verify?token=")).await.unwrap();
    assert!(text_of(b, "[role='status']").await.contains("Your email address is confirmed"));
    b.goto(&web.url("/account")).await.unwrap();
    eventually_facts(b, "fay.new@example.org (confirmed)").await;
    // The same link works once.
    b.goto(&web.emailed_link("fay.new@example.org", "/verify?token=")).await.unwrap();
    assert!(text_of(b, "p.error").await.starts_with("Error: "));
    browser.close().await;
}

/// The code in the newest text Twilio was asked to send to `to`.
fn texted_code(twilio: &TwilioStandIn, to: &str) -> String {
    let text = twilio.sent().into_iter().rev().find(|s| s.to == to).unwrap_or_else(|| panic!("nothing was texted to {to}"));
    assert_eq!(text.from, VERIFICATION_NUMBER);
    assert_eq!(text.status_callback, None, "a code is no delivery: nothing reports on it");
    let code: String = text
        .body
        .split_whitespace()
        .find(|w| w.trim_end_matches('.').len() == 6 && w.trim_end_matches('.').bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {:?}", text.body))
        .trim_end_matches('.')
        .to_owned();
    code
}

/// A 6-digit code that is not `code`.
fn wrong(code: &str) -> String {
    let first = if code.starts_with('1') { '2' } else { '1' };
    format!("{first}{}", &code[1..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_number_is_verified_by_a_code_texted_through_twilio_and_wrong_codes_are_limited() {
    let twilio = TwilioStandIn::start().await;
    let web = WebApp::spawn_with_twilio(&twilio, VERIFICATION_NUMBER).await;
    let gus = member(&web, "gus").await;
    let browser = Browser::start().await;
    let b = browser.client();
    open_account_page(&web, b, "gus").await;

    // Typed as people write numbers; texted in E.164 from the verification number.
    submit(b, "/account/phone", &[("phone", "(415) 555-0134")]).await;
    assert_eq!(status(b).await, "We texted a code to +14155550134. Type it below.");
    let code = texted_code(&twilio, "+14155550134");
    let hint = text_of(b, "#field-code-hint").await;
    assert!(hint.starts_with("Texted to +14155550134") && hint.contains("takes 5 more wrong tries"), "{hint}");

    // A wrong code is refused next to the field and counted.
    submit(b, "/account/phone/verify", &[("code", &wrong(&code))]).await;
    assert_eq!(text_of(b, "#field-code-error").await, "Error: that code is not right; 4 tries left");
    assert_eq!(web.app.read.user(gus.user_id).await.unwrap().unwrap().phone, None);

    submit(b, "/account/phone/verify", &[("code", &code)]).await;
    assert_eq!(status(b).await, "Your phone number is verified: texts from it are yours.");
    assert!(text_of(b, "dl.facts").await.contains("+14155550134"));
    // The number is the account's: its reservation (what an inbound text is matched by) names
    // the account, and the user carries it.
    let (reservation, _) = web.app.executor.load::<PhoneReservation>(&StreamName::phone("+14155550134")).await.unwrap();
    assert_eq!(reservation.holder, Some(gus.user_id));
    assert_eq!(web.app.read.user(gus.user_id).await.unwrap().unwrap().phone.as_deref(), Some("+14155550134"));
    // Only the code's hash was stored.
    let client = web.app.store.pool().get().await.unwrap();
    let stored: i64 =
        client.query_one("SELECT count(*) FROM es_events WHERE payload::text LIKE '%' || $1 || '%'", &[&code]).await.unwrap().get(0);
    assert_eq!(stored, 0, "the code is in the log");

    // Another number: five wrong codes void the code, even the right one is refused after.
    submit(b, "/account/phone", &[("phone", "+1 415 555 0135")]).await;
    let code = texted_code(&twilio, "+14155550135");
    for left in (1..5).rev() {
        submit(b, "/account/phone/verify", &[("code", &wrong(&code))]).await;
        let expected = if left == 1 { "1 try left".to_owned() } else { format!("{left} tries left") };
        assert_eq!(text_of(b, "#field-code-error").await, format!("Error: that code is not right; {expected}"));
    }
    submit(b, "/account/phone/verify", &[("code", &wrong(&code))]).await;
    assert_eq!(text_of(b, "p.error").await, "Error: that code is not right, and it was the last try; ask for a new code");
    assert!(b.find_all(Locator::Css("form[action='/account/phone/verify']")).await.unwrap().is_empty(), "the void code's form stayed");
    let viewer = api::auth::viewer_for_token(&web.app.read, &gus.token).await.unwrap();
    let refused = api::accounts::verify_phone_code(&web.app, &viewer, &code).await.unwrap_err();
    assert_eq!(refused.message(), "no code is waiting to be typed; ask for a new one");
    assert!(text_of(b, "dl.facts").await.contains("+14155550134"), "the verified number stays");

    // Three codes an hour: the fourth is refused before anything is texted.
    submit(b, "/account/phone", &[("phone", "+1 415 555 0135")]).await;
    assert!(status(b).await.starts_with("We texted a code"));
    let texts = twilio.sent().len();
    submit(b, "/account/phone", &[("phone", "+1 415 555 0135")]).await;
    assert!(text_of(b, "#field-phone-error").await.starts_with("Error: too many codes texted; ask for a new one after"));
    assert_eq!(twilio.sent().len(), texts, "a refused request texted");
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
    screenshot(b, "phone-verification").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_that_is_someone_elses_is_refused_before_a_code_is_texted() {
    let twilio = TwilioStandIn::start().await;
    let web = WebApp::spawn_with_twilio(&twilio, VERIFICATION_NUMBER).await;
    let hal = member(&web, "hal").await;
    let ida = member(&web, "ida").await;
    let hal_viewer = api::auth::viewer_for_token(&web.app.read, &hal.token).await.unwrap();
    api::accounts::request_phone_code(&web.app, &hal_viewer, "+14155550136").await.unwrap();
    api::accounts::verify_phone_code(&web.app, &hal_viewer, &texted_code(&twilio, "+14155550136")).await.unwrap();

    let ida_viewer = api::auth::viewer_for_token(&web.app.read, &ida.token).await.unwrap();
    let texts = twilio.sent().len();
    let refused = api::accounts::request_phone_code(&web.app, &ida_viewer, "(415) 555-0136").await.unwrap_err();
    assert_eq!(refused.message(), "that phone number is already a member");
    assert_eq!(twilio.sent().len(), texts);
}
