//! The room steps GraphQL and the web desk share: create a room, bind and unbind its IRC
//! channel and SMS number, make it invite-only, and speak in it as the bot. Each step checks the
//! caller's level here, once for every way in (staff), parses its inputs with the domain's
//! value types, and runs the room's command; the bot joins or parts a channel when the relay
//! sees the binding change, and the bot's words reach IRC and SMS members the same way.

use domain::{
    DisplayNick, IrcChannel, Level, MessageBody, Metadata, PhoneNumber, Room, RoomCommand, RoomName, Speaker, StreamName,
    events::MessageKind,
};
use uuid::Uuid;

use crate::App;
use crate::accounts::{Applied, applied};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::moderation::room_command;

/// A room to create, as typed: empty bindings are none.
#[derive(Debug, Clone, Default)]
pub struct NewRoom {
    pub name: String,
    pub invite_only: bool,
    /// Bind to this IRC channel (e.g. `#lobby`).
    pub irc_channel: Option<String>,
    /// The channel key (`+k`), if it has one.
    pub irc_key: Option<String>,
    /// Bind to this Twilio number (E.164).
    pub sms_number: Option<String>,
    /// Also point the number's incoming texts at this server in the Twilio account.
    pub configure_twilio: bool,
}

/// Text that was typed, or nothing when it is empty.
fn given(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// Creates a room, bound to an IRC channel and/or an SMS number when given. Staff. Returns the
/// new room's id.
pub async fn create_room(app: &App, viewer: &Viewer, metadata: Metadata, input: NewRoom) -> ApiResult<(Uuid, Applied)> {
    viewer.require(Level::Staff, "creating rooms")?;
    let name = RoomName::parse(input.name.trim())?;
    let channel = given(input.irc_channel.as_deref()).map(IrcChannel::parse).transpose()?;
    let number = given(input.sms_number.as_deref()).map(PhoneNumber::parse).transpose()?;
    let key = check_channel_key(input.irc_key.as_deref())?;
    let room_id = Uuid::now_v7();
    if let Some(channel) = &channel {
        ensure_channel_free(app, channel, room_id).await?;
    }
    if let Some(number) = &number {
        ensure_number_free(app, number, room_id).await?;
        if input.configure_twilio {
            point_twilio_here(app, number).await?;
        }
    }
    let stream = StreamName::room(room_id);
    let caller_level = viewer.level;
    let create = RoomCommand::Create { room_id, name, invite_only: input.invite_only, caller_level };
    let mut done = app.executor.execute::<Room>(&stream, &create, metadata.clone()).await?;
    let mut events = done.events.len();
    if let Some(channel) = channel {
        let bound =
            app.executor.execute::<Room>(&stream, &RoomCommand::BindIrcChannel { channel, key, caller_level }, metadata.clone()).await?;
        events += bound.events.len();
        done.appended = bound.appended.or(done.appended);
    }
    if let Some(number) = number {
        let bound = app.executor.execute::<Room>(&stream, &RoomCommand::BindSmsNumber { number, caller_level }, metadata).await?;
        events += bound.events.len();
        done.appended = bound.appended.or(done.appended);
    }
    Ok((room_id, applied(app, done.appended.map(|a| a.position), events).await?))
}

/// Binds a room to an IRC channel (a channel belongs to one room); the bot joins it. Staff.
pub async fn bind_irc_channel(
    app: &App,
    viewer: &Viewer,
    metadata: Metadata,
    room: Uuid,
    channel: &str,
    key: Option<&str>,
) -> ApiResult<Applied> {
    viewer.require(Level::Staff, "binding rooms")?;
    let channel = IrcChannel::parse(channel.trim())?;
    let key = check_channel_key(key)?;
    existing_room(app, room).await?;
    ensure_channel_free(app, &channel, room).await?;
    room_command(app, room, RoomCommand::BindIrcChannel { channel, key, caller_level: viewer.level }, metadata).await
}

/// Unbinds a room from its IRC channel; the bot parts it. Staff.
pub async fn unbind_irc_channel(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid) -> ApiResult<Applied> {
    viewer.require(Level::Staff, "binding rooms")?;
    room_command(app, room, RoomCommand::UnbindIrcChannel { caller_level: viewer.level }, metadata).await
}

/// Binds a room to a Twilio number (a number belongs to one room). Staff.
/// With `configure_twilio`, first points the number's incoming texts at this server in the
/// Twilio account (nothing is bound when Twilio refuses).
pub async fn bind_sms_number(
    app: &App,
    viewer: &Viewer,
    metadata: Metadata,
    room: Uuid,
    number: &str,
    configure_twilio: bool,
) -> ApiResult<Applied> {
    viewer.require(Level::Staff, "binding rooms")?;
    let number = PhoneNumber::parse(number.trim())?;
    existing_room(app, room).await?;
    ensure_number_free(app, &number, room).await?;
    if configure_twilio {
        point_twilio_here(app, &number).await?;
    }
    room_command(app, room, RoomCommand::BindSmsNumber { number, caller_level: viewer.level }, metadata).await
}

/// Unbinds a room from its Twilio number. Staff.
pub async fn unbind_sms_number(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid) -> ApiResult<Applied> {
    viewer.require(Level::Staff, "binding rooms")?;
    room_command(app, room, RoomCommand::UnbindSmsNumber { caller_level: viewer.level }, metadata).await
}

/// Makes a room invite-only (or open). Staff.
pub async fn set_invite_only(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid, invite_only: bool) -> ApiResult<Applied> {
    viewer.require(Level::Staff, "changing rooms")?;
    room_command(app, room, RoomCommand::SetInviteOnly { invite_only, caller_level: viewer.level }, metadata).await
}

/// Says `text` in the room as the bot (an action, like `/me`, when `action`): it reaches the
/// room's IRC channel and its SMS members like anything said from outside. Staff.
pub async fn send_as_bot(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid, text: &str, action: bool) -> ApiResult<Applied> {
    viewer.require(Level::Staff, "speaking as the bot")?;
    let body = MessageBody::parse(text)?;
    let nick = DisplayNick::parse(&app.settings.bot_nick)?;
    let command = RoomCommand::Post {
        message_id: Uuid::now_v7(),
        speaker: Speaker::Bot { nick },
        body,
        kind: if action { MessageKind::Action } else { MessageKind::Say },
        gateway: domain::Gateway::Api,
        caller_level: viewer.level,
    };
    room_command(app, room, command, metadata).await
}

/// Makes Twilio post `number`'s incoming texts to this server (`{public_url}/sms/twilio`), as
/// `switchboard twilio configure` does.
async fn point_twilio_here(app: &App, number: &PhoneNumber) -> ApiResult<()> {
    let twilio = app.twilio.as_ref().ok_or_else(|| {
        ApiError::bad_input("this server has no Twilio account to configure (set twilio.account_sid and api.twilio_auth_token)")
    })?;
    let url = crate::sms::inbound_url(&app.settings.public_url);
    match twilio.point_number_at(number.as_str(), &url).await? {
        gateways::sms::twilio::WebhookChange::Unchanged(_) => tracing::info!(%number, url, "the number already posts its texts here"),
        gateways::sms::twilio::WebhookChange::Changed { before, .. } => {
            tracing::info!(%number, url, before = before.as_deref().unwrap_or("nowhere"), "pointed the number's texts here")
        }
    }
    Ok(())
}

fn check_channel_key(key: Option<&str>) -> ApiResult<Option<String>> {
    match key {
        None => Ok(None),
        Some(k) if !k.is_empty() && k.len() <= 23 && k.chars().all(|c| c.is_ascii_graphic() && c != ',') => Ok(Some(k.to_owned())),
        Some(_) => Err(ApiError::bad_input("a channel key is 1-23 visible ASCII characters without commas")),
    }
}

/// The room a step names, which must exist.
async fn existing_room(app: &App, room: Uuid) -> ApiResult<()> {
    match app.read.room(room, None).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no room has id {room}"))),
    }
}

/// A channel is bound to at most one room. Checked against the read model: two staff binding
/// the same channel to two rooms in the same instant is not prevented (the later binding wins
/// in the read model), which is acceptable for a rare, staff-only operation.
async fn ensure_channel_free(app: &App, channel: &IrcChannel, room: Uuid) -> ApiResult<()> {
    match app.read.irc_channel_bound_elsewhere(&channel.casefold(), room).await? {
        Some(other) => Err(ApiError::conflict(format!("{channel} is already bound to room {other}"))),
        None => Ok(()),
    }
}

async fn ensure_number_free(app: &App, number: &PhoneNumber, room: Uuid) -> ApiResult<()> {
    match app.read.sms_number_bound_elsewhere(number.as_str(), room).await? {
        Some(other) => Err(ApiError::conflict(format!("{number} is already bound to room {other}"))),
        None => Ok(()),
    }
}
