//! Lookups: `.help` (the commands of the caller's level, or one command explained), `.version`
//! and `.whois` (everything held about an account, for superusers, privately).

use domain::Level;

use super::{Answer, Asker, Handlers};
use crate::irc::bot::backend::Backend;
use crate::irc::bot::replies;
use crate::irc::command;
use crate::irc::settings::IrcSettings;

impl<B: Backend> Handlers<'_, B> {
    /// `.help [command]`, answered privately.
    pub async fn help(&self, asker: &Asker, topic: Option<&str>) -> Answer {
        match topic {
            Some(topic) => self.state.tell(asker, &command::help_topic(self.prefix(), topic)),
            None => {
                let level = self.level_of(&asker.who).await?;
                for line in command::help_lines(self.prefix(), level) {
                    self.state.tell(asker, &line);
                }
            }
        }
        Ok(())
    }

    /// `.version`
    pub fn version(&self, asker: &Asker) -> Answer {
        self.state.reply(asker, &IrcSettings::version());
        Ok(())
    }

    /// `.whois <nick>`, answered privately.
    pub async fn whois(&self, asker: &Asker, nick: &str) -> Answer {
        self.require(asker, Level::Superuser).await?;
        let Some(user_id) = self.backend.nick_holder(nick).await? else {
            self.state.tell(asker, &replies::no_account(nick));
            return Ok(());
        };
        let user = self.backend.user(user_id).await?;
        for line in replies::whois(nick, user_id, &user) {
            self.state.tell(asker, &line);
        }
        Ok(())
    }
}
