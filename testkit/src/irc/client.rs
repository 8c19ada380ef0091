//! [`IrcTestClient`]: a scripted IRC user on a raw TCP connection, and [`IrcLine`], a server line
//! parsed by hand.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use std::{fmt, io};

use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{LOOPBACK, OPER_NAME, OPER_PASSWORD, REPLY_TIMEOUT};

/// One line received from the server, parsed by hand: `[@tags] [:prefix] COMMAND params… [:trailing]`
/// (tags are skipped; the trailing parameter is the last of `params`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrcLine {
    pub prefix: Option<String>,
    pub command: String,
    pub params: Vec<String>,
    /// The whole line, without its line end.
    pub raw: String,
}

impl IrcLine {
    /// Parses a line (a line end is ignored). Never fails: garbage gives an odd command.
    pub fn parse(line: &str) -> Self {
        let raw = line.trim_end_matches(['\r', '\n']);
        let mut rest = raw;
        if rest.starts_with('@') {
            rest = rest.split_once(' ').map_or("", |(_, r)| r);
        }
        rest = rest.trim_start_matches(' ');
        let mut prefix = None;
        if let Some(p) = rest.strip_prefix(':') {
            let (p, r) = p.split_once(' ').unwrap_or((p, ""));
            prefix = Some(p.to_owned());
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            let (param, r) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param.to_owned());
            rest = r;
        }
        Self { prefix, command: command.to_owned(), params, raw: raw.to_owned() }
    }

    /// The nick of the sender, when the prefix is a user's (`nick!user@host`), not a server's.
    pub fn nick(&self) -> Option<&str> {
        let nick = self.prefix.as_deref()?.split(['!', '@']).next()?;
        (!nick.is_empty() && !nick.contains('.')).then_some(nick)
    }

    /// Whether the command is `command` (case-insensitive; numerics as three digits).
    pub fn is(&self, command: &str) -> bool {
        self.command.eq_ignore_ascii_case(command)
    }

    pub fn param(&self, index: usize) -> Option<&str> {
        self.params.get(index).map(String::as_str)
    }

    /// The last parameter (the text of a PRIVMSG or NOTICE).
    pub fn trailing(&self) -> Option<&str> {
        self.params.last().map(String::as_str)
    }

    /// Whether the sender's nick is `nick` (case-insensitive).
    pub fn is_from(&self, nick: &str) -> bool {
        self.nick().is_some_and(|n| n.eq_ignore_ascii_case(nick))
    }

    /// Whether this is an error reply (a numeric from 400 to 599).
    pub fn is_error_reply(&self) -> bool {
        self.command.len() == 3 && self.command.bytes().all(|b| b.is_ascii_digit()) && matches!(self.command.as_bytes()[0], b'4' | b'5')
    }
}

impl fmt::Display for IrcLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A scripted IRC user on a raw TCP connection.
///
/// A background task reads the connection as long as the client lives: it answers every `PING`
/// (those are not shown to the test) and queues the other lines, in order. Waiting for a line
/// ([`expect`](Self::expect) and the helpers built on it) takes the first queued line that
/// matches, in arrival order, and leaves every other line queued, however old, so that a later
/// `expect` (or [`drain`](Self::drain)) still sees it: nothing is dropped until it is consumed,
/// and nothing is consumed but what a test asked for. The helpers that wait for the server's
/// answer ([`join`](Self::join), [`part`](Self::part), [`nick`](Self::nick), [`oper`](Self::oper))
/// consume that answer only. Errors are [`io::Error`]s whose message names the client and shows
/// the last unconsumed lines.
pub struct IrcTestClient {
    nick: String,
    stream: Arc<TcpStream>,
    write_lock: Arc<Mutex<()>>,
    incoming: mpsc::UnboundedReceiver<io::Result<IrcLine>>,
    pending: VecDeque<IrcLine>,
    /// Why the connection ended, once the reader has seen it end.
    closed: Option<String>,
    welcome: Vec<IrcLine>,
    reader: JoinHandle<()>,
}

impl IrcTestClient {
    /// Connects to 127.0.0.1:`port` and registers as `nick` (see [`connect_to`](Self::connect_to)).
    pub async fn connect(port: u16, nick: &str) -> io::Result<Self> {
        Self::connect_to(LOOPBACK, port, nick).await
    }

