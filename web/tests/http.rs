//! The web app over plain HTTP (no browser needed): CSRF refusals, the security headers, session
//! cookies, asset caching, and GraphiQL served without any other host.

mod support;

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, ETAG, IF_NONE_MATCH, SET_COOKIE};
use support::WebApp;

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The `name=value` part of a `Set-Cookie` for `name`, and the whole header.
fn cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find(|v| v.starts_with(&format!("{name}="))).map(
        |header| {
            let pair = header.split(';').next().unwrap().to_owned();
            (pair, header.to_owned())
        },
    )
}

/// The value of the hidden CSRF field in a page.
fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_with_a_wrong_one_is_refused() {
    let web = WebApp::spawn().await;
    let http = client();
    let page = http.get(web.url("/signup")).send().await.unwrap();
    let (visit, header) = cookie(&page, "sb_visit").expect("a visit cookie seeds the CSRF token");
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Lax"), "{header}");
    let token = csrf_in(&page.text().await.unwrap());
    let form = |csrf: Option<&str>| {
        let mut fields = vec![("username", "mallory"), ("email", "mallory@example.org"), ("password", support::PASSWORD)];
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf));
        }
        serde_urlencoded::to_string(fields).unwrap()
    };
    let post = |body: String| {
        http.post(web.url("/signup")).header("cookie", &visit).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };

    for refused in [form(None), form(Some("not-the-token"))] {
        let response = post(refused).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.text().await.unwrap().contains("This form has expired"));
    }
    // Another browser's token (another visit cookie) does not fit this one.
    let other = http.get(web.url("/signup")).send().await.unwrap();
    let other_token = csrf_in(&other.text().await.unwrap());
    assert_ne!(other_token, token);
    assert_eq!(post(form(Some(&other_token))).await.unwrap().status(), StatusCode::FORBIDDEN);
    // Nothing was created by the refused forms: the username is still free.
    let done = post(form(Some(&token))).await.unwrap();
    assert_eq!(done.status(), StatusCode::OK, "{}", done.text().await.unwrap());
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_a_session_cookie_is_http_only() {
    let web = WebApp::spawn().await;
    let http = client();
    let page = http.get(web.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers();
    let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains(" style="), "inline script or style in the page");

    // Sign up, verify and log in over HTTP: the session cookie is HttpOnly and SameSite=Lax.
    let signup = http.get(web.url("/signup")).send().await.unwrap();
    let (visit, _) = cookie(&signup, "sb_visit").unwrap();
    let token = csrf_in(&signup.text().await.unwrap());
    let form =
        serde_urlencoded::to_string([("username", "bob"), ("email", "bob@example.org"), ("password", support::PASSWORD), ("csrf", &token)])
            .unwrap();
    let send = |path: &str, body: String| {
        http.post(web.url(path)).header("cookie", &visit).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };
    assert_eq!(send("/signup", form).await.unwrap().status(), StatusCode::OK);
    let login = serde_urlencoded::to_string([("username", "bob"), ("password", support::PASSWORD), ("csrf", &token)]).unwrap();
    let logged_in = send("/login", login).await.unwrap();
    assert_eq!(logged_in.status(), StatusCode::SEE_OTHER);
    let (_, header) = cookie(&logged_in, "sb_session").expect("a session cookie");
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Lax") && header.contains("Path=/"), "{header}");
    assert!(!header.contains("Secure"), "plain http: no Secure flag ({header})");
}

