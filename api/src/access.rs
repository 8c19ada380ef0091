//! Who may read what: the read rules GraphQL's resolvers and the web pages share, so a room's
//! history or members are shown to exactly the same people on both.

use domain::Level;
use projections::models::last_seen::queries::Sighting;
use projections::queries::RoomRow;
use uuid::Uuid;

use crate::App;
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};

/// Staff read every room's history; others only rooms they are in now.
pub async fn require_history_access(app: &App, viewer: &Viewer, room: Uuid) -> ApiResult<()> {
    if viewer.level >= Level::Staff {
        return Ok(());
    }
    let member = app.read.is_member(room, viewer.user_id).await?;
    if member && viewer.level >= Level::Member {
        Ok(())
    } else {
        Err(ApiError::forbidden("a room's history is shown to its members and to staff (level 4)"))
    }
}

/// Members (level 1) see who is in a room; an invite-only room's only its members and staff.
pub async fn require_members_access(app: &App, viewer: &Viewer, room: &RoomRow) -> ApiResult<()> {
    viewer.require(Level::Member, "a room's members")?;
    if room.invite_only && viewer.level < Level::Staff && !app.read.is_member(room.room_id, viewer.user_id).await? {
        return Err(ApiError::forbidden("an invite-only room's members are shown to its members and to staff"));
    }
    Ok(())
}

/// A nick to look up (`.seen`, `lastSeen`): 1-64 characters.
pub fn check_lookup_nick(nick: &str) -> ApiResult<()> {
    if nick.is_empty() || nick.len() > 64 {
        return Err(ApiError::bad_input("a nick is 1-64 characters"));
    }
    Ok(())
}

/// Whether `viewer` may see where `seen` happened and what was said: staff, the person
/// themself and the room's members; others only when neither the room (invite-only) nor the
/// person (`private`) is private.
async fn may_see_sighting(app: &App, viewer: &Viewer, seen: &Sighting) -> ApiResult<bool> {
    if viewer.level >= Level::Staff || seen.user_id == Some(viewer.user_id) {
        return Ok(true);
    }
    if !seen.room_id.is_nil() && app.read.is_member(seen.room_id, viewer.user_id).await? {
        return Ok(true);
    }
    // Profiles are private until their owner says otherwise (docs/commands.md#sms-private).
    let person_private = match seen.user_id {
        Some(id) => app.read.private(id, projections::AsOf::Now).await?.unwrap_or(true),
        None => false,
    };
    Ok(!seen.room_private && !person_private)
}

/// A sighting as `viewer` may see it (see [`may_see_sighting`]): otherwise without the room and
/// what was said.
pub async fn visible_sighting(app: &App, viewer: &Viewer, mut sighting: Sighting) -> ApiResult<Sighting> {
    if !may_see_sighting(app, viewer, &sighting).await? {
        sighting.room_name = None;
        sighting.detail = None;
    }
    Ok(sighting)
}

/// Full-text search words: at most 200 characters.
pub fn check_search(words: &str) -> ApiResult<()> {
    if words.len() > 200 {
        return Err(ApiError::bad_input("a search is at most 200 characters"));
    }
    Ok(())
}
