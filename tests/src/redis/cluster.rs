//! A Redis Cluster of three masters on free ports of 127.0.0.1 (each with its cluster bus on a
//! free port of its own), made by `redis-cli --cluster create`, killed when dropped; slots can be
//! moved between nodes during a test (`redis-cli --cluster reshard`), keys included, so that
//! clients see `MOVED` and `ASK`.

use std::time::Duration;

use super::{RedisServer, cli, free_port, wait_until};

/// A running cluster.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3), joins them, and waits until every node says the
    /// cluster is `ok`.
    pub fn start(masters: usize) -> Self {
        let nodes: Vec<RedisServer> = (0..masters)
            .map(|_| {
                RedisServer::start_with(
                    free_port(),
                    &[
                        "--cluster-enabled".to_owned(),
                        "yes".to_owned(),
                        "--cluster-config-file".to_owned(),
                        "nodes.conf".to_owned(),
                        "--cluster-port".to_owned(),
                        free_port().to_string(),
                        "--cluster-node-timeout".to_owned(),
                        "2000".to_owned(),
                    ],
                )
            })
            .collect();
        let cluster = Self { nodes };
        let mut args = vec!["--cluster".to_owned(), "create".to_owned()];
        args.extend(cluster.addresses());
        args.push("--cluster-yes".to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(cluster.nodes[0].port(), &args);
        cluster.wait_ok();
        cluster
    }

    /// The nodes' addresses, `127.0.0.1:<port>`.
    pub fn addresses(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::address).collect()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &RedisServer {
        &self.nodes[i]
    }

    /// How many keys node `i` holds.
    pub fn keys_on(&self, i: usize) -> usize {
        self.nodes[i].cli(&["DBSIZE"]).trim().parse().unwrap_or(0)
    }

    /// Moves every slot of node `from` to node `to`, with their keys, and waits until the
    /// cluster is `ok` again.
    pub fn move_all_slots(&self, from: usize, to: usize) {
        let id = |i: usize| self.nodes[i].cli(&["CLUSTER", "MYID"]).trim().to_owned();
        let (from_id, to_id) = (id(from), id(to));
        let slots = self.slots_of(from).to_string();
        let address = self.nodes[to].address();
        cli(
            self.nodes[to].port(),
            &[
                "--cluster",
                "reshard",
                &address,
                "--cluster-from",
                &from_id,
                "--cluster-to",
                &to_id,
                "--cluster-slots",
                &slots,
                "--cluster-yes",
            ],
        );
        self.wait_ok();
    }

    /// How many slots node `i` serves, as it says itself (`CLUSTER NODES`, its `myself` line).
    pub fn slots_of(&self, i: usize) -> usize {
        let nodes = self.nodes[i].cli(&["CLUSTER", "NODES"]);
        let Some(line) = nodes.lines().find(|l| l.contains("myself")) else {
            return 0;
        };
        line.split_whitespace()
            .skip(8)
            .filter(|range| !range.starts_with('['))
            .map(|range| match range.split_once('-') {
                Some((a, b)) => {
                    b.parse::<usize>().unwrap_or(0) + 1 - a.parse::<usize>().unwrap_or(0)
                }
                None => 1,
            })
            .sum()
    }

    fn wait_ok(&self) {
        wait_until(
            "every node says cluster_state:ok",
            Duration::from_secs(30),
            || {
                self.nodes
                    .iter()
                    .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
            },
        );
    }
}