#[tokio::test]
async fn assets_are_served_here_with_cache_headers() {
    let web = WebApp::spawn().await;
    let http = client();
    let html = http.get(web.url("/login")).send().await.unwrap().text().await.unwrap();
    let start = html.find("/assets/app.css?v=").expect("the stylesheet link");
    let url = &html[start..start + html[start..].find('"').unwrap()];
    let css = http.get(web.url(url)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
    let etag = css.headers()[ETAG].clone();
    // Without the current version the browser revalidates, and an unchanged file is a 304.
    let again = http.get(web.url("/assets/app.css")).header(IF_NONE_MATCH, etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(http.get(web.url("/assets/nothing.js")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn graphiql_references_no_other_host_and_its_assets_are_served_here() {
    let web = WebApp::spawn().await;
    let http = client();
    let page = http.get(web.url("/graphql")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    let mut assets = 0;
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let start = at + attribute.len();
            let url = &html[start..start + html[start..].find('"').unwrap()];
            assert!(url.starts_with('/') && !url.starts_with("//"), "GraphiQL loads {url} from elsewhere");
            let asset = http.get(web.url(url)).send().await.unwrap();
            assert_eq!(asset.status(), StatusCode::OK, "{url}");
            assets += 1;
        }
    }
    assert_eq!(assets, 6, "GraphiQL's stylesheet and five scripts");
    assert!(!html.contains("http://") && !html.contains("https://"), "an absolute URL in the GraphiQL page");
}

/// Signs up and logs in over HTTP: the cookies to send (visit and session) and the CSRF token
/// of the session's forms.
async fn signed_in(web: &WebApp, http: &reqwest::Client, username: &str) -> (String, String) {
    let signup = http.get(web.url("/signup")).send().await.unwrap();
    let (visit, _) = cookie(&signup, "sb_visit").unwrap();
    let token = csrf_in(&signup.text().await.unwrap());
    let email = format!("{username}@example.org");
    for (path, fields) in [
        ("/signup", vec![("username", username), ("email", email.as_str()), ("password", support::PASSWORD), ("csrf", &token)]),
        ("/login", vec![("username", username), ("password", support::PASSWORD), ("csrf", &token)]),
    ] {
        let response = http
            .post(web.url(path))
            .header("cookie", &visit)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
            .await
            .unwrap();
        if path == "/login" {
            let (session, _) = cookie(&response, "sb_session").expect("a session cookie");
            let cookies = format!("{visit}; {session}");
            let page = http.get(web.url("/irc")).header("cookie", &cookies).send().await.unwrap().text().await.unwrap();
            return (cookies, csrf_in(&page));
        }
    }
    unreachable!()
}

#[tokio::test]
async fn api_tokens_are_created_and_revoked_on_the_irc_page_and_a_verification_link_is_resent() {
    let web = WebApp::spawn().await;
    let http = client();
    let (cookies, csrf) = signed_in(&web, &http, "dave").await;
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let mut fields = fields;
        fields.push(("csrf", csrf.clone()));
        http.post(web.url(path))
            .header("cookie", &cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
    };

    let page = post("/tokens", vec![]).await.unwrap().text().await.unwrap();
    let start = page.find("id=\"api-token\">").expect("the new token, shown once") + "id=\"api-token\">".len();
    let secret = &page[start..start + page[start..].find('<').unwrap()];
    let viewer = api::auth::viewer_for_token(&web.app.read, secret).await.expect("the new token works");
    assert!(page.contains(&viewer.token_id.to_string()), "the new token is listed");
    assert!(page.contains("(this browser)"));

    let revoked = post("/tokens/revoke", vec![("token_id", viewer.token_id.to_string())]).await.unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(revoked.text().await.unwrap().contains("The token is revoked."));
    assert!(api::auth::viewer_for_token(&web.app.read, secret).await.is_err(), "a revoked token still works");

    // A new verification link replaces the first: only the newest one verifies.
    let first = web.emailed_link("dave@example.org", "/verify?token=");
    let resent = post("/verify/resend", vec![]).await.unwrap();
    assert!(resent.text().await.unwrap().contains("We sent you a new link"));
    let second = web.emailed_link("dave@example.org", "/verify?token=");
    assert_ne!(first, second);
    assert_eq!(http.get(&first).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    let verified = http.get(&second).send().await.unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    assert!(verified.text().await.unwrap().contains("Your email address is confirmed"));
}

#[tokio::test]
async fn the_desk_and_room_forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let web = WebApp::spawn().await;
    let http = client();
    // The first account is the superuser: every step below would run with its token.
    let (cookies, csrf) = signed_in(&web, &http, "erin").await;
    let admin = api::auth::viewer_for_token(&web.app.read, cookies.split("sb_session=").nth(1).unwrap()).await.unwrap();
    let metadata = domain::Metadata::new(domain::Actor::User(admin.user_id), domain::Gateway::Api);
    let new_room = api::rooms::NewRoom { name: "kept".into(), ..Default::default() };
    let (room, created) = api::rooms::create_room(&web.app, &admin, metadata, new_room).await.unwrap();
    api::moderation::caught_up(&web.app, created, &["rooms"]).await.unwrap();
    let head = store::EventStore::head(&web.app.store).await.unwrap();

    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/staff/rooms".into(), vec![("name", "forged"), ("irc_channel", "#forged")]),
        (format!("/staff/rooms/{room}/irc"), vec![("channel", "#forged")]),
        (format!("/staff/rooms/{room}/irc/unbind"), vec![]),
        (format!("/staff/rooms/{room}/sms"), vec![("number", "+15550100999")]),
        (format!("/staff/rooms/{room}/sms/unbind"), vec![]),
        (format!("/staff/rooms/{room}/say"), vec![("text", "forged")]),
        (format!("/rooms/{room}/ban-request"), vec![("nick", "somebody"), ("reason", "forged")]),
    ];
    for (path, fields) in &forms {
        for token in [None, Some("not-the-token")] {
            let mut fields = fields.clone();
            fields.extend(token.map(|t| ("csrf", t)));
            let response = http
                .post(web.url(path))
                .header("cookie", &cookies)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(&fields).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} with {token:?}");
            assert!(response.text().await.unwrap().contains("This form has expired"), "{path}");
        }
    }
    assert_eq!(store::EventStore::head(&web.app.store).await.unwrap(), head, "a refused form appended something");
    // With the token the same form works: the refusals were the token's.
    let response = http
        .post(web.url(&format!("/staff/rooms/{room}/say")))
        .header("cookie", &cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("text", "with its token"), ("csrf", csrf.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_ne!(store::EventStore::head(&web.app.store).await.unwrap(), head);
}
