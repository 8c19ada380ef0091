//! The stand-in node's shared state and its network side: the accept loop serving HTTP/2
//! connections (each one cut at once by `drop_connections`), what every call passes first (a
//! stall, the follower's "not leader" answer, its deadline), and the small `ServerFeatures` and
//! `Gossip` services.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::uuid::Uuid;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};

use super::log::{AppendOutcome, Expected, Log, Proposed};
use super::proto::event_store::client::gossip::gossip_server::{Gossip, GossipServer};
use super::proto::event_store::client::gossip::{ClusterInfo, EndPoint, MemberInfo, member_info::VNodeState};
use super::proto::event_store::client::server_features::server_features_server::{ServerFeatures, ServerFeaturesServer};
use super::proto::event_store::client::server_features::{SupportedMethod, SupportedMethods};
use super::proto::event_store::client::streams::streams_server::StreamsServer;
use super::proto::event_store::client::{Empty, Uuid as WireUuid, uuid};
use super::streams::StreamsService;

/// The version the stand-in announces: one whose protocol the vendored files describe.
const SERVER_VERSION: &str = "25.0.0";

#[derive(Clone, Copy, Debug)]
pub(crate) enum Role {
    Leader,
    Follower { leader: SocketAddr },
}

/// A node of the stand-in cluster, as gossip lists it.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    instance_id: Uuid,
    addr: SocketAddr,
    leader: bool,
}

pub(crate) struct Node {
    pub(crate) addr: SocketAddr,
    pub(crate) role: Role,
    pub(crate) instance_id: Uuid,
    pub(crate) log: Mutex<Log>,
    /// The log's length, bumped after every write: what live subscriptions wait on.
    pub(crate) written: watch::Sender<usize>,
    pub(crate) stalled: watch::Sender<bool>,
    /// While set (with `stalled`), calls hang past their deadlines too: a server that does not
    /// answer at all, where only the client's own timeout ends a call.
    pub(crate) deaf: std::sync::atomic::AtomicBool,
    /// Bumped to cut every connection open at that moment.
    cut: watch::Sender<u64>,
    pub(crate) cluster: Arc<Mutex<Vec<Member>>>,
}

impl Node {
    pub(crate) fn new(addr: SocketAddr, role: Role, cluster: Arc<Mutex<Vec<Member>>>) -> Self {
        let log = Log::new();
        let instance_id = Uuid::new_v4();
        cluster.lock().expect("the stand-in cluster lock is not poisoned").push(Member {
            instance_id,
            addr,
            leader: matches!(role, Role::Leader),
        });
        Self {
            addr,
            role,
            instance_id,
            written: watch::Sender::new(log.len()),
            log: Mutex::new(log),
            stalled: watch::Sender::new(false),
            deaf: std::sync::atomic::AtomicBool::new(false),
            cut: watch::Sender::new(0),
            cluster,
        }
    }

    pub(crate) fn drop_connections(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }

    pub(crate) fn leave_cluster(&self) {
        self.cluster.lock().expect("the stand-in cluster lock is not poisoned").retain(|member| member.instance_id != self.instance_id);
    }

    pub(crate) fn lock_log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().expect("the stand-in log lock is not poisoned")
    }

    pub(crate) fn append(&self, stream: &str, expected: Expected, proposed: Vec<Proposed>) -> AppendOutcome {
        let mut log = self.lock_log();
        let outcome = log.append(stream, expected, proposed);
        // Published under the lock so that followers of the log see lengths only grow.
        self.written.send_replace(log.len());
        outcome
    }

    pub(crate) async fn wait_unstalled(&self) {
        let mut stalled = self.stalled.subscribe();
        // `wait_for` fails only when the sender is gone, and the node owns it.
        let _ = stalled.wait_for(|stalled| !stalled).await;
    }

    /// The call's deadline as the node honours it: none while it is deaf.
    pub(crate) fn deadline_of(&self, metadata: &MetadataMap) -> Option<Instant> {
        if self.deaf.load(std::sync::atomic::Ordering::SeqCst) { None } else { deadline_of(metadata) }
    }

    /// Waits out a stall, up to the call's deadline.
    pub(crate) async fn answer_by(&self, deadline: Option<Instant>) -> Result<(), Status> {
        within(deadline, async {
            self.wait_unstalled().await;
            Ok(())
        })
        .await
    }

    /// What every `Streams` call goes through before it is served: a stalled node does not answer, and a
    /// follower sends whoever needs the leader there.
    pub(crate) async fn admit(&self, metadata: &MetadataMap, needs_leader: bool) -> Result<(), Status> {
        self.wait_unstalled().await;
        if let Role::Follower { leader } = self.role {
            let requires_leader = metadata.get("requires-leader").is_some_and(|value| value == "true");
            if needs_leader || requires_leader {
                return Err(not_leader(leader));
            }
        }
        Ok(())
    }
}

