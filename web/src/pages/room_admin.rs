//! The desk's room steps, for staff (level 4) and superusers: create a room, bind and unbind
//! its IRC channel (the bot joins or parts it) and its SMS number, and say something in it as
//! the bot (it reaches the channel and the room's SMS members).
//!
//! Every step is a function of [`api::rooms`], the same one the GraphQL mutation calls, so the
//! level check and the input rules happen there, once. The forms sit on the desk
//! ([`create_form`] on `/staff`, [`room_sections`] on each room's desk page); after a step the
//! page waits until the rooms read model has it, then sends the browser back
//! (post/redirect/get) so a reload repeats nothing.

use axum::extract::{Path, State};
use axum::response::Redirect;
use domain::{Actor, Gateway, Metadata};
use maud::{Markup, html};
use projections::queries::RoomRow;
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::csrf::CsrfForm;
use crate::error::PageError;
use crate::layout::{self, Field, field};
use crate::session::{SignedIn, Visitor};

fn metadata(signed_in: &SignedIn) -> Metadata {
    Metadata::new(Actor::User(signed_in.viewer.user_id), Gateway::Api)
}

/// The "create a room" form on the desk.
pub fn create_form(visitor: &Visitor) -> Markup {
    html! {
        details.create-room {
            summary { "Create a room" }
            form method="post" action="/staff/rooms" {
                (layout::csrf_field(visitor))
                (field(Field { hint: Some("1-64 characters."), ..Field::new("name", "Name") }))
                (field(Field { required: false, hint: Some("e.g. #lobby; the bot joins it. Empty: no IRC channel."), ..Field::new("irc_channel", "IRC channel") }))
                (field(Field { required: false, hint: Some("The channel's +k key, if it has one."), ..Field::new("irc_key", "Channel key") }))
                (field(Field { kind: "tel", required: false, hint: Some("A Twilio number in E.164 form, e.g. +15550100. Empty: no SMS."), ..Field::new("sms_number", "SMS number") }))
                div.field.check {
                    label { input type="checkbox" name="configure_twilio" value="true"; " Point the number's texts here in Twilio" }
                }
                div.field.check {
                    label { input type="checkbox" name="invite_only" value="true"; " Invite only" }
                }
                button type="submit" { "Create" }
            }
        }
    }
}

/// The bindings and "say as the bot" sections of a room's desk page.
pub fn room_sections(visitor: &Visitor, room: &RoomRow) -> Markup {
    let action = |what: &str| format!("/staff/rooms/{}/{what}", room.room_id);
    html! {
        section aria-labelledby="bindings" {
            h2 id="bindings" { "Channel and number" }
            h3 { "IRC" }
            @match &room.irc_channel {
                Some(channel) => {
                    p.bound-channel { "Bound to " code { (channel) } "." }
                    form method="post" action=(action("irc/unbind")) {
                        (layout::csrf_field(visitor))
                        button.danger type="submit" { "Unbind " (channel) }
                    }
                }
                None => {
                    p.bound-channel { "No IRC channel." }
                    form method="post" action=(action("irc")) {
                        (layout::csrf_field(visitor))
                        (field(Field { hint: Some("e.g. #lobby; the bot joins it."), ..Field::new("channel", "IRC channel") }))
                        (field(Field { required: false, hint: Some("The channel's +k key, if it has one."), ..Field::new("key", "Channel key") }))
                        button type="submit" { "Bind channel" }
                    }
                }
            }
            h3 { "SMS" }
            @match &room.sms_number {
                Some(number) => {
                    p.bound-number { "Bound to " code { (number) } ". " a href={ "/staff/deliveries?room=" (room.room_id) } { "Deliveries" } }
                    form method="post" action=(action("sms/unbind")) {
                        (layout::csrf_field(visitor))
                        button.danger type="submit" { "Unbind " (number) }
                    }
                }
                None => {
                    p.bound-number { "No SMS number." }
                    form method="post" action=(action("sms")) {
                        (layout::csrf_field(visitor))
                        (field(Field { kind: "tel", hint: Some("A Twilio number in E.164 form, e.g. +15550100."), ..Field::new("number", "SMS number") }))
                        div.field.check {
                            label { input type="checkbox" name="configure_twilio" value="true"; " Point its texts here in Twilio" }
                        }
                        button type="submit" { "Bind number" }
                    }
                }
            }
        }
        section aria-labelledby="say" {
            h2 id="say" { "Say as the bot" }
            form method="post" action=(action("say")) {
                (layout::csrf_field(visitor))
                (field(Field { hint: Some("Sent to the channel and to the room's SMS members."), ..Field::new("text", "Message") }))
                div.field.check {
                    label { input type="checkbox" name="action" value="true"; " As an action (/me)" }
                }
                button type="submit" { "Send" }
            }
        }
    }
}

