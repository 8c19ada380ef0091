//! The stand-in's `Streams` service: appends, reads of a stream or of `$all`, and catch-up
//! subscriptions, translated between KurrentDB's wire messages and the log (`log.rs`).

use std::sync::Arc;

use ::uuid::Uuid;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::log::{AppendOutcome, Expected, Filter, Proposed, Recorded};
use super::proto::event_store::client::streams::append_req::options::ExpectedStreamRevision;
use super::proto::event_store::client::streams::read_req::options::filter_options::{self, Window};
use super::proto::event_store::client::streams::read_req::options::{
    self as read_options, CountOption, FilterOption, ReadDirection, StreamOption, all_options, stream_options,
};
use super::proto::event_store::client::streams::read_resp::{self, read_event};
use super::proto::event_store::client::streams::streams_server::Streams;
use super::proto::event_store::client::streams::{
    AppendReq, AppendResp, BatchAppendReq, BatchAppendResp, DeleteReq, DeleteResp, ReadReq, ReadResp, TombstoneReq, TombstoneResp,
    append_req, append_resp, read_req,
};
use super::proto::event_store::client::{Empty, StreamIdentifier, uuid};
use super::server::{Node, deadline_exceeded, now_timestamp, wire_uuid, within};

/// Events read from the log per lock, so that a long read does not hold up appends.
const PAGE: usize = 256;

/// The server's read batch, which is a filtered subscription's window when the client asks for
/// `count` rather than a `max`.
const DEFAULT_WINDOW: u32 = 32;

type Sender = mpsc::Sender<Result<ReadResp, Status>>;

pub(crate) struct StreamsService {
    node: Arc<Node>,
}

