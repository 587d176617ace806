//! `[state]` with each Redis kind: what a valid table becomes, its label (never a password),
//! and the errors of bad combinations, each naming the key and the fix.

use std::path::{Path, PathBuf};

use crate::config::{
    Diagnostics, Manifest, RedisAuth, RedisConfig, RedisTopology, StateBackend, StateConfig,
};

const MINIMAL: &str = r#"
[listeners.public]
address = "127.0.0.1:8080"

[upstreams.demo]
targets = ["127.0.0.1:3000"]

[routes.all]
upstream = "demo"
match.path-prefix = "/"
"#;

fn state(table: &str) -> Result<StateConfig, Diagnostics> {
    let text = format!("{MINIMAL}\n[state]\n{table}\n");
    Manifest::parse(Path::new("conf/portcullis.toml"), &text, &[]).map(|m| m.state)
}

fn redis(table: &str) -> RedisConfig {
    match state(table).unwrap().backend {
        StateBackend::Redis(redis) => *redis,
        other => panic!("not Redis: {other:?}"),
    }
}

/// The rendered errors of an invalid table.
fn errors(table: &str) -> String {
    match state(table) {
        Ok(config) => panic!("unexpectedly valid: {config:?}"),
        Err(diagnostics) => diagnostics.to_string(),
    }
}

#[test]
fn rediss_turns_tls_on_with_the_files_relative_to_the_manifest() {
    let r = redis(
        r#"backend = "redis"
url = "rediss://:secret@redis.internal:6380/1"
tls = { ca = "certs/ca.pem", cert = "certs/gw.pem", key = "/etc/gw.key" }"#,
    );
    let tls = r.tls.as_ref().unwrap();
    assert_eq!(tls.ca, Some(PathBuf::from("conf/certs/ca.pem")));
    assert_eq!(
        tls.client,
        Some((
            PathBuf::from("conf/certs/gw.pem"),
            PathBuf::from("/etc/gw.key")
        ))
    );
    assert_eq!(r.label(), "redis redis.internal:6380 tls");

    let system_roots = redis("backend = \"redis\"\nurl = \"rediss://10.0.0.7:6380\"");
    let tls = system_roots.tls.unwrap();
    assert_eq!((tls.ca, tls.client), (None, None));
    let plain = redis("backend = \"redis\"\nurl = \"redis://10.0.0.7\"");
    assert!(plain.tls.is_none());
    assert_eq!(plain.label(), "redis 10.0.0.7");
}

#[test]
fn sentinel_names_the_sentinels_the_master_and_two_sets_of_credentials() {
    let r = redis(
        r#"backend = "redis-sentinel"
sentinels = ["10.0.0.1:26379", "10.0.0.2:26379", "[::1]:26379"]
master = "mymaster"
db = 2
username = "gw"
password = "data-secret"
sentinel-password = "sentinel-secret"
tls = { ca = "ca.pem" }
prefix = "eu""#,
    );
    assert_eq!(
        r.topology,
        RedisTopology::Sentinel {
            sentinels: vec![
                "10.0.0.1:26379".into(),
                "10.0.0.2:26379".into(),
                "[::1]:26379".into()
            ],
            master: "mymaster".into(),
            db: 2,
            auth: RedisAuth {
                username: Some("gw".into()),
                password: Some("data-secret".into())
            },
            sentinel_auth: RedisAuth {
                username: None,
                password: Some("sentinel-secret".into())
            },
        }
    );
    assert_eq!(r.prefix, "eu");
    let label = r.label();
    assert_eq!(
        label,
        "redis-sentinel master=mymaster sentinels=10.0.0.1:26379,10.0.0.2:26379,[::1]:26379 tls"
    );
    let debug = format!("{r:?}");
    assert!(!debug.contains("secret"), "{debug}");
}

#[test]
fn cluster_takes_seed_nodes() {
    let r = redis(
        r#"backend = "redis-cluster"
nodes = ["10.0.0.1:6379", "redis-2.internal:6379"]
password = "p""#,
    );
    assert!(matches!(
        &r.topology,
        RedisTopology::Cluster { nodes, auth } if nodes.len() == 2 && auth.password.as_deref() == Some("p")
    ));
    assert_eq!(
        r.label(),
        "redis-cluster nodes=10.0.0.1:6379,redis-2.internal:6379"
    );
}

