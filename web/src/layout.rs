//! The page frame every page shares (head, navigation, main, footer) and the form pieces
//! (labelled fields with their error next to them, the CSRF field). maud escapes every
//! interpolated value, so user-supplied text (nicks, messages, about texts) is always text.

use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::session::Visitor;

/// A whole page: `title` in the tab and as the main heading, `body` below it.
pub fn page(visitor: &Visitor, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Switchboard" }
                link rel="stylesheet" href=(assets::url("app.css"));
                script src=(assets::url("app.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Main" {
                        a.brand href="/" { "Switchboard" }
                        @if let Some(viewer) = &visitor.viewer {
                            a href="/irc" { "IRC & tokens" }
                            a href="/lookup" { "Look up" }
                            a href="/account" { "Account" }
                            @if viewer.level >= domain::Level::Staff { a href="/staff" { "Moderation" } }
                            @if viewer.level >= api::audit::LIVE_LEVEL { a href="/live" { "Live log" } }
                            span.who { "Signed in as " strong { (viewer.nick) } }
                            form.inline method="post" action="/logout" {
                                (csrf_field(visitor))
                                button type="submit" { "Log out" }
                            }
                        } @else {
                            a href="/login" { "Log in" }
                            a href="/signup" { "Sign up" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                footer { p { "Switchboard: chat rooms on IRC and SMS. " a href="/graphql" { "GraphQL API" } } }
            }
        }
    }
}

/// The hidden field every form starts with.
pub fn csrf_field(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name=(crate::csrf::FIELD) value=(visitor.csrf_token()); }
}

/// A text-like input field.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    /// `text`, `email`, `password`, `tel` …
    pub kind: &'a str,
    pub value: &'a str,
    pub error: Option<&'a str>,
    /// What the browser may fill in (`username`, `new-password` …).
    pub autocomplete: &'a str,
    pub hint: Option<&'a str>,
    pub required: bool,
}

impl<'a> Field<'a> {
    pub fn new(name: &'a str, label: &'a str) -> Self {
        Self { name, label, kind: "text", value: "", error: None, autocomplete: "off", hint: None, required: true }
    }
}

/// A labelled field; its error (if any) next to it, in words, tied to it for screen readers.
pub fn field(f: Field<'_>) -> Markup {
    let id = format!("field-{}", f.name);
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = match (f.error.is_some(), f.hint.is_some()) {
        (true, true) => format!("{error_id} {hint_id}"),
        (true, false) => error_id.clone(),
        (false, true) => hint_id.clone(),
        (false, false) => String::new(),
    };
    html! {
        div.field.invalid[f.error.is_some()] {
            label for=(id) { (f.label) }
            @if let Some(hint) = f.hint { small.hint id=(hint_id) { (hint) } }
            input id=(id) name=(f.name) type=(f.kind) value=(f.value) autocomplete=(f.autocomplete)
                required[f.required] aria-invalid=[f.error.map(|_| "true")]
                aria-describedby=[(!described.is_empty()).then_some(described.as_str())];
            @if let Some(error) = f.error { p.error id=(error_id) { "Error: " (error) } }
        }
    }
}

/// A message at the top of a form: what went wrong that is not about one field.
pub fn form_error(error: Option<&str>) -> Markup {
    html! { @if let Some(error) = error { p.error role="alert" { "Error: " (error) } } }
}

/// A confirmation after something worked.
pub fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}
