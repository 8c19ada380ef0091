//! A **stand-in for KurrentDB**, not KurrentDB: an in-process gRPC server speaking the KurrentDB
//! client protocol (the vendored `protos/kurrentdb/*.proto`), so that code built on the official
//! `kurrentdb` Rust client can be tested on a machine without a KurrentDB server. It owns an
//! in-memory transaction log (nothing persists), the `Streams` calls the client makes for
//! appends, reads and catch-up subscriptions, `ServerFeatures`, `Gossip`, and the faults tests
//! need: cut connections ([`KurrentStandIn::drop_connections`]), a hung server
//! ([`KurrentStandIn::stall`]) and a follower node that sends writers to its leader
//! ([`KurrentStandIn::start_follower`]).
//!
//! What it does as KurrentDB documents and the client expects:
//! - `Append`: expected state `any`, `no_stream`, `stream_exists` or an exact revision; a mismatch
//!   is answered in the body (`wrong_expected_version`, current revision or no stream, and the
//!   expectation), which the client turns into `Error::WrongExpectedVersion`. Event ids are
//!   deduplicated per stream: offering again events whose ids are already the stream's (in order,
//!   right after the expected revision for an exact expectation or from the start for
//!   `no_stream`, anywhere for `any` and `stream_exists`) is answered with the first append's
//!   result and writes nothing; an offer that only partly matches is a wrong expected version.
//! - `Read` of a stream forwards or backwards from a revision, its start or its end, with a
//!   count (`stream_not_found` for a missing stream, and the stream's last revision at the end of
//!   a forward read, as the server does for clients asking compatibility 1); of `$all` forwards
//!   or backwards from a position, the start or the end, **inclusive** of the start position
//!   forwards (backwards: the events before it), filtered by stream name or event type, by
//!   prefixes or a regex (a regex is searched anywhere in the name, like .NET's `IsMatch`).
//! - Subscriptions to a stream or to `$all`: a confirmation, the catch-up **exclusive** of the
//!   given revision or position, `caught_up`, then live events. A filtered `$all` subscription
//!   sends a checkpoint every `window × checkpointIntervalMultiplier` events it examines (the
//!   window is the filter's `max`, or 32, the server's read batch, when the client asks for
//!   `count`) and when it has caught up. It never falls behind, so it sends no `fell_behind`.
//! - The log starts with a few events in `$`-prefixed system streams, as a fresh node's does, so
//!   `$all` readers meet them. Events carry `type`, `content-type` and `created` (100 ns ticks
//!   since the Unix epoch) metadata.
//! - Errors the client interprets: "not leader" (`NotFound` with `exception: not-leader` and the
//!   leader's host and port) from a follower, deadlines (`grpc-timeout`, answered with
//!   `DeadlineExceeded` the way ASP.NET Core's gRPC server, hence KurrentDB, enforces them even
//!   while the call is stuck), invalid requests (`InvalidArgument`).
//!
//! Choices of the stand-in that only a real server can confirm: positions are byte offsets
//! growing by each record's size, and every event, including each of a multi-event append, has
//! its own position with commit == prepare. That is what KurrentDB's `$all` reader reports for
//! the prepares its gRPC appends write (each carries the committed flag, so each is "commit-like");
//! an append answers with the position of its last event. Also the stand-in's own: a follower has
//! its own, empty log (it replicates nothing), and sends every append and every call carrying
//! `requires-leader` (the client sends it unless its node preference is not `leader`) to the
//! leader; a real follower would forward an append without `requires-leader` itself.
//!
//! Not implemented (answered `Unimplemented`, which the client reports as `UnsupportedFeature`):
//! `Delete`, `Tombstone`, `BatchAppend` (not advertised in the server features, so the client does
//! not try it), persistent subscriptions, projections, users, operations, stream metadata and
//! ACLs, link resolution, authentication (credentials are ignored), TLS.

// tonic's service traits take and return `Status` by value; boxing it on the way would only be
// undone at the trait boundary.
#![allow(clippy::result_large_err)]

mod log;
mod proto;
mod server;
mod streams;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use server::{Member, Node, Role};

/// The backend whole-system tests put the log in: `SWITCHBOARD_TEST_BACKEND=kurrentdb` runs them
/// on the KurrentDB backend (the smoke run in `scripts/test`), anything else or unset on
/// PostgreSQL. Each test then gets a stand-in of its own ([`KurrentStandIn::for_test`]): the
/// tests read the whole log, so they cannot share one server's `$all`.
pub fn test_backend() -> store::Backend {
    match std::env::var("SWITCHBOARD_TEST_BACKEND").as_deref() {
        Ok("kurrentdb") => store::Backend::KurrentDb,
        _ => store::Backend::Postgres,
    }
}