/// KurrentDB's answer from a node that is not the leader, which the client follows.
fn not_leader(leader: SocketAddr) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert("exception", MetadataValue::from_static("not-leader"));
    metadata.insert("leader-endpoint-host", leader.ip().to_string().parse().expect("an IP address is a valid header value"));
    metadata.insert("leader-endpoint-port", leader.port().to_string().parse().expect("a port is a valid header value"));
    Status::with_metadata(tonic::Code::NotFound, "Leader info available", metadata)
}

pub(crate) fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("Deadline Exceeded")
}

/// The deadline a call's `grpc-timeout` header sets, if any.
pub(crate) fn deadline_of(metadata: &MetadataMap) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    Instant::now().checked_add(timeout)
}

/// Runs a call's work until its deadline, if it has one.
pub(crate) async fn within<T>(deadline: Option<Instant>, work: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, work).await.unwrap_or_else(|_| Err(deadline_exceeded())),
        None => work.await,
    }
}

pub(crate) fn wire_uuid(id: Uuid, as_string: bool) -> WireUuid {
    let value = if as_string {
        uuid::Value::String(id.to_string())
    } else {
        let bits = id.as_u128();
        uuid::Value::Structured(uuid::Structured {
            most_significant_bits: (bits >> 64) as u64 as i64,
            least_significant_bits: bits as u64 as i64,
        })
    };
    WireUuid { value: Some(value) }
}

pub(crate) fn now_timestamp() -> prost_types::Timestamp {
    SystemTime::now().into()
}

/// Accepts connections until the task is aborted; each is served until it ends or is cut.
pub(crate) async fn serve(listener: tokio::net::TcpListener, node: Arc<Node>) {
    let routes = tonic::service::Routes::new(StreamsServer::new(StreamsService::new(node.clone())))
        .add_service(ServerFeaturesServer::new(Features { node: node.clone() }))
        .add_service(GossipServer::new(Cluster { node: node.clone() }))
        .prepare();
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        // Subscribed before serving, so only a cut after this connection came ends it.
        let mut cut = node.cut.subscribe();
        let service = TowerToHyperService::new(routes.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tcp), service);
            // Dropping the connection closes the socket without a GOAWAY: the client sees the
            // peer vanish, as after a crash, not a graceful shutdown.
            tokio::select! {
                _ = connection => {}
                _ = cut.changed() => {}
            }
        });
    }
}

struct Features {
    node: Arc<Node>,
}

#[tonic::async_trait]
impl ServerFeatures for Features {
    async fn get_supported_methods(&self, request: Request<Empty>) -> Result<Response<SupportedMethods>, Status> {
        self.node.answer_by(self.node.deadline_of(request.metadata())).await?;
        let method = |service: &str, method: &str| SupportedMethod {
            method_name: method.to_owned(),
            service_name: service.to_owned(),
            features: Vec::new(),
        };
        let streams = "event_store.client.streams.streams";
        Ok(Response::new(SupportedMethods {
            methods: vec![
                method(streams, "read"),
                method(streams, "append"),
                method("event_store.client.gossip.gossip", "read"),
                method("event_store.client.server_features.serverfeatures", "getsupportedmethods"),
            ],
            event_store_server_version: SERVER_VERSION.to_owned(),
        }))
    }
}

struct Cluster {
    node: Arc<Node>,
}

#[tonic::async_trait]
impl Gossip for Cluster {
    async fn read(&self, request: Request<Empty>) -> Result<Response<ClusterInfo>, Status> {
        self.node.answer_by(self.node.deadline_of(request.metadata())).await?;
        let ticks = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_nanos() / 100;
        let members = self.node.cluster.lock().expect("the stand-in cluster lock is not poisoned").clone();
        let members = members
            .into_iter()
            .map(|member| MemberInfo {
                instance_id: Some(wire_uuid(member.instance_id, false)),
                time_stamp: ticks as i64,
                state: if member.leader { VNodeState::Leader } else { VNodeState::Follower } as i32,
                is_alive: true,
                http_end_point: Some(EndPoint { address: member.addr.ip().to_string(), port: u32::from(member.addr.port()) }),
            })
            .collect();
        Ok(Response::new(ClusterInfo { members }))
    }
}
