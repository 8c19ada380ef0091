//! The IRC test harness itself, against a real ngIRCd: scripted users talk through it, bursts are
//! not throttled, restarts keep the port, and hostile input does not bring the server down.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use testkit::irc::{IrcLine, IrcTestClient, MAX_NICK_LENGTH, Ngircd, SERVER_NAME};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn lines_are_parsed_by_hand() {
    let line = IrcLine::parse(":alice!~alice@127.0.0.1 PRIVMSG #lobby :hello  there :)\r\n");
    assert_eq!(line.prefix.as_deref(), Some("alice!~alice@127.0.0.1"));
    assert_eq!(line.command, "PRIVMSG");
    assert_eq!(line.params, ["#lobby", "hello  there :)"]);
    assert_eq!(line.raw, ":alice!~alice@127.0.0.1 PRIVMSG #lobby :hello  there :)");
    assert_eq!(line.nick(), Some("alice"));
    assert_eq!(line.trailing(), Some("hello  there :)"));

    let line = IrcLine::parse(":irc.test 005 alice NICKLEN=30 CHANTYPES=#&+ :are supported on this server");
    assert_eq!(line.nick(), None, "a server prefix has no nick");
    assert_eq!(line.params, ["alice", "NICKLEN=30", "CHANTYPES=#&+", "are supported on this server"]);

    let line = IrcLine::parse("PING :token");
    assert_eq!((line.prefix, line.command.as_str(), line.params), (None, "PING", vec!["token".to_owned()]));
    let line = IrcLine::parse("@time=2024-01-01T00:00:00Z :bob NOTICE alice :");
    assert_eq!((line.nick(), line.command.as_str(), &line.params[..]), (Some("bob"), "NOTICE", &["alice".to_owned(), String::new()][..]));
    assert!(IrcLine::parse(":irc.test 433 * bob :Nickname already in use").is_error_reply());
    assert!(!IrcLine::parse(":irc.test 001 bob :Welcome").is_error_reply());
}

#[tokio::test]
async fn pings_are_answered_in_the_background() {
    // A fake server, to make it PING right away (ngIRCd waits for 120 s of silence).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(socket.try_clone().unwrap());
        let mut read_line = || {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            line
        };
        let registration = [read_line(), read_line()];
        socket.write_all(b":fake.test 001 pinger :Welcome\r\n:fake.test 422 pinger :No MOTD\r\nPING :token-1\r\n").unwrap();
        let pong = read_line();
        socket.write_all(b":fake.test NOTICE pinger :caf\xe9, got your pong\r\n").unwrap();
        (registration, pong)
    });
    let mut client = IrcTestClient::connect(port, "pinger").await.unwrap();
    let notice = client.expect(WAIT, |l| l.is("NOTICE")).await.unwrap();
    assert_eq!(notice.trailing(), Some("caf\u{fffd}, got your pong"));
    let (registration, pong) = tokio::task::spawn_blocking(move || fake.join().unwrap()).await.unwrap();
    assert_eq!(registration, ["NICK pinger\r\n", "USER pinger 0 * :Switchboard test user pinger\r\n"]);
    assert_eq!(pong, "PONG :token-1\r\n");
    assert!(client.drain().is_empty(), "the PING is not queued");
}

