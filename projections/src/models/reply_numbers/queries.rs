//! Reads of `sms_room_lists` (and `sms_recipients`): who receives a member's message in an SMS
//! room.

use domain::MemberKey;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::queries::ReadModels;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: Uuid,
    pub phone: String,
    pub nick: String,
}

/// A room's list and the members who muted `$2` (the sender's member key) there: one row. The
/// caller leaves out the sender and the muters ([`Recipients::receivers`]). `$3`: whether to
/// return the nicks (the SMS fan-out has no use for them; not asked for, they are not even read).
/// `mutee::text`: the mutee is a key in version 3 and a uuid before (readers of a version 2
/// generation, live while version 3 is being built, compare its text).
const ROOM_LIST_SQL: &str = "SELECT l.user_ids, l.phones, CASE WHEN $3 THEN l.nicks ELSE '{}'::text[] END, \
         coalesce((SELECT array_agg(m.muter) FROM read.sms_personal_mutes m WHERE m.room_id = $1 AND m.mutee::text = $2), '{}') \
     FROM read.sms_room_lists l WHERE l.room_id = $1";

/// The same list computed from `sms_recipients`, for readers of a version 1 generation (live
/// while version 2 is being built after an upgrade; it has no `sms_room_lists`). Sender and
/// muters are already left out; the muters column is empty.
const ROOM_LIST_FROM_RECIPIENTS_SQL: &str = "SELECT coalesce(array_agg(r.user_id), '{}'), coalesce(array_agg(r.phone), '{}'), \
         coalesce(array_agg(r.nick), '{}'), '{}'::uuid[] \
     FROM read.sms_recipients r \
     WHERE r.room_id = $1 AND r.user_id::text <> $2 AND NOT r.stopped \
       AND r.user_id NOT IN (SELECT m.muter FROM read.sms_personal_mutes m WHERE m.room_id = $1 AND m.mutee::text = $2)";

/// A room's recipient list as stored, with the sender's muters.
struct Recipients {
    user_ids: Vec<Uuid>,
    phones: Vec<String>,
    /// Empty when not asked for.
    nicks: Vec<String>,
    muters: Vec<Uuid>,
}

impl Recipients {
    /// `(user_id, phone, nick)` of everyone listed but the sender and those who muted them; the
    /// nick is empty when it was not asked for.
    fn receivers(self, sender: &MemberKey) -> impl Iterator<Item = (Uuid, String, String)> {
        let sender = match sender {
            MemberKey::User(id) => Some(*id),
            MemberKey::Guest(_) => None,
        };
        let muters = self.muters;
        let nicks = self.nicks.into_iter().chain(std::iter::repeat_with(String::new));
        self.user_ids
            .into_iter()
            .zip(self.phones)
            .zip(nicks)
            .filter(move |((id, _), _)| Some(*id) != sender && !muters.contains(id))
            .map(|((id, phone), nick)| (id, phone, nick))
    }
}

impl ReadModels {
    /// Who receives `sender`'s message in an SMS room: one indexed query (see `reply_numbers`).
    pub async fn reply_numbers(&self, room_id: Uuid, sender: Uuid) -> Result<Vec<Recipient>, ProjectionError> {
        let sender = MemberKey::User(sender);
        let list = self.room_list(room_id, &sender, true).await?;
        Ok(list.into_iter().flat_map(|l| l.receivers(&sender)).map(|(user_id, phone, nick)| Recipient { user_id, phone, nick }).collect())
    }

    /// The fan-out list of a sender's message (the sender a member by account, or an IRC guest):
    /// `(user_id, phone)` of every recipient, the same rule as
    /// [`reply_numbers`](Self::reply_numbers) without the nicks.
    pub async fn fan_out(&self, room_id: Uuid, sender: &MemberKey) -> Result<Vec<(Uuid, String)>, ProjectionError> {
        let list = self.room_list(room_id, sender, false).await?;
        Ok(list.into_iter().flat_map(|l| l.receivers(sender)).map(|(user_id, phone, _)| (user_id, phone)).collect())
    }

    /// The rooms whose texts `user_id` has stopped (`#stop` or a carrier STOP to the room's
    /// number, or a stop of every room), among the rooms they receive texts of; by room id.
    pub async fn sms_stopped_rooms(&self, user_id: Uuid) -> Result<Vec<Uuid>, ProjectionError> {
        let rows =
            self.query("SELECT room_id FROM read.sms_recipients WHERE user_id = $1 AND stopped ORDER BY room_id", &[&user_id]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn room_list(&self, room_id: Uuid, sender: &MemberKey, nicks: bool) -> Result<Option<Recipients>, ProjectionError> {
        let sender = sender.to_string();
        let rows = match self.query(ROOM_LIST_SQL, &[&room_id, &sender, &nicks]).await {
            Ok(rows) => rows,
            Err(e) => {
                // Right after an upgrade the live generation may still be version 1, without
                // the lists: answer from its recipients until version 2 takes over.
                let missing = self.query("SELECT to_regclass('read.sms_room_lists') IS NULL", &[]).await?;
                if !missing.first().is_some_and(|r| r.get::<_, bool>(0)) {
                    return Err(e);
                }
                self.query(ROOM_LIST_FROM_RECIPIENTS_SQL, &[&room_id, &sender]).await?
            }
        };
        Ok(rows.into_iter().next().map(|row| Recipients {
            user_ids: row.get(0),
            phones: row.get(1),
            nicks: row.get(2),
            muters: row.get(3),
        }))
    }
}
