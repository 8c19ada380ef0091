//! The web app in a real headless Chromium (WebDriver), against a real `serve` on loopback with
//! real PostgreSQL and a real ngIRCd. Each test takes screenshots of the pages it passes through
//! (`UPDATE_SCREENSHOTS=1` writes them to `docs/screenshots/`, linked from the README).

mod support;

use fantoccini::{Client, Locator};
use support::{BOT, CHANNEL, PASSWORD, WAIT, WebApp, click_to_load, screenshot, text_of};
use testkit::browser::Browser;

async fn body_text(browser: &Client) -> String {
    text_of(browser, "body").await
}

/// The text of `css` once it contains `needle`, reloading the page until then (the read
/// models catch up within moments).
async fn eventually_text(browser: &Client, css: &str, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = text_of(browser, css).await;
        if text.contains(needle) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{needle:?} did not show in {css}: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        browser.refresh().await.unwrap();
    }
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

async fn sign_up_and_log_in(web: &WebApp, browser: &Client, username: &str, shots: bool) {
    let email = format!("{username}@example.org");
    browser.goto(&web.url("/signup")).await.unwrap();
    if shots {
        screenshot(browser, "sign-up").await;
    }
    submit(browser, "/signup", &[("username", username), ("email", &email), ("password", PASSWORD)]).await;
    assert!(body_text(browser).await.contains("We sent a link to"), "{}", body_text(browser).await);

    browser.goto(&web.emailed_link(&email, "/verify?token=")).await.unwrap();
    assert!(body_text(browser).await.contains("Your email address is confirmed"), "{}", body_text(browser).await);
    if shots {
        screenshot(browser, "verified").await;
    }

    browser.goto(&web.url("/login")).await.unwrap();
    submit(browser, "/login", &[("username", username), ("password", PASSWORD)]).await;
    let heading = text_of(browser, "h1").await;
    assert_eq!(heading, "IRC and API tokens", "logging in leads to the IRC page");
}

