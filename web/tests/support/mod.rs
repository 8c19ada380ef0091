//! The web app's test harness: a fresh database and the application as `switchboard serve`
//! wires it (`switchboard::Application`: projections, API and pages on one loopback port over
//! real HTTP), emails written to a temporary directory, optionally a real ngIRCd with the bot
//! connected and on `#lobby`, and optionally the SMS gateway sending to the Twilio stand-in.
//! Browsers come from `testkit::browser`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use api::{ApiSettings, App};
use switchboard::app::{Application, Parts};
use switchboard::settings::Settings;
use tempfile::TempDir;
use testkit::TestDatabase;
use testkit::irc::{IrcTestClient, Ngircd};

pub const PASSWORD: &str = "a long enough password";
pub const BOT: &str = "sbbot";
pub const CHANNEL: &str = "#lobby";
pub const WAIT: Duration = Duration::from_secs(10);
/// The auth token that signs the Twilio stand-in's webhooks and status callbacks.
pub const TWILIO_TOKEN: &str = testkit::twilio::AUTH_TOKEN;

pub struct WebApp {
    pub db: TestDatabase,
    pub app: Arc<App>,
    pub address: SocketAddr,
    pub mail_dir: TempDir,
    pub ircd: Option<Ngircd>,
    bot: Option<gateways::irc::bot::Bot>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl WebApp {
    /// The application without the IRC bot.
    pub async fn spawn() -> Self {
        Self::start(None).await
    }

    /// The application with a private ngIRCd, the bot connected and on `#lobby` (bound to the
    /// room `#lobby`).
    pub async fn spawn_with_irc() -> Self {
        Self::spawn_with_irc_and(|_, _| {}).await
    }

    /// As [`WebApp::spawn_with_irc`], with the SMS gateway (processor, bridge, sender) sending to
    /// `twilio` and accepting webhooks signed with [`TWILIO_TOKEN`].
    pub async fn spawn_with_irc_and_sms(twilio: &testkit::twilio::TwilioStandIn) -> Self {
        let base_url = twilio.base_url.clone();
        Self::spawn_with_irc_and(move |settings, parts| {
            settings.twilio.account_sid = Some(testkit::twilio::ACCOUNT_SID.into());
            settings.twilio.base_url = base_url;
            settings.twilio.messages_per_second = 0.0;
            settings.api.twilio_auth_token = Some(api::Hidden::new(TWILIO_TOKEN));
            (parts.sms, parts.sms_bridge, parts.sms_sender) = (true, true, true);
        })
        .await
    }

    async fn spawn_with_irc_and(adjust: impl FnOnce(&mut Settings, &mut Parts)) -> Self {
        let ircd = Ngircd::start().await.expect("ngircd starts");
        let app = Self::start_with(Some(ircd), adjust).await;
        let bot = app.bot.clone().expect("the bot runs");
        let deadline = tokio::time::Instant::now() + WAIT;
        while !bot.has_joined(CHANNEL) {
            assert!(tokio::time::Instant::now() < deadline, "the bot did not join {CHANNEL}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app
    }

    /// The application without the IRC bot, texting through `twilio` (the contract-checking
    /// stand-in): phone codes come from `verification_number`.
    pub async fn spawn_with_twilio(twilio: &testkit::twilio::TwilioStandIn, verification_number: &str) -> Self {
        Self::start_with(None, |settings, _| {
            settings.twilio.account_sid = Some(testkit::twilio::ACCOUNT_SID.into());
            settings.twilio.base_url = twilio.base_url.clone();
            settings.twilio.verification_number = Some(verification_number.into());
            settings.api.twilio_auth_token = Some(api::Hidden::new(testkit::twilio::AUTH_TOKEN));
        })
        .await
    }

    async fn start(ircd: Option<Ngircd>) -> Self {
        Self::start_with(ircd, |_, _| {}).await
    }

    async fn start_with(ircd: Option<Ngircd>, adjust: impl FnOnce(&mut Settings, &mut Parts)) -> Self {
        let db = TestDatabase::create().await;
        let mail_dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.server.listen = "127.0.0.1:0".parse().unwrap();
        settings.api = ApiSettings { mail: api::mail::MailSettings::File { dir: mail_dir.path().to_owned() }, ..Default::default() };
        settings.projections.poll_interval_ms = 50;
        settings.projections.standby_retry_ms = 200;
        let mut parts = Parts::API_ONLY;
        if let Some(ircd) = &ircd {
            settings.irc.server = Some("127.0.0.1".into());
            settings.irc.port = ircd.port();
            settings.irc.nick = BOT.into();
            settings.irc.demo_channel = Some(CHANNEL.into());
            parts.irc = true;
        }
        adjust(&mut settings, &mut parts);
        let application = Application::build_parts(&settings, db.config.clone(), parts).await.unwrap_or_else(|e| panic!("{e:#}"));
        let (app, address, bot) = (application.api().clone(), application.address(), application.irc_bot().cloned());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(application.run_until(async move {
            let _ = rx.await;
        }));
        let web = Self { db, app, address, mail_dir, ircd, bot, shutdown: Some(tx) };
        web.wait_until_ready().await;
        web
    }

    async fn wait_until_ready(&self) {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the app did not become ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The newest email to `address` (lettre's `.eml` files; quoted-printable soft breaks undone).
    pub fn last_email(&self, address: &str) -> String {
        let mut newest: Option<(std::time::SystemTime, String)> = None;
        for entry in std::fs::read_dir(self.mail_dir.path()).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            if !text.contains(&format!("To: {address}")) {
                continue;
            }
            let modified = entry.metadata().unwrap().modified().unwrap();
            if newest.as_ref().is_none_or(|(t, _)| modified >= *t) {
                newest = Some((modified, text));
            }
        }
        let text = newest.unwrap_or_else(|| panic!("no email to {address}")).1;
        text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
    }

    /// The link in the newest email to `address` whose path starts with `path` (e.g.
    /// `/verify?token=`), pointed at this test server.
    pub fn emailed_link(&self, address: &str, path: &str) -> String {
        let email = self.last_email(address);
        let start = email.find(path).unwrap_or_else(|| panic!("no {path} link in the email:\n{email}"));
        let end = email[start..].find(|c: char| c.is_whitespace()).map_or(email.len(), |e| e + start);
        self.url(&email[start..end])
    }

    pub async fn irc_client(&self, nick: &str) -> IrcTestClient {
        let ircd = self.ircd.as_ref().expect("started with IRC");
        IrcTestClient::connect(ircd.port(), nick).await.expect("an IRC client connects")
    }
}

/// An account with a confirmed email address, logged in (the first one on a fresh install is
/// the superuser).
pub async fn member(web: &WebApp, username: &str) -> api::accounts::LoggedIn {
    let email = format!("{username}@example.org");
    let account = api::accounts::NewAccount { username: username.into(), email: email.clone(), password: PASSWORD.into(), nick: None };
    api::accounts::sign_up(&web.app, account, None).await.unwrap_or_else(|e| panic!("sign-up of {username}: {e:?}"));
    let link = web.emailed_link(&email, "/verify?token=");
    let token = link.split("token=").nth(1).unwrap();
    api::accounts::verify_email(&web.app, token).await.unwrap();
    api::accounts::log_in(&web.app, username, PASSWORD, None).await.unwrap()
}

/// Logs the browser in on the log-in page as `username`.
pub async fn sign_in(web: &WebApp, browser: &fantoccini::Client, username: &str) {
    use fantoccini::Locator;
    browser.goto(&web.url("/login")).await.unwrap();
    for (name, value) in [("username", username), ("password", PASSWORD)] {
        browser.find(Locator::Css(&format!("form[action='/login'] [name='{name}']"))).await.unwrap().send_keys(value).await.unwrap();
    }
    click_to_load(browser, "form[action='/login'] button[type='submit']").await;
}

/// Registers and logs an IRC client in with tokens, as the IRC page hands them out.
pub async fn log_in_on_irc(web: &WebApp, irc: &mut IrcTestClient, session: &api::accounts::LoggedIn) {
    for purpose in [domain::events::TokenPurpose::Register, domain::events::TokenPurpose::Login] {
        let token = api::accounts::issue_irc_token(&web.app, session.user_id, purpose).await.unwrap();
        irc.privmsg(BOT, &token.command()).await.unwrap();
        irc.expect_privmsg_from(BOT, WAIT).await.unwrap();
    }
}

/// The room bound to `channel`, once the rooms read model has the binding.
pub async fn room_of_channel(web: &WebApp, channel: &str) -> uuid::Uuid {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let channels = web.app.read.irc_channels().await.unwrap();
        if let Some(bound) = channels.iter().find(|c| c.channel.eq_ignore_ascii_case(channel)) {
            return bound.room_id;
        }
        assert!(tokio::time::Instant::now() < deadline, "no room is bound to {channel}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for WebApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Clicks something that loads a new page, and waits until the new page is there (the old
/// document's elements go stale).
pub async fn click_to_load(browser: &fantoccini::Client, css: &str) {
    use fantoccini::Locator;
    let old = browser.find(Locator::Css("html")).await.unwrap();
    browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while old.tag_name().await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "clicking {css} loaded no new page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text of the first `css` element, once there is one (at most [`WAIT`]).
pub async fn text_of(browser: &fantoccini::Client, css: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let element = browser.wait().at_most(WAIT).for_element(fantoccini::Locator::Css(css)).await;
        match element.unwrap_or_else(|e| panic!("no {css}: {e}")).text().await {
            Ok(text) => return text,
            // The page was replaced between finding the element and reading it (a redirect, a
            // script's navigation): read it again from the new page.
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference && tokio::time::Instant::now() < deadline => {}
            Err(e) => panic!("reading {css}: {e}"),
        }
    }
}

/// Writes a screenshot of the page as `<name>.png`: into `docs/screenshots/` (the README's
/// pictures) when `UPDATE_SCREENSHOTS=1`, else beside the test's build output, so a test run
/// leaves the working tree as it was.
pub async fn screenshot(browser: &fantoccini::Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
    } else {
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}
