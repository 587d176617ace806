//! How the Redis backend reaches its data, by kind: one server through the redis crate's
//! `ConnectionManager` (which reconnects by itself); a master found through Sentinel, asked
//! again whenever its connection fails (the old master died, or came back as a read-only
//! replica after a failover); a Cluster through the crate's cluster client, which learns the
//! slots from the seed nodes, follows `MOVED` and `ASK`, and reconnects to nodes by itself.
//! Whatever the kind, a state call gets a [`Con`] that runs commands, and nothing connects
//! before the first call.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, Pipeline, RedisError, RedisFuture,
    ServerErrorKind, TlsMode, Value,
};

use super::lazy::{Connect, Lazy};
use super::tls::certificates;
use crate::config::{RedisAuth, RedisConfig, RedisTopology};
use crate::state::SetupError;

/// The connection of one store.
pub(super) enum Link {
    Server(ConnectionManager),
    Sentinel(Lazy<MultiplexedConnection>),
    Cluster(Lazy<ClusterConnection>),
}

/// A connection a call runs its commands on.
#[derive(Clone)]
pub(super) enum Con {
    Manager(ConnectionManager),
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// A connection and what made it, to drop it if it fails.
pub(super) struct Lease {
    pub(super) con: Con,
    generation: Option<u64>,
}

impl Link {
    /// The connection `config` describes, not yet connected. Needs a tokio runtime.
    pub(super) fn new(
        config: &RedisConfig,
        timeout: Duration,
        label: &str,
    ) -> Result<Self, SetupError> {
        let certs = config.tls.as_ref().map(certificates).transpose()?.flatten();
        let client_error = |source| SetupError::RedisClient {
            label: label.to_owned(),
            source,
        };
        let connect_timeout = timeout.max(Duration::from_millis(250));
        // A connect may ask a sentinel then the master, or learn a cluster's slots: a few
        // round trips, each bounded by `connect_timeout`.
        let budget = connect_timeout * 4;
        match &config.topology {
            RedisTopology::Server { url } => {
                let client = match certs {
                    Some(certs) => redis::Client::build_with_tls(url.as_str(), certs),
                    None => redis::Client::open(url.as_str()),
                }
                .map_err(|source| SetupError::RedisUrl {
                    label: label.to_owned(),
                    source,
                })?;
                // Reconnect attempts are cheap and bounded: a call waits at most `timeout`.
                let manager = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_secs(1));
                let connection = ConnectionManager::new_lazy_with_config(client, manager)
                    .map_err(client_error)?;
                Ok(Self::Server(connection))
            }
            RedisTopology::Sentinel {
                sentinels,
                master,
                db,
                auth,
                sentinel_auth,
            } => {
                let tls = config.tls.is_some();
                let addresses = sentinels
                    .iter()
                    .map(|a| address(a, tls))
                    .collect::<Vec<_>>();
                let mut builder =
                    SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)
                        .map_err(client_error)?
                        .set_client_to_redis_db(*db);
                let RedisAuth { username, password } = auth;
                if let Some(username) = username {
                    builder = builder.set_client_to_redis_username(username);
                }
                if let Some(password) = password {
                    builder = builder.set_client_to_redis_password(password);
                }
                let RedisAuth { username, password } = sentinel_auth;
                if let Some(username) = username {
                    builder = builder.set_client_to_sentinel_username(username);
                }
                if let Some(password) = password {
                    builder = builder.set_client_to_sentinel_password(password);
                }
                if tls {
                    builder = builder
                        .set_client_to_redis_tls_mode(TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(TlsMode::Secure);
                    if let Some(certs) = certs {
                        builder = builder
                            .set_client_to_redis_certificates(certs.clone())
                            .set_client_to_sentinel_certificates(certs);
                    }
                }
                let client = builder.build().map_err(client_error)?;
                let client = std::sync::Arc::new(tokio::sync::Mutex::new(client));
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(timeout));
                let connect: Connect<MultiplexedConnection> = std::sync::Arc::new(move || {
                    let (client, config) = (client.clone(), config.clone());
                    Box::pin(async move {
                        // The sentinels name the master, which is checked to be one (`ROLE`).
                        let master = client
                            .lock()
                            .await
                            .async_get_client()
                            .await
                            .map_err(|e| format!("no master from the sentinels: {e}"))?;
                        master
                            .get_multiplexed_async_connection_with_config(&config)
                            .await
                            .map_err(|e| format!("the master does not answer: {e}"))
                    })
                });
                Ok(Self::Sentinel(Lazy::new(connect, budget)))
            }
            RedisTopology::Cluster { nodes, auth } => {
                let scheme = if config.tls.is_some() {
                    "rediss"
                } else {
                    "redis"
                };
                let urls = nodes.iter().map(|n| format!("{scheme}://{n}"));
                let mut builder = ClusterClientBuilder::new(urls)
                    .connection_timeout(connect_timeout)
                    .response_timeout(timeout)
                    // A redirection is a retry: a few, quickly, within the call's timeout.
                    .retries(3)
                    .min_retry_wait(5)
                    .max_retry_wait(100);
                let RedisAuth { username, password } = auth;
                if let Some(username) = username {
                    builder = builder.username(username);
                }
                if let Some(password) = password {
                    builder = builder.password(password);
                }
                if config.tls.is_some() {
                    builder = builder.tls(TlsMode::Secure);
                }
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder.build().map_err(client_error)?;
                let connect: Connect<ClusterConnection> = std::sync::Arc::new(move || {
                    let client = client.clone();
                    Box::pin(async move {
                        client
                            .get_async_connection()
                            .await
                            .map_err(|e| format!("the cluster does not answer: {e}"))
                    })
                });
                Ok(Self::Cluster(Lazy::new(connect, budget)))
            }
        }
    }

    /// A connection for one call.
    pub(super) async fn lease(&self) -> Result<Lease, String> {
        match self {
            Self::Server(manager) => Ok(Lease {
                con: Con::Manager(manager.clone()),
                generation: None,
            }),
            Self::Sentinel(lazy) => {
                let (connection, generation) = lazy.get().await?;
                Ok(Lease {
                    con: Con::Multiplexed(connection),
                    generation: Some(generation),
                })
            }
            Self::Cluster(lazy) => {
                let (connection, generation) = lazy.get().await?;
                Ok(Lease {
                    con: Con::Cluster(connection),
                    generation: Some(generation),
                })
            }
        }
    }

    /// A call on `lease` failed with `error` (or, with `None`, did not answer in time): a
    /// master found through Sentinel is asked for again when its connection broke, timed out,
    /// or now refuses writes (it was demoted by a failover). The other kinds reconnect by
    /// themselves.
    pub(super) fn failed(&self, lease: &Lease, error: Option<&RedisError>) {
        let (Self::Sentinel(lazy), Some(generation)) = (self, lease.generation) else {
            return;
        };
        let stale = error.is_none_or(|e| {
            e.is_io_error()
                || e.is_connection_dropped()
                || e.is_unrecoverable_error()
                || matches!(
                    e.kind(),
                    ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
                )
        });
        if stale {
            lazy.reset(generation);
        }
    }
}

/// `host:port` as the sentinel client takes it (checked by the manifest's validation).
fn address(text: &str, tls: bool) -> ConnectionAddr {
    let (host, port) = text.rsplit_once(':').unwrap_or((text, "26379"));
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = port.parse().unwrap_or(26379);
    if tls {
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, port)
    }
}

impl ConnectionLike for Con {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Manager(c) => c.req_packed_command(cmd),
            Self::Multiplexed(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Manager(c) => c.get_db(),
            Self::Multiplexed(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