/// Clicks one of the IRC page's token buttons and reads the line to paste.
async fn issue_irc_token(browser: &Client, purpose: &str) -> String {
    browser
        .find(Locator::Css(&format!("form[action='/irc/token'] input[value='{purpose}'] ~ button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let line = text_of(browser, "#irc-line").await;
    assert!(line.starts_with(&format!("/msg {BOT} .{purpose} irc_")), "{line}");
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_verify_log_in_and_use_an_irc_token_then_end_the_session_from_the_web() {
    let web = WebApp::spawn_with_irc().await;
    let browser = Browser::start().await;
    let b = browser.client();
    sign_up_and_log_in(&web, b, "alice", true).await;

    let mut irc = web.irc_client("alice").await;
    irc.join(CHANNEL).await.unwrap();

    // Register the nick once, then log in, each with a token pasted from the page.
    let line = issue_irc_token(b, "register").await;
    let command = line.trim_start_matches(&format!("/msg {BOT} "));
    irc.privmsg(BOT, command).await.unwrap();
    let reply = irc.expect_privmsg_from(BOT, WAIT).await.unwrap();
    assert!(reply.trailing().unwrap().starts_with("registered: alice is now yours"), "{reply:?}");

    let line = issue_irc_token(b, "login").await;
    // The countdown shows (a small local script).
    assert!(text_of(b, ".countdown").await.contains("left"));
    screenshot(b, "irc-token").await;
    irc.privmsg(BOT, line.trim_start_matches(&format!("/msg {BOT} "))).await.unwrap();
    let reply = irc.expect_privmsg_from(BOT, WAIT).await.unwrap();
    assert!(reply.trailing().unwrap().starts_with("logged in as alice"), "{reply:?}");

    // The IRC page lists the live session…
    b.goto(&web.url("/irc")).await.unwrap();
    // The session is the bot's write, not this visitor's: reload until the read model has it
    // (in the sessions section: the registered mask above it says "alice!" too).
    eventually_text(b, "section[aria-labelledby='irc-sessions']", "alice!").await;
    let sessions = text_of(b, "ul.sessions").await;
    assert!(sessions.contains("alice!"), "{sessions}");
    screenshot(b, "irc-sessions").await;

    // What is said on IRC shows on the room's page as text, however it is written.
    let attack = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\"> & hi";
    irc.privmsg(CHANNEL, attack).await.unwrap();
    b.goto(&web.url("/")).await.unwrap();
    click_to_load(b, "table.rooms a").await;
    eventually_text(b, "ol.messages", attack).await;
    let pwned = b.execute("return window.pwned === undefined ? null : window.pwned;", vec![]).await.unwrap();
    assert_eq!(pwned, serde_json::Value::Null, "an injected script ran");
    assert!(b.find_all(Locator::Css("ol.messages img")).await.unwrap().is_empty(), "the message became markup");
    screenshot(b, "room").await;
    // `.seen` from the web: where alice spoke last, the words as text.
    b.goto(&web.url("/lookup?nick=alice")).await.unwrap();
    let sighting = eventually_text(b, "[role='status']", "lobby").await;
    assert!(sighting.starts_with("alice was last seen"), "{sighting}");
    assert!(b.find_all(Locator::Css(".sighting img")).await.unwrap().is_empty(), "the message became markup");

    // …and "End session" logs it out on IRC.
    b.goto(&web.url("/irc")).await.unwrap();
    click_to_load(b, "form[action='/irc/sessions/end'] button").await;
    assert!(body_text(b).await.contains("The IRC session is ended."));
    assert!(body_text(b).await.contains("You are not logged in on IRC."));
    let notice = irc.expect_notice_from(BOT, WAIT).await.unwrap();
    assert_eq!(notice.trailing(), Some("your session was ended from the web; log in again with a new token"));
    irc.privmsg(BOT, ".status").await.unwrap();
    let status = irc.expect_privmsg_from(BOT, WAIT).await.unwrap();
    assert!(status.trailing().unwrap().contains("not logged in"), "{status:?}");

    // Logging out ends the browser's session: its token no longer opens the IRC page.
    click_to_load(b, "form[action='/logout'] button").await;
    b.goto(&web.url("/irc")).await.unwrap();
    assert_eq!(text_of(b, "h1").await, "Log in");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_supplied_text_shows_as_text_and_field_errors_sit_next_to_their_field() {
    let web = WebApp::spawn().await;
    let browser = Browser::start().await;
    let b = browser.client();
    b.goto(&web.url("/signup")).await.unwrap();
    let attack = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">";
    submit(b, "/signup", &[("username", attack), ("email", "not an email"), ("password", "short"), ("nick", attack)]).await;
    // Each field says what is wrong with it, in words, next to it.
    for field in ["username", "email", "password", "nick"] {
        let error = text_of(b, &format!("#field-{field}-error")).await;
        assert!(error.starts_with("Error: "), "{field}: {error}");
    }
    // What was typed comes back as the field's value, as text: nothing ran.
    let value = b.find(Locator::Css("#field-nick")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(value.as_deref(), Some(attack));
    let pwned = b.execute("return window.pwned === undefined ? null : window.pwned;", vec![]).await.unwrap();
    assert_eq!(pwned, serde_json::Value::Null, "an injected script ran");
    screenshot(b, "sign-up-errors").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_link_sets_a_new_password_once_and_ends_every_session_then_the_account_is_closed() {
    let web = WebApp::spawn().await;
    let browser = Browser::start().await;
    let b = browser.client();
    sign_up_and_log_in(&web, b, "carol", false).await;
    // A second session, elsewhere (an API client holding a token from logIn).
    let other = api::accounts::log_in(&web.app, "carol", PASSWORD, None).await.unwrap();
    assert!(api::auth::viewer_for_token(&web.app.read, &other.token).await.is_ok());

    click_to_load(b, "form[action='/logout'] button").await;
    b.goto(&web.url("/login")).await.unwrap();
    click_to_load(b, "a[href='/password/forgot']").await;
    submit(b, "/password/forgot", &[("username", "carol")]).await;
    assert!(body_text(b).await.contains("If that account exists, we sent a link"));
    let link = web.emailed_link("carol@example.org", "/reset?token=");

    b.goto(&link).await.unwrap();
    screenshot(b, "password-reset").await;
    let new_password = "an entirely new passphrase";
    submit(b, "/reset", &[("password", new_password)]).await;
    assert!(body_text(b).await.contains("Your new password is set"), "{}", body_text(b).await);
    // Every other session is over; the link works once.
    assert!(api::auth::viewer_for_token(&web.app.read, &other.token).await.is_err(), "the other session survived the reset");
    b.goto(&link).await.unwrap();
    submit(b, "/reset", &[("password", "yet another new passphrase")]).await;
    assert!(text_of(b, "#field-password-error").await.contains("not valid"));

    // The old password no longer works; the new one does.
    b.goto(&web.url("/login")).await.unwrap();
    submit(b, "/login", &[("username", "carol"), ("password", PASSWORD)]).await;
    assert!(text_of(b, "p.error").await.contains("wrong username or password"));
    submit(b, "/login", &[("username", "carol"), ("password", new_password)]).await;
    assert_eq!(text_of(b, "h1").await, "IRC and API tokens");

    // The profile: an about text (shown as text) and privacy.
    b.goto(&web.url("/account")).await.unwrap();
    let about = "I like <b>trains</b> & \"quotes\"";
    b.find(Locator::Css("#field-about")).await.unwrap().send_keys(about).await.unwrap();
    b.find(Locator::Css("input[name='private']")).await.unwrap().click().await.unwrap();
    click_to_load(b, "form[action='/account/profile'] button").await;
    assert!(body_text(b).await.contains("Your profile is saved."));
    let user = web.app.read.user(other.user_id).await.unwrap().unwrap();
    assert_eq!((user.about.as_deref(), user.private), (Some(about), false));
    let shown = b.find(Locator::Css("#field-about")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(shown.as_deref(), Some(about));
    screenshot(b, "account").await;

    // Delete my account: the session ends and nobody logs in again.
    submit(b, "/account/delete", &[("confirm", "carol")]).await;
    assert!(body_text(b).await.contains("Your account is closed"));
    b.goto(&web.url("/login")).await.unwrap();
    submit(b, "/login", &[("username", "carol"), ("password", new_password)]).await;
    assert!(text_of(b, "p.error").await.contains("this account is closed"), "{}", body_text(b).await);
    browser.close().await;
}
