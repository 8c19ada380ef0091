//! Changing a user's nick, the one way every path does it (SMS `#update`, the web profile,
//! GraphQL `changeNick`): reserve the new nick on `nick-<fold>` (unique across IRC and SMS,
//! compared without case), change it on the user, then release the old one. The rules are the
//! domain's ([`NickReservation`], [`User`]); this is only their order across the streams.

use domain::{Metadata, Nick, NickCommand, NickReservation, ReservationError, StreamName, User, UserCommand, UserError};
use store::{AppendResult, CommandExecutor, EventStore, ExecuteError};
use uuid::Uuid;

/// Why a nick was not changed.
#[derive(Debug, thiserror::Error)]
pub enum NickChangeError {
    /// The new nick is someone else's (or its reservation could not be written).
    #[error(transparent)]
    Reservation(ExecuteError<ReservationError>),
    /// The user refused it (not registered, closed), or its stream could not be written.
    #[error(transparent)]
    User(ExecuteError<UserError>),
}

/// A nick change that went through.
#[derive(Debug, Clone)]
pub struct NickChange {
    pub old: Nick,
    /// The last write (`None`: the nick was already this, nothing was written).
    pub appended: Option<AppendResult>,
}

/// Changes `user_id`'s nick to `new`. With `key`, the change on the user stream is idempotent
/// on it (a replayed inbound text changes the nick once); the reservations are idempotent by
/// their holder anyway. A refused change gives the new nick back.
pub async fn change_nick<S: EventStore + ?Sized>(
    executor: &CommandExecutor<S>,
    user_id: Uuid,
    new: &Nick,
    metadata: Metadata,
    key: Option<Uuid>,
) -> Result<NickChange, NickChangeError> {
    let user_stream = StreamName::user(user_id);
    let (user, _) = executor.load::<User>(&user_stream).await.map_err(|e| NickChangeError::User(e.into()))?;
    let old = user.nick.clone().ok_or(NickChangeError::User(ExecuteError::Rejected(UserError::NotRegistered)))?;
    if old == *new {
        return Ok(NickChange { old, appended: None });
    }
    let reserve = NickCommand::Reserve { nick: new.clone(), user_id };
    let reserved = executor
        .execute::<NickReservation>(&StreamName::nick(&new.casefold()), &reserve, metadata.clone())
        .await
        .map_err(NickChangeError::Reservation)?;
    let change = UserCommand::ChangeNick { new: new.clone() };
    let changed = match key {
        Some(key) => executor.execute_idempotent::<User>(&user_stream, &change, metadata.clone(), key).await,
        None => executor.execute::<User>(&user_stream, &change, metadata.clone()).await,
    };
    let changed = match changed {
        Ok(changed) => changed,
        Err(e) => {
            if !old.same_as(new) && reserved.appended.is_some() {
                let release = NickCommand::Release { nick: new.clone(), user_id };
                if let Err(release_error) =
                    executor.execute::<NickReservation>(&StreamName::nick(&new.casefold()), &release, metadata).await
                {
                    tracing::warn!(error = %release_error, %user_id, nick = %new, "could not give back the nick of a refused nick change");
                }
            }
            return Err(NickChangeError::User(e));
        }
    };
    let mut appended = changed.appended.or(reserved.appended);
    if !old.same_as(new) {
        let release = NickCommand::Release { nick: old.clone(), user_id };
        let released = executor
            .execute::<NickReservation>(&StreamName::nick(&old.casefold()), &release, metadata)
            .await
            .map_err(NickChangeError::Reservation)?;
        appended = released.appended.or(appended);
    }
    Ok(NickChange { old, appended })
}