/// A KurrentDB stand-in node serving on `127.0.0.1` until dropped; see the module doc for what it
/// does and does not do like KurrentDB.
pub struct KurrentStandIn {
    node: Arc<Node>,
    accept: tokio::task::JoinHandle<()>,
}

impl KurrentStandIn {
    /// Starts a single-node "cluster" (a leader) with an empty log (but for the system events a
    /// fresh node writes) on a free port.
    pub async fn start() -> Self {
        Self::start_node(Role::Leader, Arc::new(Mutex::new(Vec::new()))).await
    }

    async fn start_node(role: Role, cluster: Arc<Mutex<Vec<Member>>>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the KurrentDB stand-in to a free port");
        let addr = listener.local_addr().expect("the stand-in listener has an address");
        let node = Arc::new(Node::new(addr, role, cluster));
        let accept = tokio::spawn(server::serve(listener, node.clone()));
        Self { node, accept }
    }

    /// A fresh stand-in and the connection string a test's store should use (without the
    /// client's 500 ms wait before its first connection).
    pub async fn for_test() -> (Self, String) {
        let stand_in = Self::start().await;
        let url = format!("{}&discoveryInterval=10", stand_in.url());
        (stand_in, url)
    }

    /// A connection string the `kurrentdb` client accepts for this node alone (plain HTTP/2: the
    /// client's `tls` defaults to true). The client sleeps its `discoveryInterval` (500 ms unless
    /// the string sets it, e.g. `&discoveryInterval=10`) before its first connection.
    pub fn url(&self) -> String {
        format!("kurrentdb://{}?tls=false", self.addr())
    }

    /// A connection string that makes the client discover the cluster through this node's gossip
    /// and pick the member its node preference asks for (the leader by default).
    pub fn discover_url(&self) -> String {
        format!("kurrentdb+discover://{}?tls=false", self.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.node.addr
    }

    /// Cuts every open connection at once, as a crash or a network cut would: calls in flight
    /// and open subscriptions fail in the client. New connections are accepted again at once.
    pub fn drop_connections(&self) {
        self.node.drop_connections();
    }

    /// While `true`, the node answers nothing: new calls and appends not yet committed wait, and
    /// subscriptions deliver nothing, until it is unstalled or the call's deadline passes.
    pub fn stall(&self, stalled: bool) {
        if !stalled {
            self.node.deaf.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        self.node.stalled.send_replace(stalled);
    }

    /// Stalls the node and lets calls hang past their deadlines too (`grpc-timeout` ignored): a
    /// server that has stopped answering altogether, where only a client's own timeout ends a
    /// call. `stall(false)` ends it.
    pub fn stall_past_deadlines(&self) {
        self.node.deaf.store(true, std::sync::atomic::Ordering::SeqCst);
        self.node.stalled.send_replace(true);
    }

    /// Starts a follower of this node: a second node, sharing nothing with it but the cluster's
    /// gossip, which answers appends and calls requiring the leader with KurrentDB's "not leader"
    /// error pointing here. It stops when dropped.
    pub async fn start_follower(&self) -> KurrentStandIn {
        let leader = match self.node.role {
            Role::Leader => self.node.addr,
            Role::Follower { leader } => leader,
        };
        Self::start_node(Role::Follower { leader }, self.node.cluster.clone()).await
    }

    /// Empties the node's cache of recent event ids, as a leader change does: KurrentDB
    /// recognises a repeated append under `Any` only from that cache (under an exact expectation
    /// it always does), so a retry of an append written before this is written again unless the
    /// client recognises it itself.
    pub fn forget_recent_ids(&self) {
        self.node.lock_log().forget_recent_ids();
    }

    /// How many events clients appended to this node (the seeded system events are not counted).
    pub fn event_count(&self) -> usize {
        self.node.log.lock().expect("the stand-in log lock is not poisoned").appended()
    }

    /// This node's instance id, as its gossip announces it.
    pub fn instance_id(&self) -> Uuid {
        self.node.instance_id
    }
}

impl Drop for KurrentStandIn {
    fn drop(&mut self) {
        self.accept.abort();
        self.node.drop_connections();
        self.node.leave_cluster();
    }
}
