//! The home page: what Switchboard is and how to join by IRC and by SMS, and for members the
//! rooms with their channel and number.

use axum::extract::State;
use domain::Level;
use maud::{Markup, html};

use crate::WebState;
use crate::error::PageError;
use crate::layout;
use crate::session::Visitor;

pub async fn home(State(state): State<WebState>, visitor: Visitor) -> Result<Markup, PageError> {
    let site = &state.site;
    // Listing rooms needs the same level as GraphQL's `rooms`.
    let rooms = match &visitor.viewer {
        Some(viewer) if viewer.require(Level::Member, "listing rooms").is_ok() => Some(state.app.read.rooms(None).await?),
        _ => None,
    };
    let server = site.irc_server.as_ref().map(|host| {
        let port = if site.irc_tls { format!("{} (TLS)", site.irc_port) } else { site.irc_port.to_string() };
        format!("{host}, port {port}")
    });
    Ok(layout::page(
        &visitor,
        "Switchboard",
        html! {
            p.lead { "Switchboard runs chat rooms you can join from IRC or by text message: what is said on one side reaches the other." }
            ul.ways {
                li {
                    strong { "By IRC: " }
                    @if let Some(server) = &server { "connect to " code { (server) } ", " }
                    "join a room's channel, and to use your account "
                    a href="/irc" { "get a login token" } " and send it to " code { (site.bot_nick) } " in a private message."
                }
                li { strong { "By SMS: " } "text " code { "#join <nick>" } " to a room's number; " code { "#help" } " lists the commands." }
                li { strong { "On the web: " } a href="/signup" { "sign up" } ", confirm your email address, and you are a member." }
            }
            @match &rooms {
                Some(rooms) => (room_list(rooms)),
                None => @if visitor.viewer.is_none() {
                    p { a href="/login" { "Log in" } " to see the rooms and where to find them." }
                } @else {
                    p { "Confirm your email address to see the rooms." }
                },
            }
        },
    ))
}

fn room_list(rooms: &[projections::models::rooms::queries::RoomRow]) -> Markup {
    html! {
        h2 { "Rooms" }
        @if rooms.is_empty() {
            p { "There are no rooms yet." }
        } @else {
            table.rooms {
                thead { tr { th scope="col" { "Room" } th scope="col" { "IRC channel" } th scope="col" { "SMS number" } th scope="col" { "Topic" } } }
                tbody {
                    @for room in rooms {
                        tr {
                            th scope="row" { a href=(format!("/rooms/{}", room.room_id)) { (room.name) } @if room.invite_only { " " small { "(invite only)" } } }
                            td { @if let Some(channel) = &room.irc_channel { code { (channel) } } @else { "—" } }
                            td { @if let Some(number) = &room.sms_number { (number) } @else { "—" } }
                            td { (room.topic.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}
