//! The SMS side of Switchboard (one Twilio number is one room): checking that a webhook really
//! comes from Twilio ([`signature`]) and reading an inbound text as a command or a chat message
//! ([`commands`]), recording an inbound text once per `MessageSid` ([`inbound`]), and acting on
//! recorded texts from the log: commands, fan-out, replies ([`processor`]), reading numbers as
//! people type them ([`numbers`]) and bounding what a member's commands cost ([`limits`]); sending queued
//! deliveries through Twilio's REST API ([`twilio`], [`outbound`]); texting what is said in a room
//! from elsewhere (IRC, the bot) to its SMS members ([`bridge`]). The first
//! two are pure, so the webhook handler and the REST client built on them stay
//! thin and these rules are tested without HTTP.

pub mod bridge;
pub mod commands;
pub mod inbound;
pub mod limits;
pub mod numbers;
pub mod outbound;
pub mod processor;
pub mod signature;
pub mod twilio;
