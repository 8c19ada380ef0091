//! The event catalogue: every fact Switchboard records, with its stable stored name, its schema
//! version and its upcasters.
//!
//! Stored names (`user.nick_changed`) are written out by hand in `catalogue!` below and never
//! derived from Rust identifiers, so renaming a variant cannot orphan stored history. Each type
//! has a current schema version and an upcaster that lifts an older payload one version at a time
//! before it is deserialised. All types are at version 1 today.
//!
//! Payloads carry what read models need (ids, nicks as displayed, times where the rule needs its
//! own time) because projections see one event at a time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::codec::{DecodeError, EventCodec};
use crate::metadata::{Actor, Gateway};
use crate::values::{
    AboutText, DisplayNick, Email, HostMask, InfoKey, InfoText, IrcChannel, Level, MessageBody, Nick, PhoneNumber, QuoteText, Reason,
    RoomName, TokenHash, Topic, Username,
};

// =============================================================================================
// Shared enums

/// What an IRC token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    Register,
    Login,
}

/// Why an IRC token stopped being usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRevocationReason {
    /// Said in a channel instead of a private message.
    LeakedInChannel,
    /// A newer token of the same purpose was issued.
    Superseded,
    /// Consumed by a successful `.register` or `.login` (tokens are single use).
    Used,
}

/// Why an IRC login attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailureReason {
    /// No outstanding login token has this hash.
    WrongToken,
    /// The token matched but its time is up.
    Expired,
    /// The token matched but was already used, superseded or leaked.
    Revoked,
}

/// Why an IRC session ended; each end is an event (docs/commands.md#session-ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    Logout,
    Quit,
    NickChange,
    Kick,
    Part,
    Disconnect,
    IdleTimeout,
    /// A new login replaced the session (e.g. from another connection).
    Replaced,
}

/// Why a user stopped receiving SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsStopReason {
    /// `#stop`.
    Command,
    /// Plain `STOP` (a carrier keyword).
    CarrierKeyword,
    /// Twilio reported the recipient unsubscribed (error 21610).
    OptedOut,
}

/// Why someone left a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Part,
    Quit,
    Kick,
    /// `#stop` on SMS removes nobody; this is for `#leave`-like requests and API removals.
    Removed,
    /// A ban that matched a present member.
    Banned,
    /// The IRC connection of the bot dropped: everyone's channel presence is unknown.
    Disconnect,
}

/// How a message was said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Say,
    /// `/me` (CTCP ACTION), `.act`.
    Action,
    Notice,
}

/// Who a ban names. A nick ban is the mask `nick!*@*`, which also applies to SMS members.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BanTarget {
    /// An account, on every gateway.
    User { user_id: Uuid },
    /// A normalised `nick!user@host` pattern.
    Mask { mask: HostMask },
}

/// A participant named in a room event: a known user, or an IRC guest known only by nick.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    pub nick: DisplayNick,
}

/// Who an invitation is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Invitee {
    Phone { phone: PhoneNumber },
    User { user_id: Uuid },
}

/// IRC channel modes the bot sets on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelMode {
    Voice,
    Devoice,
    Op,
    Deop,
}

/// Twilio's delivery statuses that Switchboard tracks, in forward order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Delivered,
    Undelivered,
    Failed,
}

impl DeliveryStatus {
    /// The status as Twilio and the log name it (`queued`, `sent`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Undelivered => "undelivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Position in the forward-only progression; the three final statuses share the last rank so
    /// the first final status wins.
    pub fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered | DeliveryStatus::Undelivered | DeliveryStatus::Failed => 2,
        }
    }

    pub fn is_final(self) -> bool {
        self.rank() == 2
    }
}