/// An HTML checkbox: present (`true`) when ticked, absent otherwise.
fn ticked(value: &Option<String>) -> bool {
    value.as_deref() == Some("true")
}

fn typed(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

#[derive(Debug, Deserialize)]
pub struct CreateRoomForm {
    name: String,
    #[serde(default)]
    irc_channel: String,
    #[serde(default)]
    irc_key: String,
    #[serde(default)]
    sms_number: String,
    invite_only: Option<String>,
    configure_twilio: Option<String>,
}

pub async fn create(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<CreateRoomForm>,
) -> Result<Redirect, PageError> {
    let new_room = api::rooms::NewRoom {
        name: form.name,
        invite_only: ticked(&form.invite_only),
        irc_channel: typed(&form.irc_channel),
        irc_key: typed(&form.irc_key),
        sms_number: typed(&form.sms_number),
        configure_twilio: ticked(&form.configure_twilio),
    };
    let (room, done) = api::rooms::create_room(&state.app, &signed_in.viewer, metadata(&signed_in), new_room).await?;
    back_to_room(&state, room, done).await
}

/// Back to the room's desk once the read model has the step.
async fn back_to_room(state: &WebState, room: Uuid, done: api::accounts::Applied) -> Result<Redirect, PageError> {
    api::moderation::caught_up(&state.app, done, &["rooms"]).await?;
    Ok(Redirect::to(&format!("/staff/rooms/{room}")))
}

#[derive(Debug, Deserialize)]
pub struct ChannelForm {
    channel: String,
    #[serde(default)]
    key: String,
}

pub async fn bind_channel(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(form): CsrfForm<ChannelForm>,
) -> Result<Redirect, PageError> {
    let key = typed(&form.key);
    let done =
        api::rooms::bind_irc_channel(&state.app, &signed_in.viewer, metadata(&signed_in), room, &form.channel, key.as_deref()).await?;
    back_to_room(&state, room, done).await
}

/// A form with nothing but its CSRF token (the unbind buttons).
#[derive(Debug, Deserialize)]
pub struct EmptyForm {}

pub async fn unbind_channel(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Redirect, PageError> {
    let done = api::rooms::unbind_irc_channel(&state.app, &signed_in.viewer, metadata(&signed_in), room).await?;
    back_to_room(&state, room, done).await
}

#[derive(Debug, Deserialize)]
pub struct NumberForm {
    number: String,
    configure_twilio: Option<String>,
}

pub async fn bind_number(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(form): CsrfForm<NumberForm>,
) -> Result<Redirect, PageError> {
    let done = api::rooms::bind_sms_number(
        &state.app,
        &signed_in.viewer,
        metadata(&signed_in),
        room,
        &form.number,
        ticked(&form.configure_twilio),
    )
    .await?;
    back_to_room(&state, room, done).await
}

pub async fn unbind_number(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<Redirect, PageError> {
    let done = api::rooms::unbind_sms_number(&state.app, &signed_in.viewer, metadata(&signed_in), room).await?;
    back_to_room(&state, room, done).await
}

#[derive(Debug, Deserialize)]
pub struct SayForm {
    text: String,
    action: Option<String>,
}

pub async fn say(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(form): CsrfForm<SayForm>,
) -> Result<Redirect, PageError> {
    let (app, viewer) = (&state.app, &signed_in.viewer);
    let done = api::rooms::send_as_bot(app, viewer, metadata(&signed_in), room, &form.text, ticked(&form.action)).await?;
    back_to_room(&state, room, done).await
}