#[test]
fn a_key_of_another_kind_names_the_kind_that_uses_it() {
    let e = errors(
        r#"backend = "redis"
url = "redis://10.0.0.7:6379"
nodes = ["10.0.0.1:6379"]
password = "x""#,
    );
    assert!(
        e.contains("`nodes` in `[state]` is not used by `backend = \"redis\"`")
            && e.contains("it is used by `backend = \"redis-cluster\"`"),
        "{e}"
    );
    assert!(
        e.contains("the URL carries them: `url = \"redis://user:password@host:6379/2\"`"),
        "{e}"
    );
    assert!(e.contains("conf/portcullis.toml:15:"), "file:line:col: {e}");

    let e = errors(
        r#"backend = "redis-cluster"
nodes = ["10.0.0.1:6379"]
db = 3
url = "redis://x""#,
    );
    assert!(e.contains("Redis Cluster has only database 0"), "{e}");
    assert!(e.contains("takes `nodes`, not a URL"), "{e}");

    let e = errors("sentinels = [\"10.0.0.1:26379\"]");
    assert!(
        e.contains("`sentinels` in `[state]` is only used by the redis backend"),
        "{e}"
    );
}

#[test]
fn sentinel_and_cluster_need_their_addresses_and_sentinel_its_master() {
    let e = errors("backend = \"redis-sentinel\"");
    assert!(
        e.contains("the redis-sentinel state backend needs `sentinels`"),
        "{e}"
    );
    assert!(e.contains("needs `master`"), "{e}");
    let e = errors("backend = \"redis-cluster\"\nnodes = []");
    assert!(
        e.contains("the redis-cluster state backend needs `nodes`"),
        "{e}"
    );
    let e = errors(
        r#"backend = "redis-cluster"
nodes = ["10.0.0.1", "redis://10.0.0.2:6379", "10.0.0.3:0", "a:1", "a:1"]"#,
    );
    for problem in [
        "`10.0.0.1` in `nodes` of `[state]`: it has no port",
        "`redis://10.0.0.2:6379` in `nodes` of `[state]`: it is a URL",
        "`10.0.0.3:0` in `nodes` of `[state]`: the port is not a number from 1 to 65535",
        "`a:1` is listed twice",
    ] {
        assert!(e.contains(problem), "{problem}: {e}");
    }
}

#[test]
fn tls_needs_rediss_both_client_files_and_no_insecure_fragment() {
    let e = errors(
        r#"backend = "redis"
url = "redis://10.0.0.7:6379"
tls = { ca = "ca.pem" }"#,
    );
    assert!(
        e.contains("`tls` in `[state]` needs a `rediss://` URL"),
        "{e}"
    );
    let e = errors(
        r#"backend = "redis-cluster"
nodes = ["10.0.0.1:6379"]
tls = { cert = "gw.pem" }"#,
    );
    assert!(e.contains("`tls.cert` in `[state]` needs `tls.key`"), "{e}");
    let e = errors("backend = \"redis\"\nurl = \"rediss://:hunter2@10.0.0.7:6380/#insecure\"");
    assert!(e.contains("certificates are always verified"), "{e}");
    let message = e.lines().next().unwrap_or_default();
    assert!(
        message.contains(":***@") && !message.contains("hunter2"),
        "the message hides the password (the quoted manifest line is the operator's own): {message}"
    );
    let e = errors("backend = \"redis\"\nurl = \"rediss://h:1\"\ntls = { verify = false }");
    assert!(e.contains("verify"), "an unknown key: {e}");
}

#[test]
fn the_label_never_shows_a_password() {
    for (url, label) in [
        (
            "redis://user:hunter2@cache.internal:6379/2",
            "redis cache.internal:6379",
        ),
        ("redis://:hunter2@10.0.0.7:6379", "redis 10.0.0.7:6379"),
        ("rediss://127.0.0.1:6380", "redis 127.0.0.1:6380 tls"),
    ] {
        let r = redis(&format!("backend = \"redis\"\nurl = \"{url}\""));
        assert_eq!(r.label(), label);
    }
}