#[tokio::test]
async fn two_users_talk_in_a_channel_and_in_private() {
    let server = Ngircd::start().await.unwrap();
    let mut alice = server.client("alice").await.unwrap();
    let mut bob = IrcTestClient::connect(server.port(), "bob").await.unwrap();
    assert!(alice.welcome().iter().any(|l| l.is("001")), "{:?}", alice.welcome());
    assert!(alice.welcome().iter().any(|l| l.is("005") && l.params.iter().any(|p| p == &format!("NICKLEN={MAX_NICK_LENGTH}"))));
    alice.join("#lobby").await.unwrap();
    bob.join("#lobby").await.unwrap();
    alice.expect(WAIT, |l| l.is("JOIN") && l.is_from("bob")).await.unwrap();

    alice.privmsg("#lobby", "hello bob").await.unwrap();
    let line = bob.expect_privmsg_from("alice", WAIT).await.unwrap();
    assert_eq!(line.params, ["#lobby", "hello bob"]);
    bob.privmsg("alice", "hi alice, privately").await.unwrap();
    let line = alice.expect_privmsg_from("bob", WAIT).await.unwrap();
    assert_eq!(line.params, ["alice", "hi alice, privately"]);
    bob.notice("#lobby", "a notice").await.unwrap();
    assert_eq!(alice.expect_notice_from("bob", WAIT).await.unwrap().trailing(), Some("a notice"));

    // Unconsumed lines stay queued: waiting for the second line leaves the first for later.
    alice.privmsg("#lobby", "one").await.unwrap();
    alice.privmsg("#lobby", "two").await.unwrap();
    bob.expect(WAIT, |l| l.trailing() == Some("two")).await.unwrap();
    bob.expect(WAIT, |l| l.trailing() == Some("one")).await.unwrap();
    bob.expect_none(Duration::from_millis(200), |l| l.is("PRIVMSG")).await.unwrap();

    // Long nicks, nick changes, parting, operators, quitting.
    let long_nick = "n".repeat(MAX_NICK_LENGTH);
    let mut carol = server.client(&long_nick).await.unwrap();
    assert_eq!(carol.current_nick(), long_nick);
    carol.join("#lobby").await.unwrap();
    bob.nick("robert").await.unwrap();
    assert_eq!(bob.current_nick(), "robert");
    let line = alice.expect(WAIT, |l| l.is("NICK") && l.is_from("bob")).await.unwrap();
    assert_eq!(line.params, ["robert"]);
    assert!(IrcTestClient::connect(server.port(), "robert").await.is_err(), "a nick in use is refused");
    carol.oper().await.unwrap();
    carol.part("#lobby").await.unwrap();
    alice.expect(WAIT, |l| l.is("PART") && l.is_from(&long_nick)).await.unwrap();
    bob.quit("bye").await.unwrap();
    let line = alice.expect(WAIT, |l| l.is("QUIT") && l.is_from("robert")).await.unwrap();
    assert_eq!(line.trailing(), Some("\"bye\""), "ngIRCd quotes QUIT reasons");
    assert!(!alice.drain().iter().any(|l| l.is("PING")), "PINGs are answered, not queued");
}

#[tokio::test]
async fn a_burst_of_500_privmsgs_is_relayed_completely_and_quickly() {
    const BURST: usize = 500;
    let server = Ngircd::start().await.unwrap();
    let mut sender = server.client("sender").await.unwrap();
    let mut receiver = server.client("receiver").await.unwrap();
    sender.join("#burst").await.unwrap();
    receiver.join("#burst").await.unwrap();
    sender.expect(WAIT, |l| l.is("JOIN") && l.is_from("receiver")).await.unwrap();

    let started = Instant::now();
    for i in 0..BURST {
        sender.privmsg("#burst", &format!("burst message {i}")).await.unwrap();
    }
    for i in 0..BURST {
        let line = receiver.expect_privmsg_from("sender", WAIT).await.unwrap();
        assert_eq!(line.trailing(), Some(format!("burst message {i}").as_str()), "lost or reordered");
    }
    let elapsed = started.elapsed();
    println!("{BURST} PRIVMSGs relayed in {elapsed:?} ({:.0} messages/s)", BURST as f64 / elapsed.as_secs_f64());
    assert!(elapsed < Duration::from_secs(5), "flood penalties seem to be on: {elapsed:?}");
    // No penalty notices nor disconnections either.
    sender.privmsg("#burst", "still here").await.unwrap();
    receiver.expect(WAIT, |l| l.trailing() == Some("still here")).await.unwrap();
    assert!(!sender.is_closed());
}