// =============================================================================================
// Users (`user-<id>`)

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub nick: Nick,
    /// Where the person first appeared (SMS `#join`, IRC, web sign-up).
    pub gateway: Gateway,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NickChanged {
    pub user_id: Uuid,
    pub old: Nick,
    pub new: Nick,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneBound {
    pub user_id: Uuid,
    pub phone: PhoneNumber,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebAccountCreated {
    pub user_id: Uuid,
    pub username: Username,
    pub email: Email,
    /// A password hash (argon2 or similar) computed by the caller; never the password.
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailVerificationRequested {
    pub user_id: Uuid,
    pub email: Email,
    pub token_hash: TokenHash,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailVerified {
    pub user_id: Uuid,
    pub email: Email,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AboutChanged {
    pub user_id: Uuid,
    /// `None` clears the about text.
    pub about: Option<AboutText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyChanged {
    pub user_id: Uuid,
    pub private: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelChanged {
    pub user_id: Uuid,
    pub from: Level,
    pub to: Level,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignUpInvitationSent {
    /// The inviter.
    pub user_id: Uuid,
    /// Who was told how to sign up (`.meet <nick>`).
    pub nick: DisplayNick,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcTokenIssued {
    pub user_id: Uuid,
    pub token_id: Uuid,
    pub token_hash: TokenHash,
    pub purpose: TokenPurpose,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcTokenRevoked {
    pub user_id: Uuid,
    pub token_id: Uuid,
    pub reason: TokenRevocationReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcIdentityRegistered {
    pub user_id: Uuid,
    pub nick: Nick,
    /// The concrete `nick!user@host` seen at registration.
    pub host_mask: HostMask,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcSessionStarted {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub nick: Nick,
    /// The `nick!user@host` the session is bound to.
    pub mask: HostMask,
    /// Own time: idle timeouts are measured from it when nothing newer is known.
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcLoginFailed {
    pub user_id: Uuid,
    pub nick: Nick,
    pub mask: HostMask,
    pub reason: LoginFailureReason,
    /// Own time: the lockout window counts failures by it.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcLoginLocked {
    pub user_id: Uuid,
    pub nick: Nick,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcSessionEnded {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub reason: SessionEndReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsStopped {
    pub user_id: Uuid,
    pub reason: SmsStopReason,
    /// The room whose texts stop (the room of the number texted, or of the delivery the carrier
    /// refused). `None`: every room, as stops were recorded when a number could be in one room
    /// only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsStarted {
    pub user_id: Uuid,
    /// The room whose texts resume; `None`: every room (see [`SmsStopped::room_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenIssued {
    pub user_id: Uuid,
    pub token_id: Uuid,
    pub token_hash: TokenHash,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenRevoked {
    pub user_id: Uuid,
    pub token_id: Uuid,
}

/// A password reset link was emailed; only its token's hash is kept. A newer request
/// supersedes an older one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordResetRequested {
    pub user_id: Uuid,
    pub token_hash: TokenHash,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordChanged {
    pub user_id: Uuid,
    /// A password hash (argon2 or similar) computed by the caller; never the password.
    pub password_hash: String,
}

/// The person closed their account: no more logins; their data stays until it is erased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountClosed {
    pub user_id: Uuid,
}

/// A code was texted to `phone` to prove it is this user's. Only the code's hash is kept; a
/// newer request supersedes this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneVerificationRequested {
    pub user_id: Uuid,
    pub phone: PhoneNumber,
    pub code_hash: TokenHash,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A wrong code was typed for the pending phone verification; at 0 attempts left the code is
/// void.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneVerificationFailed {
    pub user_id: Uuid,
    pub attempts_left: u8,
}

/// The texted code was typed back in time: `phone` is proven to be this user's (it is bound to
/// the user by a `PhoneBound` once its reservation is taken).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneVerified {
    pub user_id: Uuid,
    pub phone: PhoneNumber,
}

// =============================================================================================
// Reservations (`nick-<fold>`, `phone-<hash>`, `account-<fold>`)

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NickReserved {
    pub nick: Nick,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NickReleased {
    pub nick: Nick,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneReserved {
    pub phone: PhoneNumber,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneReleased {
    pub phone: PhoneNumber,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountNameReserved {
    pub username: Username,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountNameReleased {
    pub username: Username,
    pub user_id: Uuid,
}

// =============================================================================================
// Rooms (`room-<id>`)

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomCreated {
    pub room_id: Uuid,
    pub name: RoomName,
    pub invite_only: bool,
    pub created_by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomRenamed {
    pub room_id: Uuid,
    pub old: RoomName,
    pub new: RoomName,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteOnlyChanged {
    pub room_id: Uuid,
    pub invite_only: bool,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcChannelBound {
    pub room_id: Uuid,
    pub channel: IrcChannel,
    /// The channel key, kept so the bot can rejoin a `+k` channel.
    pub key: Option<String>,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrcChannelUnbound {
    pub room_id: Uuid,
    pub channel: IrcChannel,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsNumberBound {
    pub room_id: Uuid,
    pub number: PhoneNumber,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsNumberUnbound {
    pub room_id: Uuid,
    pub number: PhoneNumber,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicSet {
    pub room_id: Uuid,
    pub topic: Topic,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberJoined {
    pub room_id: Uuid,
    pub member: MemberRef,
    /// The IRC `nick!user@host`, so later mask bans can find present members.
    pub mask: Option<HostMask>,
    /// The SMS number a member joined from (personal data; see DESIGN §2 on erasure).
    pub phone: Option<PhoneNumber>,
    pub gateway: Gateway,
    /// The invitation this join consumed.
    pub invite_id: Option<Uuid>,
    /// Switchboard's own bot (joined as `Actor::System`): it can never be kicked, banned or muted.
    pub is_bot: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberLeft {
    pub room_id: Uuid,
    pub member: MemberRef,
    pub reason: LeaveReason,
}

/// An IRC guest in the room logged in: the member known by `nick` is from now on the account
/// `user_id` (its room mute follows it, so logging in never lifts one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberIdentified {
    pub room_id: Uuid,
    pub nick: DisplayNick,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberKicked {
    pub room_id: Uuid,
    pub member: MemberRef,
    pub reason: Option<Reason>,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePosted {
    pub room_id: Uuid,
    pub message_id: Uuid,
    /// `None` when the bot speaks (`.say`, announcements); the staff member is the event's actor.
    pub author_id: Option<Uuid>,
    pub author_nick: DisplayNick,
    pub body: MessageBody,
    pub kind: MessageKind,
    pub gateway: Gateway,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomMuteSet {
    pub room_id: Uuid,
    pub target: MemberRef,
    /// `None`: until lifted.
    pub until: Option<DateTime<Utc>>,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomMuteLifted {
    pub room_id: Uuid,
    pub target: MemberRef,
    pub by: Actor,
}

/// Whom a personal mute names: a member known by account, or an IRC guest known only by nick.
/// An account is written as its id alone, the shape personal mutes had before guests could be
/// muted, so every recorded mute reads the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Mutee {
    User(Uuid),
    Guest { nick: DisplayNick },
}

/// `muter` (always an account: SMS members have one) no longer receives `mutee`'s messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonalMuteSet {
    pub room_id: Uuid,
    pub muter: Uuid,
    pub mutee: Mutee,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonalMuteLifted {
    pub room_id: Uuid,
    pub muter: Uuid,
    pub mutee: Mutee,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserBanned {
    pub room_id: Uuid,
    pub ban_id: Uuid,
    pub target: BanTarget,
    /// `None`: until lifted.
    pub until: Option<DateTime<Utc>>,
    pub reason: Option<Reason>,
    pub by: Actor,
}

/// The bot banned and kicked someone on IRC because of `ban_id` when they joined (the channel
/// had lost its `+b`). Recorded by the system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanEnforced {
    pub room_id: Uuid,
    pub ban_id: Uuid,
    pub member: MemberRef,
    pub mask: Option<HostMask>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserUnbanned {
    pub room_id: Uuid,
    pub ban_id: Uuid,
    pub target: BanTarget,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanRequested {
    pub room_id: Uuid,
    pub request_id: Uuid,
    pub target: BanTarget,
    pub reason: Reason,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanRequestApproved {
    pub room_id: Uuid,
    pub request_id: Uuid,
    /// The ban this approval placed (its own `room.user_banned` follows).
    pub ban_id: Uuid,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanRequestRejected {
    pub room_id: Uuid,
    pub request_id: Uuid,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteIssued {
    pub room_id: Uuid,
    pub invite_id: Uuid,
    pub invitee: Invitee,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteAccepted {
    pub room_id: Uuid,
    pub invite_id: Uuid,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelModeChanged {
    pub room_id: Uuid,
    pub nick: DisplayNick,
    pub mode: ChannelMode,
    pub by: Actor,
}

// =============================================================================================
// SMS

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundSmsReceived {
    /// Twilio's `MessageSid`: the idempotency key of the webhook.
    pub message_sid: String,
    pub from: PhoneNumber,
    pub to: PhoneNumber,
    /// As received, unvalidated: this records what arrived, even if it is later refused.
    pub body: String,
    pub room_id: Option<Uuid>,
    /// The pictures and other media of an MMS (`NumMedia` > 0), in Twilio's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<InboundMedia>,
    /// What else Twilio told about the message: where both ends are, how many segments.
    #[serde(default, skip_serializing_if = "TwilioDetails::is_empty")]
    pub twilio: TwilioDetails,
}

/// An IRC guest (no account) reached the hourly bound on lines texted to a room's phones: their
/// further lines that hour stay on IRC. Recorded once an hour per guest and room, so the IRC side
/// can tell them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestTextingLimited {
    pub room_id: Uuid,
    pub nick: DisplayNick,
    /// Lines an hour a guest may have texted.
    pub limit: u32,
}

/// One attachment of an MMS: where Twilio keeps it (`MediaUrl<n>`) and its type
/// (`MediaContentType<n>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMedia {
    pub url: String,
    pub content_type: String,
}

/// Twilio's other fields of an inbound message, as sent (each may be missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioDetails {
    #[serde(default, skip_serializing_if = "Place::is_empty")]
    pub from: Place,
    #[serde(default, skip_serializing_if = "Place::is_empty")]
    pub to: Place,
    /// `NumSegments`: how many SMS the sender's phone split the text into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
}

impl TwilioDetails {
    pub fn is_empty(&self) -> bool {
        self.from.is_empty() && self.to.is_empty() && self.segments.is_none()
    }
}

/// Where Twilio places one end of a message (`FromCity`, `ToZip` …): the number's area, not a
/// device's position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Place {
    pub fn is_empty(&self) -> bool {
        self.city.is_none() && self.state.is_none() && self.zip.is_none() && self.country.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryQueued {
    pub delivery_id: Uuid,
    pub room_id: Uuid,
    pub recipient: Uuid,
    pub to: PhoneNumber,
    pub from: PhoneNumber,
    pub body: String,
    /// The room message this delivery fans out, if any (replies to commands have none).
    pub cause_message_id: Option<Uuid>,
    /// The event that caused this delivery (idempotency of the fan-out subscriber).
    pub cause_event_id: Option<Uuid>,
    /// 1-based segment number when a long text is split into several SMS.
    pub segment: u32,
    pub segments: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverySubmitted {
    pub delivery_id: Uuid,
    pub twilio_sid: String,
    pub status: DeliveryStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStatusChanged {
    pub delivery_id: Uuid,
    pub status: DeliveryStatus,
    pub error_code: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryFailedPermanently {
    pub delivery_id: Uuid,
    pub error_code: Option<u32>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecipientOptedOut {
    pub delivery_id: Uuid,
    pub recipient: Uuid,
    pub to: PhoneNumber,
}

// =============================================================================================
// Quotes (`quotes-all`) and info items (`info-<fold>`)

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteAdded {
    /// Sequential from 1, never reused.
    pub quote_id: u64,
    /// Who said it, as displayed.
    pub nick: DisplayNick,
    pub text: QuoteText,
    pub added_by: Actor,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteDeleted {
    pub quote_id: u64,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoItemAdded {
    pub item: InfoKey,
    pub text: InfoText,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoItemReplaced {
    pub item: InfoKey,
    pub text: InfoText,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoItemDeleted {
    pub item: InfoKey,
    pub by: Actor,
}

// =============================================================================================
// The catalogue

/// Turns a stored payload of `from_version` into the shape of `from_version + 1`.
/// `Err` carries a human-readable reason, reported as [`DecodeError::BadPayload`].
pub type UpcastStep = fn(from_version: i16, payload: Value) -> Result<Value, String>;

/// The upcaster of every type still at version 1: there is no older shape to lift.
fn no_older_versions(from_version: i16, _payload: Value) -> Result<Value, String> {
    Err(format!("no upcaster from version {from_version}"))
}

/// Lifts `payload` from `version` to `current`, one step at a time.
pub fn upcast(event_type: &str, version: i16, current: i16, step: UpcastStep, mut payload: Value) -> Result<Value, DecodeError> {
    if version < 1 || version > current {
        return Err(DecodeError::UnknownVersion { event_type: event_type.to_owned(), version, newest: current });
    }
    for from in version..current {
        payload = step(from, payload).map_err(|reason| DecodeError::BadPayload { event_type: event_type.to_owned(), version, reason })?;
    }
    Ok(payload)
}

/// Declares the `Event` enum, its stored names, versions and upcasters in one table, so that a
/// type cannot be added to one place and forgotten in another.
macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident($payload:ident) => $name:literal, version $version:literal, $upcaster:path; )*) => {
        /// Every fact Switchboard records. Aggregates fold the variants of their own stream and
        /// ignore the rest.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $( $(#[$doc])* $variant($payload), )*
        }

        $(
            impl $payload {
                /// The stored name of this event type: what subscriptions and filters name.
                pub const EVENT_TYPE: &'static str = $name;
            }
        )*

        /// Every stored event name, in catalogue order.
        pub const EVENT_TYPES: &[&str] = &[$($payload::EVENT_TYPE),*];

        $(
            impl From<$payload> for Event {
                fn from(p: $payload) -> Self {
                    Event::$variant(p)
                }
            }
        )*

        impl EventCodec for Event {
            fn event_type(&self) -> &'static str {
                match self {
                    $( Event::$variant(_) => $payload::EVENT_TYPE, )*
                }
            }

            fn schema_version(&self) -> i16 {
                match self {
                    $( Event::$variant(_) => $version, )*
                }
            }

            fn encode(&self) -> Value {
                let encoded = match self {
                    $( Event::$variant(p) => serde_json::to_value(p), )*
                };
                // Payloads are plain structs of strings, numbers and maps with string keys:
                // serialising them cannot fail.
                encoded.expect("event payloads always serialise to JSON")
            }

            fn decode(event_type: &str, schema_version: i16, payload: Value) -> Result<Self, DecodeError> {
                match event_type {
                    $(
                        $payload::EVENT_TYPE => {
                            let payload = upcast($payload::EVENT_TYPE, schema_version, $version, $upcaster, payload)?;
                            serde_json::from_value::<$payload>(payload).map(Event::$variant).map_err(|e| DecodeError::BadPayload {
                                event_type: $payload::EVENT_TYPE.to_owned(),
                                version: schema_version,
                                reason: e.to_string(),
                            })
                        }
                    )*
                    other => Err(DecodeError::UnknownType(other.to_owned())),
                }
            }

            fn decode_json(event_type: &str, schema_version: i16, json: &str) -> Result<Self, DecodeError> {
                let bad = |reason: String| DecodeError::BadPayload { event_type: event_type.to_owned(), version: schema_version, reason };
                match event_type {
                    $(
                        // Stored in today's shape: straight into the payload type.
                        $payload::EVENT_TYPE if schema_version == $version => {
                            serde_json::from_str::<$payload>(json).map(Event::$variant).map_err(|e| bad(e.to_string()))
                        }
                    )*
                    _ => {
                        let payload = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
                        Self::decode(event_type, schema_version, payload)
                    }
                }
            }
        }
    };
}

catalogue! {
    // users
    UserRegistered(UserRegistered) => "user.registered", version 1, no_older_versions;
    NickChanged(NickChanged) => "user.nick_changed", version 1, no_older_versions;
    PhoneBound(PhoneBound) => "user.phone_bound", version 1, no_older_versions;
    WebAccountCreated(WebAccountCreated) => "user.web_account_created", version 1, no_older_versions;
    EmailVerificationRequested(EmailVerificationRequested) => "user.email_verification_requested", version 1, no_older_versions;
    EmailVerified(EmailVerified) => "user.email_verified", version 1, no_older_versions;
    AboutChanged(AboutChanged) => "user.about_changed", version 1, no_older_versions;
    PrivacyChanged(PrivacyChanged) => "user.privacy_changed", version 1, no_older_versions;
    LevelChanged(LevelChanged) => "user.level_changed", version 1, no_older_versions;
    SignUpInvitationSent(SignUpInvitationSent) => "user.sign_up_invitation_sent", version 1, no_older_versions;
    IrcTokenIssued(IrcTokenIssued) => "user.irc_token_issued", version 1, no_older_versions;
    IrcTokenRevoked(IrcTokenRevoked) => "user.irc_token_revoked", version 1, no_older_versions;
    IrcIdentityRegistered(IrcIdentityRegistered) => "user.irc_identity_registered", version 1, no_older_versions;
    IrcSessionStarted(IrcSessionStarted) => "user.irc_session_started", version 1, no_older_versions;
    IrcLoginFailed(IrcLoginFailed) => "user.irc_login_failed", version 1, no_older_versions;
    IrcLoginLocked(IrcLoginLocked) => "user.irc_login_locked", version 1, no_older_versions;
    IrcSessionEnded(IrcSessionEnded) => "user.irc_session_ended", version 1, no_older_versions;
    SmsStopped(SmsStopped) => "user.sms_stopped", version 1, no_older_versions;
    SmsStarted(SmsStarted) => "user.sms_started", version 1, no_older_versions;
    ApiTokenIssued(ApiTokenIssued) => "user.api_token_issued", version 1, no_older_versions;
    ApiTokenRevoked(ApiTokenRevoked) => "user.api_token_revoked", version 1, no_older_versions;
    PasswordResetRequested(PasswordResetRequested) => "user.password_reset_requested", version 1, no_older_versions;
    PasswordChanged(PasswordChanged) => "user.password_changed", version 1, no_older_versions;
    AccountClosed(AccountClosed) => "user.account_closed", version 1, no_older_versions;
    PhoneVerificationRequested(PhoneVerificationRequested) => "user.phone_verification_requested", version 1, no_older_versions;
    PhoneVerificationFailed(PhoneVerificationFailed) => "user.phone_verification_failed", version 1, no_older_versions;
    PhoneVerified(PhoneVerified) => "user.phone_verified", version 1, no_older_versions;
    // reservations
    NickReserved(NickReserved) => "nick.reserved", version 1, no_older_versions;
    NickReleased(NickReleased) => "nick.released", version 1, no_older_versions;
    PhoneReserved(PhoneReserved) => "phone.reserved", version 1, no_older_versions;
    PhoneReleased(PhoneReleased) => "phone.released", version 1, no_older_versions;
    AccountNameReserved(AccountNameReserved) => "account.reserved", version 1, no_older_versions;
    AccountNameReleased(AccountNameReleased) => "account.released", version 1, no_older_versions;
    // rooms
    RoomCreated(RoomCreated) => "room.created", version 1, no_older_versions;
    RoomRenamed(RoomRenamed) => "room.renamed", version 1, no_older_versions;
    InviteOnlyChanged(InviteOnlyChanged) => "room.invite_only_changed", version 1, no_older_versions;
    IrcChannelBound(IrcChannelBound) => "room.irc_channel_bound", version 1, no_older_versions;
    IrcChannelUnbound(IrcChannelUnbound) => "room.irc_channel_unbound", version 1, no_older_versions;
    SmsNumberBound(SmsNumberBound) => "room.sms_number_bound", version 1, no_older_versions;
    SmsNumberUnbound(SmsNumberUnbound) => "room.sms_number_unbound", version 1, no_older_versions;
    TopicSet(TopicSet) => "room.topic_set", version 1, no_older_versions;
    MemberJoined(MemberJoined) => "room.member_joined", version 1, no_older_versions;
    MemberLeft(MemberLeft) => "room.member_left", version 1, no_older_versions;
    MemberIdentified(MemberIdentified) => "room.member_identified", version 1, no_older_versions;
    MemberKicked(MemberKicked) => "room.member_kicked", version 1, no_older_versions;
    MessagePosted(MessagePosted) => "room.message_posted", version 1, no_older_versions;
    RoomMuteSet(RoomMuteSet) => "room.mute_set", version 1, no_older_versions;
    RoomMuteLifted(RoomMuteLifted) => "room.mute_lifted", version 1, no_older_versions;
    PersonalMuteSet(PersonalMuteSet) => "room.personal_mute_set", version 1, no_older_versions;
    PersonalMuteLifted(PersonalMuteLifted) => "room.personal_mute_lifted", version 1, no_older_versions;
    UserBanned(UserBanned) => "room.user_banned", version 1, no_older_versions;
    UserUnbanned(UserUnbanned) => "room.user_unbanned", version 1, no_older_versions;
    BanEnforced(BanEnforced) => "room.ban_enforced", version 1, no_older_versions;
    BanRequested(BanRequested) => "room.ban_requested", version 1, no_older_versions;
    BanRequestApproved(BanRequestApproved) => "room.ban_request_approved", version 1, no_older_versions;
    BanRequestRejected(BanRequestRejected) => "room.ban_request_rejected", version 1, no_older_versions;
    InviteIssued(InviteIssued) => "room.invite_issued", version 1, no_older_versions;
    InviteAccepted(InviteAccepted) => "room.invite_accepted", version 1, no_older_versions;
    ChannelModeChanged(ChannelModeChanged) => "room.channel_mode_changed", version 1, no_older_versions;
    // SMS
    InboundSmsReceived(InboundSmsReceived) => "sms.inbound_received", version 1, no_older_versions;
    GuestTextingLimited(GuestTextingLimited) => "sms.guest_texting_limited", version 1, no_older_versions;
    DeliveryQueued(DeliveryQueued) => "delivery.queued", version 1, no_older_versions;
    DeliverySubmitted(DeliverySubmitted) => "delivery.submitted", version 1, no_older_versions;
    DeliveryStatusChanged(DeliveryStatusChanged) => "delivery.status_changed", version 1, no_older_versions;
    DeliveryFailedPermanently(DeliveryFailedPermanently) => "delivery.failed_permanently", version 1, no_older_versions;
    DeliveryRecipientOptedOut(DeliveryRecipientOptedOut) => "delivery.recipient_opted_out", version 1, no_older_versions;
    // quotes and info items
    QuoteAdded(QuoteAdded) => "quote.added", version 1, no_older_versions;
    QuoteDeleted(QuoteDeleted) => "quote.deleted", version 1, no_older_versions;
    InfoItemAdded(InfoItemAdded) => "info.added", version 1, no_older_versions;
    InfoItemReplaced(InfoItemReplaced) => "info.replaced", version 1, no_older_versions;
    InfoItemDeleted(InfoItemDeleted) => "info.deleted", version 1, no_older_versions;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::sample_events;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events_v1.json");

    fn encode_all() -> Value {
        Value::Array(
            sample_events()
                .iter()
                .map(|e| json!({ "type": e.event_type(), "version": e.schema_version(), "payload": e.encode() }))
                .collect(),
        )
    }

    fn fixture() -> Vec<Value> {
        let text = std::fs::read_to_string(FIXTURE).expect("the golden fixture exists (UPDATE_FIXTURES=1 creates it)");
        serde_json::from_str(&text).expect("the golden fixture is JSON")
    }

    #[test]
    fn the_samples_cover_every_event_type_once_in_catalogue_order() {
        let names: Vec<&str> = sample_events().iter().map(|e| e.event_type()).collect();
        assert_eq!(names, EVENT_TYPES);
    }

    #[test]
    fn stored_names_are_unique_and_shaped_category_dot_fact() {
        let mut seen = std::collections::BTreeSet::new();
        for name in EVENT_TYPES {
            assert!(seen.insert(name), "{name} appears twice");
            let (category, fact) = name.split_once('.').expect("a dot");
            assert!(!category.is_empty() && category.bytes().all(|b| b.is_ascii_lowercase()), "{name}");
            assert!(!fact.is_empty() && fact.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{name}");
        }
    }

    #[test]
    fn every_event_round_trips_through_encode_and_decode() {
        for event in sample_events() {
            let decoded = Event::decode(event.event_type(), event.schema_version(), event.encode());
            assert_eq!(decoded.as_ref(), Ok(&event), "{}", event.event_type());
        }
    }

    #[test]
    fn decoding_from_json_text_agrees_with_decoding_from_a_value() {
        for event in sample_events() {
            // As PostgreSQL returns jsonb: keys reordered, spaces after separators.
            let text = serde_json::to_string_pretty(&event.encode()).expect("JSON");
            let decoded = Event::decode_json(event.event_type(), event.schema_version(), &text);
            assert_eq!(decoded.as_ref(), Ok(&event), "{}", event.event_type());
        }
        // Refusals are the same, too: unknown types and versions, bad shapes, broken JSON.
        let payload = serde_json::to_string(&sample_events()[0].encode()).expect("JSON");
        assert_eq!(Event::decode_json("user.teleported", 1, "{}"), Err(DecodeError::UnknownType("user.teleported".into())));
        assert!(matches!(Event::decode_json("user.registered", 2, &payload), Err(DecodeError::UnknownVersion { newest: 1, .. })));
        assert!(matches!(Event::decode_json("user.registered", 1, "{}"), Err(DecodeError::BadPayload { version: 1, .. })));
        assert!(matches!(Event::decode_json("user.registered", 1, "{\"nick\": "), Err(DecodeError::BadPayload { .. })));
    }

    #[test]
    fn every_event_is_at_schema_version_one() {
        assert!(sample_events().iter().all(|e| e.schema_version() == 1));
    }

    #[test]
    fn an_unknown_type_is_reported_as_such() {
        assert_eq!(Event::decode("user.teleported", 1, json!({})), Err(DecodeError::UnknownType("user.teleported".into())));
    }

    #[test]
    fn a_version_from_the_future_or_below_one_is_refused() {
        let payload = sample_events()[0].encode();
        assert_eq!(
            Event::decode("user.registered", 2, payload.clone()),
            Err(DecodeError::UnknownVersion { event_type: "user.registered".into(), version: 2, newest: 1 })
        );
        assert!(matches!(Event::decode("user.registered", 0, payload), Err(DecodeError::UnknownVersion { .. })));
    }

    #[test]
    fn stops_and_inbound_texts_recorded_before_their_newer_fields_still_fold() {
        let user = Uuid::from_u128(1);
        let stop = Event::decode("user.sms_stopped", 1, json!({"user_id": user, "reason": "command"})).unwrap();
        assert_eq!(stop, Event::SmsStopped(SmsStopped { user_id: user, reason: SmsStopReason::Command, room_id: None }));
        let old = json!({"message_sid": "SM0123456789abcdef0123456789abcdef", "from": "+15551230000", "to": "+15559870000",
                         "body": "hi", "room_id": null});
        let Event::InboundSmsReceived(inbound) = Event::decode("sms.inbound_received", 1, old).unwrap() else { panic!() };
        assert!(inbound.media.is_empty() && inbound.twilio.is_empty());
        // And the new fields are kept.
        let with_media = InboundSmsReceived {
            media: vec![InboundMedia { url: "https://api.twilio.com/m/ME1".into(), content_type: "image/jpeg".into() }],
            twilio: TwilioDetails {
                from: Place { city: Some("OAKLAND".into()), ..Place::default() },
                segments: Some(2),
                ..Default::default()
            },
            ..inbound
        };
        let encoded = Event::InboundSmsReceived(with_media.clone()).encode();
        assert_eq!(encoded["twilio"], json!({"from": {"city": "OAKLAND"}, "segments": 2}));
        assert_eq!(Event::decode("sms.inbound_received", 1, encoded).unwrap(), Event::InboundSmsReceived(with_media));
    }

    #[test]
    fn a_payload_of_the_wrong_shape_is_a_bad_payload() {
        for payload in [json!({}), json!({"user_id": "x", "nick": "Alice", "gateway": "sms"}), json!([1, 2])] {
            let err = Event::decode("user.registered", 1, payload).unwrap_err();
            assert!(matches!(&err, DecodeError::BadPayload { event_type, version: 1, .. } if event_type == "user.registered"), "{err:?}");
        }
    }

    #[test]
    fn a_stored_value_that_breaks_todays_rules_is_a_bad_payload() {
        let mut payload = sample_events()[0].encode();
        payload["nick"] = json!("not a nick!");
        assert!(matches!(Event::decode("user.registered", 1, payload), Err(DecodeError::BadPayload { .. })));
    }

    #[test]
    fn upcasters_lift_old_payloads_one_version_at_a_time() {
        // A made-up history: v1 had `name`, v2 renamed it to `nick`, v3 added `gateway`.
        fn step(from: i16, mut p: Value) -> Result<Value, String> {
            let obj = p.as_object_mut().ok_or("not an object")?;
            match from {
                1 => {
                    let name = obj.remove("name").ok_or("v1 without name")?;
                    obj.insert("nick".into(), name);
                }
                2 => {
                    obj.insert("gateway".into(), json!("irc"));
                }
                _ => return Err(format!("no step from {from}")),
            }
            Ok(p)
        }
        assert_eq!(upcast("x.y", 1, 3, step, json!({"name": "a"})), Ok(json!({"nick": "a", "gateway": "irc"})));
        assert_eq!(upcast("x.y", 3, 3, step, json!({"nick": "a"})), Ok(json!({"nick": "a"})));
        assert!(matches!(upcast("x.y", 1, 3, step, json!({"nick": "a"})), Err(DecodeError::BadPayload { version: 1, .. })));
        assert!(matches!(upcast("x.y", 4, 3, step, json!({})), Err(DecodeError::UnknownVersion { newest: 3, .. })));
    }

    /// Golden fixture: an accidental change to any payload shape breaks this test. Deliberate
    /// changes get a new schema version and an upcaster; the old fixture stays and must decode.
    /// Regenerate (only for new event types) with `UPDATE_FIXTURES=1 cargo test -p domain`.
    #[test]
    fn encoded_samples_match_the_golden_fixture() {
        let encoded = encode_all();
        if std::env::var_os("UPDATE_FIXTURES").is_some() {
            let text = serde_json::to_string_pretty(&encoded).expect("JSON") + "\n";
            std::fs::create_dir_all(std::path::Path::new(FIXTURE).parent().expect("a parent")).expect("fixture dir");
            std::fs::write(FIXTURE, text).expect("fixture written");
        }
        let stored = Value::Array(fixture());
        assert_eq!(encoded, stored, "payload shapes drifted from tests/fixtures/events_v1.json");
    }

    #[test]
    fn every_stored_name_decodes_from_the_golden_fixture() {
        let fixture = fixture();
        for name in EVENT_TYPES {
            let entry = fixture.iter().find(|e| e["type"] == *name).unwrap_or_else(|| panic!("{name} missing from the fixture"));
            let version = i16::try_from(entry["version"].as_i64().expect("a version")).expect("small");
            let event = Event::decode(name, version, entry["payload"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(event.event_type(), *name);
        }
    }

    #[test]
    fn a_personal_mute_names_an_account_by_id_alone_and_a_guest_by_nick() {
        let room_id = Uuid::from_u128(10);
        let muter = Uuid::from_u128(1);
        let account: Event = PersonalMuteSet { room_id, muter, mutee: Mutee::User(Uuid::from_u128(2)) }.into();
        assert_eq!(account.encode()["mutee"], json!(Uuid::from_u128(2).to_string()));
        let nick = DisplayNick::parse("[carol]").unwrap();
        let guest: Event = PersonalMuteSet { room_id, muter, mutee: Mutee::Guest { nick } }.into();
        assert_eq!(guest.encode()["mutee"], json!({ "nick": "[carol]" }));
        for event in [account, guest] {
            assert_eq!(Event::decode(event.event_type(), event.schema_version(), event.encode()).unwrap(), event);
        }
        let neither = json!({ "room_id": room_id, "muter": muter, "mutee": { "user": 7 } });
        assert!(Event::decode(PersonalMuteSet::EVENT_TYPE, 1, neither).is_err());
    }

    #[test]
    fn events_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Event>();
    }
}