impl StreamsService {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

#[tonic::async_trait]
impl Streams for StreamsService {
    type ReadStream = ReceiverStream<Result<ReadResp, Status>>;
    type BatchAppendStream = ReceiverStream<Result<BatchAppendResp, Status>>;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<Self::ReadStream>, Status> {
        let deadline = self.node.deadline_of(request.metadata());
        within(deadline, self.node.admit(request.metadata(), false)).await?;
        let options = request.into_inner().options.ok_or_else(|| Status::invalid_argument("ReadReq without options"))?;
        let read = Read::plan(options)?;
        let (sender, receiver) = mpsc::channel(64);
        let node = self.node.clone();
        tokio::spawn(async move {
            let work = read.run(&node, &sender);
            match deadline {
                Some(deadline) => tokio::select! {
                    () = work => {}
                    () = tokio::time::sleep_until(deadline) => { let _ = sender.send(Err(deadline_exceeded())).await; }
                },
                None => work.await,
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn append(&self, request: Request<Streaming<AppendReq>>) -> Result<Response<AppendResp>, Status> {
        let deadline = self.node.deadline_of(request.metadata());
        within(deadline, async {
            self.node.admit(request.metadata(), true).await?;
            let mut messages = request.into_inner();
            let Some(append_req::Content::Options(options)) = messages.message().await?.and_then(|message| message.content) else {
                return Err(Status::invalid_argument("an append starts with its options"));
            };
            let stream = stream_name(options.stream_identifier)?;
            let expected = match options.expected_stream_revision {
                Some(ExpectedStreamRevision::Revision(revision)) => Expected::Revision(revision),
                Some(ExpectedStreamRevision::NoStream(_)) => Expected::NoStream,
                Some(ExpectedStreamRevision::StreamExists(_)) => Expected::StreamExists,
                Some(ExpectedStreamRevision::Any(_)) | None => Expected::Any,
            };
            let mut proposed = Vec::new();
            while let Some(message) = messages.message().await? {
                let Some(append_req::Content::ProposedMessage(message)) = message.content else {
                    return Err(Status::invalid_argument("an append sends its options once, first"));
                };
                let id = message
                    .id
                    .and_then(|id| parse_uuid(&id.value?))
                    .ok_or_else(|| Status::invalid_argument("an event without a valid id"))?;
                let mut metadata = message.metadata;
                let event_type = metadata.remove("type").ok_or_else(|| Status::invalid_argument("an event without a type"))?;
                let content_type = metadata.remove("content-type").unwrap_or_else(|| "application/octet-stream".to_owned());
                proposed.push(Proposed { id, event_type, content_type, data: message.data, custom_metadata: message.custom_metadata });
            }
            // A hung server holds the appends it has received as well as new calls.
            self.node.wait_unstalled().await;
            Ok(Response::new(append_response(self.node.append(&stream, expected, proposed))))
        })
        .await
    }

    async fn delete(&self, _request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        Err(Status::unimplemented("the KurrentDB stand-in does not delete streams"))
    }

    async fn tombstone(&self, _request: Request<TombstoneReq>) -> Result<Response<TombstoneResp>, Status> {
        Err(Status::unimplemented("the KurrentDB stand-in does not tombstone streams"))
    }

    async fn batch_append(&self, _request: Request<Streaming<BatchAppendReq>>) -> Result<Response<Self::BatchAppendStream>, Status> {
        Err(Status::unimplemented("the KurrentDB stand-in does not support batch appends"))
    }
}

fn stream_name(identifier: Option<StreamIdentifier>) -> Result<String, Status> {
    let name = identifier.map(|identifier| identifier.stream_name).unwrap_or_default();
    let name = String::from_utf8(name).map_err(|_| Status::invalid_argument("a stream name that is not UTF-8"))?;
    if name.is_empty() {
        return Err(Status::invalid_argument("an empty stream name"));
    }
    Ok(name)
}

fn parse_uuid(value: &uuid::Value) -> Option<Uuid> {
    match value {
        uuid::Value::Structured(bits) => {
            Some(Uuid::from_u128((u128::from(bits.most_significant_bits as u64) << 64) | u128::from(bits.least_significant_bits as u64)))
        }
        uuid::Value::String(text) => text.parse().ok(),
    }
}

fn append_response(outcome: AppendOutcome) -> AppendResp {
    use append_resp::wrong_expected_version::{
        CurrentRevisionOption, CurrentRevisionOption2060, ExpectedRevisionOption, ExpectedRevisionOption2060,
    };
    use append_resp::{Result as Outcome, Success, WrongExpectedVersion, success};
    let result = match outcome {
        AppendOutcome::Written { revision, position } => Outcome::Success(Success {
            current_revision_option: Some(match revision {
                Some(revision) => success::CurrentRevisionOption::CurrentRevision(revision),
                None => success::CurrentRevisionOption::NoStream(Empty {}),
            }),
            position_option: Some(match position {
                Some(position) => {
                    success::PositionOption::Position(append_resp::Position { commit_position: position, prepare_position: position })
                }
                None => success::PositionOption::NoPosition(Empty {}),
            }),
        }),
        // Both the current fields and the ones servers before 20.6.1 sent, as KurrentDB does.
        AppendOutcome::WrongExpectedVersion { current, expected } => Outcome::WrongExpectedVersion(WrongExpectedVersion {
            current_revision_option_20_6_0: Some(match current {
                Some(revision) => CurrentRevisionOption2060::CurrentRevision2060(revision),
                None => CurrentRevisionOption2060::NoStream2060(Empty {}),
            }),
            expected_revision_option_20_6_0: match expected {
                Expected::Revision(revision) => Some(ExpectedRevisionOption2060::ExpectedRevision2060(revision)),
                Expected::Any => Some(ExpectedRevisionOption2060::Any2060(Empty {})),
                Expected::StreamExists => Some(ExpectedRevisionOption2060::StreamExists2060(Empty {})),
                Expected::NoStream => None,
            },
            current_revision_option: Some(match current {
                Some(revision) => CurrentRevisionOption::CurrentRevision(revision),
                None => CurrentRevisionOption::CurrentNoStream(Empty {}),
            }),
            expected_revision_option: Some(match expected {
                Expected::Revision(revision) => ExpectedRevisionOption::ExpectedRevision(revision),
                Expected::Any => ExpectedRevisionOption::ExpectedAny(Empty {}),
                Expected::StreamExists => ExpectedRevisionOption::ExpectedStreamExists(Empty {}),
                Expected::NoStream => ExpectedRevisionOption::ExpectedNoStream(Empty {}),
            }),
        }),
    };
    AppendResp { result: Some(result) }
}

/// Where a read of `$all` starts, as a (commit, prepare) pair, or the log's start or end.
#[derive(Clone, Copy, Debug)]
enum AllFrom {
    Start,
    Position(u64, u64),
    End,
}

#[derive(Clone, Copy, Debug)]
enum StreamFrom {
    Start,
    Revision(u64),
    End,
}

/// A `Read` call, checked.
enum Read {
    Stream { stream: String, from: StreamFrom, forwards: bool, count: usize, last_position: bool, uuid_string: bool },
    All { from: AllFrom, forwards: bool, count: usize, filter: Option<Filter>, uuid_string: bool },
    SubscribeStream { stream: String, from: StreamFrom, uuid_string: bool },
    SubscribeAll { from: AllFrom, filter: Option<(Filter, u64)>, uuid_string: bool },
}

impl Read {
    fn plan(options: read_req::Options) -> Result<Self, Status> {
        let forwards = options.read_direction() == ReadDirection::Forwards;
        let uuid_string = !matches!(
            options.uuid_option.as_ref().and_then(|option| option.content.as_ref()),
            Some(read_options::uuid_option::Content::Structured(_))
        );
        let filter = match options.filter_option {
            Some(FilterOption::Filter(filter)) => Some(filter_of(filter)?),
            Some(FilterOption::NoFilter(_)) | None => None,
        };
        let subscription = match options.count_option {
            Some(CountOption::Subscription(_)) => None,
            Some(CountOption::Count(count)) => Some(usize::try_from(count).unwrap_or(usize::MAX)),
            None => return Err(Status::invalid_argument("a read without a count or a subscription")),
        };
        let compatibility = options.control_option.map_or(0, |control| control.compatibility);
        match options.stream_option {
            Some(StreamOption::Stream(stream_options)) => {
                let stream = stream_name(stream_options.stream_identifier)?;
                let from = match stream_options.revision_option {
                    Some(stream_options::RevisionOption::Revision(revision)) => StreamFrom::Revision(revision),
                    Some(stream_options::RevisionOption::End(_)) => StreamFrom::End,
                    Some(stream_options::RevisionOption::Start(_)) | None => StreamFrom::Start,
                };
                Ok(match subscription {
                    Some(count) => {
                        Read::Stream { stream, from, forwards, count, last_position: compatibility >= 1 && forwards, uuid_string }
                    }
                    None => Read::SubscribeStream { stream, from, uuid_string },
                })
            }
            Some(StreamOption::All(all_options)) => {
                let from = match all_options.all_option {
                    Some(all_options::AllOption::Position(position)) => {
                        AllFrom::Position(position.commit_position, position.prepare_position)
                    }
                    Some(all_options::AllOption::End(_)) => AllFrom::End,
                    Some(all_options::AllOption::Start(_)) | None => AllFrom::Start,
                };
                Ok(match subscription {
                    Some(count) => Read::All { from, forwards, count, filter: filter.map(|(filter, _)| filter), uuid_string },
                    None => Read::SubscribeAll { from, filter, uuid_string },
                })
            }
            None => Err(Status::invalid_argument("a read of neither a stream nor $all")),
        }
    }

    /// Sends the read's messages until it is done, the client goes away, or (subscriptions)
    /// forever.
    async fn run(self, node: &Node, sender: &Sender) {
        match self {
            Read::Stream { stream, from, forwards, count, last_position, uuid_string } => {
                read_stream(node, sender, &stream, from, forwards, count, last_position, uuid_string).await;
            }
            Read::All { from, forwards, count, filter, uuid_string } => {
                read_all(node, sender, from, forwards, count, filter.as_ref(), uuid_string).await;
            }
            Read::SubscribeStream { stream, from, uuid_string } => subscribe_stream(node, sender, &stream, from, uuid_string).await,
            Read::SubscribeAll { from, filter, uuid_string } => subscribe_all(node, sender, from, filter, uuid_string).await,
        }
    }
}

/// The filter and its checkpoint interval (in events examined).
fn filter_of(options: read_options::FilterOptions) -> Result<(Filter, u64), Status> {
    let regex =
        |pattern: &str| regex::Regex::new(pattern).map_err(|error| Status::invalid_argument(format!("an invalid filter regex: {error}")));
    let filter = match options.filter {
        Some(filter_options::Filter::StreamIdentifier(expression)) if !expression.regex.is_empty() => {
            Filter::StreamRegex(regex(&expression.regex)?)
        }
        Some(filter_options::Filter::StreamIdentifier(expression)) => Filter::StreamPrefixes(expression.prefix),
        Some(filter_options::Filter::EventType(expression)) if !expression.regex.is_empty() => Filter::TypeRegex(regex(&expression.regex)?),
        Some(filter_options::Filter::EventType(expression)) => Filter::TypePrefixes(expression.prefix),
        None => return Err(Status::invalid_argument("a filter on neither stream names nor event types")),
    };
    let window = match options.window {
        Some(Window::Max(max)) if max > 0 => max,
        _ => DEFAULT_WINDOW,
    };
    Ok((filter, u64::from(window) * u64::from(options.checkpoint_interval_multiplier.max(1))))
}

fn event_message(event: &Recorded, uuid_string: bool) -> ReadResp {
    let metadata = [
        ("type".to_owned(), event.event_type.clone()),
        ("content-type".to_owned(), event.content_type.clone()),
        ("created".to_owned(), event.created_ticks.to_string()),
    ]
    .into_iter()
    .collect();
    let recorded = read_event::RecordedEvent {
        id: Some(wire_uuid(event.id, uuid_string)),
        stream_identifier: Some(StreamIdentifier { stream_name: event.stream.clone().into_bytes() }),
        stream_revision: event.revision,
        prepare_position: event.position,
        commit_position: event.position,
        metadata,
        custom_metadata: event.custom_metadata.clone(),
        data: event.data.clone(),
    };
    ReadResp {
        content: Some(read_resp::Content::Event(read_resp::ReadEvent {
            event: Some(recorded),
            link: None,
            position: Some(read_event::Position::CommitPosition(event.position)),
        })),
    }
}

fn message(content: read_resp::Content) -> Result<ReadResp, Status> {
    Ok(ReadResp { content: Some(content) })
}

/// Sends the events; `false` when the client has gone.
async fn send_events(sender: &Sender, events: &[Arc<Recorded>], uuid_string: bool) -> bool {
    for event in events {
        if sender.send(Ok(event_message(event, uuid_string))).await.is_err() {
            return false;
        }
    }
    true
}

#[allow(clippy::too_many_arguments)]
async fn read_stream(
    node: &Node,
    sender: &Sender,
    stream: &str,
    from: StreamFrom,
    forwards: bool,
    count: usize,
    last_position: bool,
    uuid_string: bool,
) {
    let mut next = match from {
        StreamFrom::Start => 0,
        StreamFrom::Revision(revision) => revision,
        StreamFrom::End => u64::MAX,
    };
    let mut remaining = count;
    loop {
        let page = node.lock_log().read_stream(stream, next, forwards, remaining.min(PAGE));
        let Some(page) = page else {
            let not_found =
                read_resp::StreamNotFound { stream_identifier: Some(StreamIdentifier { stream_name: stream.as_bytes().to_vec() }) };
            let _ = sender.send(message(read_resp::Content::StreamNotFound(not_found))).await;
            return;
        };
        remaining -= page.len();
        let Some(last) = page.last().map(|event| event.revision) else { break };
        if !send_events(sender, &page, uuid_string).await {
            return;
        }
        if remaining == 0 || (!forwards && last == 0) {
            break;
        }
        next = if forwards { last + 1 } else { last - 1 };
    }
    let revision = node.lock_log().stream_revision(stream);
    if last_position && let Some(revision) = revision {
        let _ = sender.send(message(read_resp::Content::LastStreamPosition(revision))).await;
    }
}

/// The index in log order where a forward read from `from` starts (inclusive).
fn forward_start(node: &Node, from: AllFrom, after: bool) -> usize {
    let log = node.lock_log();
    match from {
        AllFrom::Start => 0,
        AllFrom::End => log.len(),
        AllFrom::Position(commit, prepare) if after => log.index_after(commit, prepare),
        AllFrom::Position(commit, prepare) => log.index_at_or_after(commit, prepare),
    }
}

async fn read_all(node: &Node, sender: &Sender, from: AllFrom, forwards: bool, count: usize, filter: Option<&Filter>, uuid_string: bool) {
    let allowed = |event: &Arc<Recorded>| filter.is_none_or(|filter| filter.allows(event));
    let mut remaining = count;
    if forwards {
        let mut next = forward_start(node, from, false);
        while remaining > 0 {
            let page = node.lock_log().slice(next, PAGE);
            if page.is_empty() {
                return;
            }
            next += page.len();
            let picked: Vec<_> = page.into_iter().filter(allowed).take(remaining).collect();
            remaining -= picked.len();
            if !send_events(sender, &picked, uuid_string).await {
                return;
            }
        }
    } else {
        let mut before = {
            let log = node.lock_log();
            match from {
                AllFrom::Start => 0,
                AllFrom::End => log.len(),
                AllFrom::Position(commit, prepare) => log.index_at_or_after(commit, prepare),
            }
        };
        while remaining > 0 && before > 0 {
            let page = node.lock_log().slice_backwards(before, PAGE);
            before -= page.len();
            let picked: Vec<_> = page.into_iter().filter(allowed).take(remaining).collect();
            remaining -= picked.len();
            if !send_events(sender, &picked, uuid_string).await {
                return;
            }
        }
    }
}

fn confirmation() -> Result<ReadResp, Status> {
    message(read_resp::Content::Confirmation(read_resp::SubscriptionConfirmation { subscription_id: Uuid::new_v4().to_string() }))
}

fn checkpoint(position: u64) -> Result<ReadResp, Status> {
    message(read_resp::Content::Checkpoint(read_resp::Checkpoint {
        commit_position: position,
        prepare_position: position,
        timestamp: Some(now_timestamp()),
    }))
}

/// Waits for the log to grow past `seen` events (or a stall to end), unless the client goes
/// first: `false` then.
async fn wait_for_more(sender: &Sender, written: &mut tokio::sync::watch::Receiver<usize>, seen: usize) -> bool {
    tokio::select! {
        changed = written.wait_for(|&len| len > seen) => changed.is_ok(),
        () = sender.closed() => false,
    }
}

/// Waits out a stall, unless the client goes first: `false` then.
async fn unstalled(node: &Node, sender: &Sender) -> bool {
    tokio::select! {
        () = node.wait_unstalled() => true,
        () = sender.closed() => false,
    }
}

async fn subscribe_stream(node: &Node, sender: &Sender, stream: &str, from: StreamFrom, uuid_string: bool) {
    let mut written = node.written.subscribe();
    let mut after = match from {
        StreamFrom::Start => None,
        StreamFrom::Revision(revision) => Some(revision),
        StreamFrom::End => node.lock_log().stream_revision(stream),
    };
    if sender.send(confirmation()).await.is_err() {
        return;
    }
    let mut caught_up = false;
    loop {
        if !unstalled(node, sender).await {
            return;
        }
        let (events, seen) = {
            let log = node.lock_log();
            (log.stream_events_after(stream, after), log.len())
        };
        if let Some(last) = events.last() {
            after = Some(last.revision);
            if !send_events(sender, &events, uuid_string).await {
                return;
            }
            continue;
        }
        if !caught_up {
            caught_up = true;
            let message = read_resp::CaughtUp {
                timestamp: Some(now_timestamp()),
                stream_revision: node.lock_log().stream_revision(stream).map(|revision| revision as i64),
                position: None,
            };
            if sender.send(Ok(ReadResp { content: Some(read_resp::Content::CaughtUp(message)) })).await.is_err() {
                return;
            }
        }
        if !wait_for_more(sender, &mut written, seen).await {
            return;
        }
    }
}

async fn subscribe_all(node: &Node, sender: &Sender, from: AllFrom, filter: Option<(Filter, u64)>, uuid_string: bool) {
    let mut written = node.written.subscribe();
    let mut next = forward_start(node, from, true);
    if sender.send(confirmation()).await.is_err() {
        return;
    }
    let mut examined: u64 = 0;
    let mut caught_up = false;
    loop {
        if !unstalled(node, sender).await {
            return;
        }
        let page = node.lock_log().slice(next, PAGE);
        if page.is_empty() {
            if !caught_up {
                caught_up = true;
                let last = node.lock_log().last_position();
                if filter.is_some()
                    && let Some(last) = last
                    && sender.send(checkpoint(last)).await.is_err()
                {
                    return;
                }
                let position = last.map(|last| read_resp::Position { commit_position: last, prepare_position: last });
                let message = read_resp::CaughtUp { timestamp: Some(now_timestamp()), stream_revision: None, position };
                if sender.send(Ok(ReadResp { content: Some(read_resp::Content::CaughtUp(message)) })).await.is_err() {
                    return;
                }
            }
            if !wait_for_more(sender, &mut written, next).await {
                return;
            }
            continue;
        }
        next += page.len();
        for event in &page {
            let Some((filter, interval)) = &filter else {
                if sender.send(Ok(event_message(event, uuid_string))).await.is_err() {
                    return;
                }
                continue;
            };
            if filter.allows(event) && sender.send(Ok(event_message(event, uuid_string))).await.is_err() {
                return;
            }
            examined += 1;
            if examined.is_multiple_of(*interval) && sender.send(checkpoint(event.position)).await.is_err() {
                return;
            }
        }
    }
}