    /// Connects and registers (`NICK`, then `USER nick 0 * :…`), returning once the server has
    /// welcomed the user (001) and finished its welcome burst (end of the MOTD, 376 or 422).
    /// The welcome lines are kept apart, in [`welcome`](Self::welcome); the queue starts empty.
    /// A refused nick (432, 433…) or an `ERROR` is an error.
    pub async fn connect_to(host: &str, port: u16, nick: &str) -> io::Result<Self> {
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{nick}: cannot connect to {host}:{port}: {e}")))?;
        Self::register(stream, nick).await
    }

    /// Like [`connect`](Self::connect), from another loopback address (`127.0.0.2`, …): the
    /// server sees the user on another host.
    pub async fn connect_from(source: std::net::Ipv4Addr, port: u16, nick: &str) -> io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((source, 0).into())?;
        let server: std::net::Ipv4Addr = LOOPBACK.parse().map_err(io::Error::other)?;
        let stream = socket
            .connect((server, port).into())
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{nick}: cannot connect from {source} to port {port}: {e}")))?;
        Self::register(stream, nick).await
    }

    /// Registers on a fresh connection (see [`connect_to`](Self::connect_to)).
    async fn register(stream: TcpStream, nick: &str) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        let stream = Arc::new(stream);
        let write_lock = Arc::new(Mutex::new(()));
        let (tx, incoming) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_lines(stream.clone(), write_lock.clone(), tx));
        let mut client = Self {
            nick: nick.to_owned(),
            stream,
            write_lock,
            incoming,
            pending: VecDeque::new(),
            closed: None,
            welcome: Vec::new(),
            reader,
        };
        client.send_raw(&format!("NICK {nick}")).await?;
        client.send_raw(&format!("USER {nick} 0 * :Switchboard test user {nick}")).await?;
        let welcome = client.expect(REPLY_TIMEOUT, |l| l.is("001") || l.is("ERROR") || l.is_error_reply()).await?;
        if !welcome.is("001") {
            return Err(io::Error::other(format!("{nick}: registration refused: {welcome}")));
        }
        if let Some(registered) = welcome.param(0) {
            client.nick = registered.to_owned();
        }
        let mut lines: Vec<IrcLine> = client.pending.drain(..).collect();
        lines.push(welcome);
        let end = client.expect(REPLY_TIMEOUT, |l| l.is("376") || l.is("422")).await?;
        lines.extend(client.pending.drain(..));
        lines.push(end);
        client.welcome = lines;
        Ok(client)
    }

    /// The client's current nick (as the server registered it).
    pub fn current_nick(&self) -> &str {
        &self.nick
    }

    /// The lines of the registration: up to 001, then the welcome burst up to the end of the MOTD
    /// (ISUPPORT is in the 005 lines).
    pub fn welcome(&self) -> &[IrcLine] {
        &self.welcome
    }

    /// Whether the reader has seen the connection end (as of the lines received so far).
    pub fn is_closed(&mut self) -> bool {
        self.receive_ready();
        self.closed.is_some()
    }

    /// Sends `line` followed by CRLF, verbatim: nothing is checked, escaped or truncated (lines
    /// over 512 bytes, embedded CR/LF and all).
    pub async fn send_raw(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.send_bytes(&bytes).await
    }

    /// Sends `bytes` exactly as given (no line end added): invalid UTF-8, partial lines…
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_all(&self.stream, &self.write_lock, bytes)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{}: cannot send: {e}", self.nick)))
    }

    /// Joins `channel` and waits for the server's echo of the JOIN (the topic and NAMES replies
    /// that follow it stay queued). A refusal (471, 473, 474…) is an error.
    pub async fn join(&mut self, channel: &str) -> io::Result<()> {
        self.send_raw(&format!("JOIN {channel}")).await?;
        let nick = self.nick.clone();
        let reply = self
            .expect(REPLY_TIMEOUT, |l| {
                (l.is("JOIN") && l.is_from(&nick) && l.param(0).is_some_and(|c| c.eq_ignore_ascii_case(channel)))
                    || (l.is_error_reply() && l.param(1).is_some_and(|c| c.eq_ignore_ascii_case(channel)))
            })
            .await?;
        if reply.is("JOIN") { Ok(()) } else { Err(io::Error::other(format!("{nick} cannot join {channel}: {reply}"))) }
    }

    /// Leaves `channel` and waits for the server's echo of the PART.
    pub async fn part(&mut self, channel: &str) -> io::Result<()> {
        self.send_raw(&format!("PART {channel}")).await?;
        let nick = self.nick.clone();
        let reply = self
            .expect(REPLY_TIMEOUT, |l| {
                (l.is("PART") && l.is_from(&nick) && l.param(0).is_some_and(|c| c.eq_ignore_ascii_case(channel)))
                    || (l.is_error_reply() && l.param(1).is_some_and(|c| c.eq_ignore_ascii_case(channel)))
            })
            .await?;
        if reply.is("PART") { Ok(()) } else { Err(io::Error::other(format!("{nick} cannot part {channel}: {reply}"))) }
    }

    /// Sends `PRIVMSG target :text` (the text verbatim). The server echoes nothing back.
    pub async fn privmsg(&mut self, target: &str, text: &str) -> io::Result<()> {
        self.send_raw(&format!("PRIVMSG {target} :{text}")).await
    }

    /// Sends `NOTICE target :text` (the text verbatim).
    pub async fn notice(&mut self, target: &str, text: &str) -> io::Result<()> {
        self.send_raw(&format!("NOTICE {target} :{text}")).await
    }

    /// Changes nick and waits for the server's echo of the NICK; a refusal (432, 433…) is an error.
    pub async fn nick(&mut self, new: &str) -> io::Result<()> {
        self.send_raw(&format!("NICK {new}")).await?;
        let old = self.nick.clone();
        let reply = self
            .expect(REPLY_TIMEOUT, |l| {
                (l.is("NICK") && l.is_from(&old)) || (l.is_error_reply() && l.param(1).is_some_and(|n| n.eq_ignore_ascii_case(new)))
            })
            .await?;
        match reply.param(0) {
            Some(nick) if reply.is("NICK") => {
                self.nick = nick.to_owned();
                Ok(())
            }
            _ => Err(io::Error::other(format!("{old} cannot become {new}: {reply}"))),
        }
    }

    /// Becomes an IRC operator ([`OPER_NAME`] / [`OPER_PASSWORD`]), waiting for 381.
    pub async fn oper(&mut self) -> io::Result<()> {
        self.send_raw(&format!("OPER {OPER_NAME} {OPER_PASSWORD}")).await?;
        let reply = self.expect(REPLY_TIMEOUT, |l| l.is("381") || l.is_error_reply()).await?;
        if reply.is("381") { Ok(()) } else { Err(io::Error::other(format!("{}: OPER refused: {reply}", self.nick))) }
    }

    /// Sends `QUIT :message` and waits until the server closes the connection.
    pub async fn quit(mut self, message: &str) -> io::Result<()> {
        self.send_raw(&format!("QUIT :{message}")).await?;
        self.expect_closed(REPLY_TIMEOUT).await.map(drop)
    }

    /// Waits up to `timeout` for a line matching `predicate` and consumes it. Queued lines are
    /// searched first, oldest first; lines that arrive meanwhile and don't match stay queued (see
    /// the [type documentation](Self)). Fails with [`io::ErrorKind::TimedOut`], or
    /// [`io::ErrorKind::UnexpectedEof`] when the connection ends first.
    pub async fn expect(&mut self, timeout: Duration, mut predicate: impl FnMut(&IrcLine) -> bool) -> io::Result<IrcLine> {
        if let Some(index) = self.pending.iter().position(&mut predicate) {
            return Ok(self.pending.remove(index).expect("the index was just found"));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.next_line()).await {
                Ok(Some(line)) if predicate(&line) => return Ok(line),
                Ok(Some(line)) => self.pending.push_back(line),
                Ok(None) => return Err(self.error(io::ErrorKind::UnexpectedEof, "the connection ended before a matching line")),
                Err(_) => return Err(self.error(io::ErrorKind::TimedOut, &format!("no matching line within {timeout:?}"))),
            }
        }
    }

    /// Waits for a PRIVMSG from `nick` (to a channel or to this user).
    pub async fn expect_privmsg_from(&mut self, nick: &str, timeout: Duration) -> io::Result<IrcLine> {
        self.expect(timeout, |l| l.is("PRIVMSG") && l.is_from(nick)).await
    }

    /// Waits for a NOTICE from `nick`.
    pub async fn expect_notice_from(&mut self, nick: &str, timeout: Duration) -> io::Result<IrcLine> {
        self.expect(timeout, |l| l.is("NOTICE") && l.is_from(nick)).await
    }

    /// Watches the connection for `within`: fails (with the line, consumed) if a matching line is
    /// queued or arrives; other lines stay queued. A connection that ends is not an error here.
    pub async fn expect_none(&mut self, within: Duration, predicate: impl FnMut(&IrcLine) -> bool) -> io::Result<()> {
        match self.expect(within, predicate).await {
            Ok(line) => Err(io::Error::other(format!("{}: unexpected line: {line}", self.nick))),
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::UnexpectedEof) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits up to `timeout` for the server to close the connection; returns every line not
    /// consumed yet, the last ones included (ngIRCd sends `ERROR :…` before it closes).
    pub async fn expect_closed(&mut self, timeout: Duration) -> io::Result<Vec<IrcLine>> {
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.next_line()).await {
                Ok(Some(line)) => self.pending.push_back(line),
                Ok(None) => return Ok(self.pending.drain(..).collect()),
                Err(_) => return Err(self.error(io::ErrorKind::TimedOut, &format!("the connection is still open after {timeout:?}"))),
            }
        }
    }

    /// Takes every line received so far and not consumed yet, without waiting.
    pub fn drain(&mut self) -> Vec<IrcLine> {
        self.receive_ready();
        self.pending.drain(..).collect()
    }

    /// Moves the lines the reader has already delivered into the queue.
    fn receive_ready(&mut self) {
        loop {
            match self.incoming.try_recv() {
                Ok(Ok(line)) => self.pending.push_back(line),
                Ok(Err(e)) => self.closed = Some(e.to_string()),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.closed.get_or_insert_with(|| "closed".to_owned());
                    return;
                }
            }
        }
    }

    /// The next line from the reader, or `None` once the connection has ended (cancel-safe).
    async fn next_line(&mut self) -> Option<IrcLine> {
        if self.closed.is_some() {
            return None;
        }
        match self.incoming.recv().await {
            Some(Ok(line)) => Some(line),
            Some(Err(e)) => {
                self.closed = Some(e.to_string());
                None
            }
            None => {
                self.closed = Some("closed".to_owned());
                None
            }
        }
    }

    fn error(&self, kind: io::ErrorKind, what: &str) -> io::Error {
        let skipped = self.pending.len().saturating_sub(20);
        let mut message = format!("{}: {what}", self.nick);
        if let Some(closed) = &self.closed {
            message.push_str(&format!(" (connection ended: {closed})"));
        }
        message.push_str(&format!("; {} unconsumed line(s)", self.pending.len()));
        if skipped > 0 {
            message.push_str(", the last 20");
        }
        for line in self.pending.iter().skip(skipped) {
            message.push_str("\n  ");
            message.push_str(&line.raw);
        }
        io::Error::new(kind, message)
    }
}

