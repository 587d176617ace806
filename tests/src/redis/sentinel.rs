//! A master, its replica and three sentinels watching them (`redis-server sentinel.conf
//! --sentinel`), on free ports of 127.0.0.1, quick to fail over (the master is "down" after one
//! second of silence), every process killed when dropped.

use std::process::{Child, Command};
use std::time::Duration;

use super::{RedisServer, answers, cli, free_port, spawn, wait_until};

/// The name of the master set the sentinels monitor.
pub const MASTER: &str = "mymaster";

/// A master with a replica, watched by three sentinels.
pub struct SentinelSet {
    /// The data servers, master first at start (a failover swaps the roles).
    servers: Vec<RedisServer>,
    sentinels: Vec<Sentinel>,
}

struct Sentinel {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl SentinelSet {
    /// Starts the set and waits until every sentinel knows the replica and the other two
    /// sentinels, so that killing the master fails over.
    pub fn start() -> Self {
        let master = RedisServer::start();
        let replica = RedisServer::start_with(
            free_port(),
            &[
                "--replicaof".to_owned(),
                "127.0.0.1".to_owned(),
                master.port().to_string(),
            ],
        );
        wait_until("the replica is in sync", Duration::from_secs(10), || {
            replica
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up")
        });
        let sentinels = (0..3).map(|_| sentinel(master.port())).collect();
        let set = Self {
            servers: vec![master, replica],
            sentinels,
        };
        wait_until(
            "the sentinels know the replica and each other",
            Duration::from_secs(20),
            || {
                set.sentinels.iter().all(|s| {
                    let info = cli(s.port, &["SENTINEL", "MASTER", MASTER]);
                    field(&info, "num-slaves") == Some("1")
                        && field(&info, "num-other-sentinels") == Some("2")
                })
            },
        );
        set
    }

    /// The sentinels' addresses, `127.0.0.1:<port>`.
    pub fn sentinel_addresses(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect()
    }

    /// The port of the master, as the first sentinel that answers says.
    pub fn master_port(&self) -> u16 {
        for sentinel in &self.sentinels {
            if !answers(sentinel.port) {
                continue;
            }
            let reply = cli(
                sentinel.port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER],
            );
            if let Some(port) = reply.lines().nth(1).and_then(|p| p.trim().parse().ok()) {
                return port;
            }
        }
        panic!("no sentinel names the master");
    }

    /// Kills the current master (SIGKILL); returns its port.
    pub fn kill_master(&mut self) -> u16 {
        let port = self.master_port();
        let server = self
            .servers
            .iter_mut()
            .find(|s| s.port() == port)
            .expect("the master is one of the set's servers");
        server.kill();
        port
    }

    /// Waits until the sentinels name a master other than `old` that answers as one; returns
    /// its port.
    pub fn wait_for_failover(&self, old: u16, within: Duration) -> u16 {
        let mut new = old;
        wait_until("the sentinels promote the replica", within, || {
            new = self.master_port();
            new != old && cli(new, &["ROLE"]).starts_with("master")
        });
        new
    }
}

/// One sentinel watching the master on `master_port` (quorum 2 of 3).
fn sentinel(master_port: u16) -> Sentinel {
    let dir = tempfile::tempdir().expect("a directory for a sentinel");
    let port = free_port();
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\n\
             sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {MASTER} 1000\n\
             sentinel failover-timeout {MASTER} 5000\n\
             sentinel parallel-syncs {MASTER} 1\n",
            dir = dir.path().display()
        ),
    )
    .expect("write sentinel.conf");
    let mut command = Command::new("redis-server");
    command.arg(&conf).arg("--sentinel");
    let sentinel = Sentinel {
        child: Some(spawn(command)),
        port,
        _dir: dir,
    };
    wait_until(
        &format!("the sentinel on port {port} answers"),
        Duration::from_secs(10),
        || answers(port),
    );
    sentinel
}

/// The value after `name` in a `redis-cli` reply of alternating names and values.
fn field<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    let mut lines = reply.lines();
    while let Some(line) = lines.next() {
        if line.trim() == name {
            return lines.next().map(str::trim);
        }
    }
    None
}