#[tokio::test]
async fn restart_keeps_the_port_and_clients_can_reconnect() {
    let mut server = Ngircd::start().await.unwrap();
    let port = server.port();
    let mut alice = server.client("alice").await.unwrap();
    alice.join("#lobby").await.unwrap();

    let started = Instant::now();
    server.restart().await.unwrap();
    println!("restart took {:?}", started.elapsed());
    assert_eq!(server.port(), port);
    assert!(server.is_running());
    let last = alice.expect_closed(WAIT).await.unwrap();
    println!("alice's last lines before the restart: {last:?}");

    let mut alice = IrcTestClient::connect(port, "alice").await.unwrap();
    let mut bob = server.client("bob").await.unwrap();
    alice.join("#lobby").await.unwrap();
    bob.join("#lobby").await.unwrap();
    bob.privmsg("#lobby", "after the restart").await.unwrap();
    assert_eq!(alice.expect_privmsg_from("bob", WAIT).await.unwrap().trailing(), Some("after the restart"));

    // Stopped, nobody can connect; started again, on the same port.
    server.stop().await;
    assert!(!server.is_running());
    alice.expect_closed(WAIT).await.unwrap();
    assert!(IrcTestClient::connect(port, "carol").await.is_err());
    server.start_again().await.unwrap();
    assert_eq!(server.port(), port);
    server.client("carol").await.unwrap();
    assert!(server.log().contains(SERVER_NAME));
}

#[tokio::test]
async fn a_line_over_512_bytes_does_not_bring_the_server_down() {
    let server = Ngircd::start().await.unwrap();
    let mut mallory = server.client("mallory").await.unwrap();
    let mut alice = server.client("alice").await.unwrap();
    mallory.join("#lobby").await.unwrap();
    alice.join("#lobby").await.unwrap();
    mallory.expect(WAIT, |l| l.is("JOIN") && l.is_from("alice")).await.unwrap();

    let head = "PRIVMSG #lobby :";
    let line = format!("{head}{}", "x".repeat(600 - head.len()));
    assert_eq!(line.len(), 600);
    mallory.send_raw(&line).await.unwrap();
    mallory.privmsg("#lobby", "after the long line").await.unwrap();

    // Record what the server does with it: ngIRCd 26.1 closes the connection ("Request too long").
    let outcome = match mallory.expect_closed(Duration::from_secs(2)).await {
        Ok(last) => {
            let error = last.iter().find(|l| l.is("ERROR")).map(|l| l.raw.clone());
            let seen = alice.expect(WAIT, |l| l.is_from("mallory") && (l.is("QUIT") || l.is("PRIVMSG"))).await.unwrap();
            format!("mallory disconnected (last error: {error:?}); alice saw {seen}")
        }
        Err(_) => {
            let seen = alice.expect_privmsg_from("mallory", WAIT).await.unwrap();
            format!("mallory still connected; alice got a {}-byte text", seen.trailing().unwrap_or_default().len())
        }
    };
    println!("a 600-byte line: {outcome}");
    assert!(!alice.drain().iter().any(|l| l.trailing().is_some_and(|t| t.len() > 512)));

    // Invalid UTF-8 goes through and is decoded lossily by the test client.
    alice.send_bytes(b"PRIVMSG #lobby :caf\xe9 \xff\r\n").await.unwrap();
    let mut bob = server.client("bob").await.unwrap();
    bob.join("#lobby").await.unwrap();
    alice.send_bytes(b"PRIVMSG #lobby :caf\xe9 \xff\r\n").await.unwrap();
    assert_eq!(bob.expect_privmsg_from("alice", WAIT).await.unwrap().trailing(), Some("caf\u{fffd} \u{fffd}"));

    // The server survived: others still talk.
    bob.privmsg("#lobby", "still alive").await.unwrap();
    assert_eq!(alice.expect_privmsg_from("bob", WAIT).await.unwrap().trailing(), Some("still alive"));
    let mut again = server.client("mallory").await.unwrap();
    again.join("#lobby").await.unwrap();
}