impl fmt::Debug for IrcTestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrcTestClient").field("nick", &self.nick).field("pending", &self.pending.len()).finish_non_exhaustive()
    }
}

impl Drop for IrcTestClient {
    fn drop(&mut self) {
        // The reader holds the other reference to the socket: stopping it closes the connection.
        self.reader.abort();
    }
}

async fn write_all(stream: &TcpStream, lock: &Mutex<()>, mut bytes: &[u8]) -> io::Result<()> {
    let _guard = lock.lock().await;
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The reader task: splits what arrives into lines (LF-terminated, CR stripped, lossy UTF-8),
/// answers PINGs and hands the other lines over; ends with an error item on a read error, or
/// by dropping the sender at the end of the stream.
async fn read_lines(stream: Arc<TcpStream>, write_lock: Arc<Mutex<()>>, tx: mpsc::UnboundedSender<io::Result<IrcLine>>) {
    let mut partial = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if let Err(e) = stream.readable().await {
            let _ = tx.send(Err(e));
            return;
        }
        let n = match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        partial.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(end) = partial[start..].iter().position(|&b| b == b'\n') {
            let line = IrcLine::parse(&String::from_utf8_lossy(&partial[start..start + end]));
            start += end + 1;
            if line.is("PING") {
                let pong = match line.param(0) {
                    Some(token) => format!("PONG :{token}\r\n"),
                    None => "PONG\r\n".to_owned(),
                };
                // A failure to answer shows up as the end of the connection, soon enough.
                let _ = write_all(&stream, &write_lock, pong.as_bytes()).await;
            } else if tx.send(Ok(line)).is_err() {
                return;
            }
        }
        partial.drain(..start);
    }
}
