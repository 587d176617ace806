//! The `portcullis` command line as an operator meets it: `check` exit codes and messages,
//! `--help` everywhere, and the etcd commands' refusals that need no etcd (the fleet itself is
//! specified with a real etcd in `tests/e2e/fleet.rs`).

use std::path::PathBuf;
use std::process::Command;

fn portcullis() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
    cmd.arg("--cache-dir").arg(cache);
    cmd
}

fn write_manifest(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, text).expect("write the manifest");
    (dir, path)
}

#[test]
fn check_accepts_the_quickstart_manifest_and_exits_0() {
    let manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart/portcullis.toml");

    let output = portcullis()
        .arg("check")
        .arg(&manifest)
        .output()
        .expect("run portcullis check");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ok"), "{stdout}");
}

#[test]
fn check_reports_every_error_with_its_position_and_exits_1() {
    let (_dir, path) = write_manifest(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.demo]
targets = ["127.0.0.1:3000"]

[routes.a]
upstream = "dmeo"
match.path = "/a"

[routes.b]
upstream = "demo"
match.path = "/b"
timeout = "soon"
"#,
    );

    let output = portcullis()
        .arg("check")
        .arg(&path)
        .output()
        .expect("run portcullis check");

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("portcullis.toml:9:"),
        "the unknown upstream is located: {stderr}"
    );
    assert!(stderr.contains("dmeo"), "{stderr}");
    assert!(
        stderr.contains("portcullis.toml:15:"),
        "the bad duration is located too: {stderr}"
    );
    assert!(stderr.contains("2 errors"), "{stderr}");
    assert!(stderr.contains("defined upstreams: `demo`"), "{stderr}");
}

#[test]
fn check_reports_a_plugin_config_error_naming_plugin_and_route() {
    let (_dir, path) = write_manifest(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.demo]
targets = ["127.0.0.1:3000"]

[routes.orders]
upstream = "demo"
match.path = "/orders"

[[routes.orders.plugins]]
plugin = "key-auth"
config = { consumers = { alice = ["k"] }, unknown-option = true }
"#,
    );

    let output = portcullis()
        .arg("check")
        .arg(&path)
        .output()
        .expect("run portcullis check");

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plugin `key-auth` on route `orders` rejected its config"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown-option"), "{stderr}");
    assert!(
        stderr.contains("portcullis.toml:12:"),
        "the plugin entry is located: {stderr}"
    );
}

#[test]
fn check_of_a_missing_file_says_so_and_exits_1() {
    let output = portcullis()
        .args(["check", "/nonexistent/portcullis.toml"])
        .output()
        .expect("run portcullis check");

    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/portcullis.toml"));
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["check", "--help"],
        &["plugin", "--help"],
        &["plugin", "test", "--help"],
        &["plugin", "wit", "--help"],
        &["config", "--help"],
        &["config", "push", "--help"],
        &["config", "get", "--help"],
    ] {
        let output = portcullis()
            .args(args)
            .output()
            .expect("run portcullis --help");
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn check_rejects_a_bad_rate_limit_config_with_the_plugins_message_and_passes_with_redis_down() {
    let (_dir, path) = write_manifest(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.demo]
targets = ["127.0.0.1:3000"]

[state]
backend = "redis"
url = "redis://127.0.0.1:1"

[routes.a]
upstream = "demo"
match.path = "/a"

[[routes.a.plugins]]
plugin = "rate-limit"
config = { minute = 0 }
"#,
    );

    let output = portcullis()
        .arg("check")
        .arg(&path)
        .output()
        .expect("run portcullis check");

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plugin `rate-limit` on route `a` rejected its config: `minute` is 0"),
        "{stderr}"
    );
    assert!(stderr.contains("portcullis.toml:16:"), "located: {stderr}");
    assert!(
        stderr.contains("1 error"),
        "Redis being down is not an error: {stderr}"
    );
}

#[test]
fn plugin_wit_prints_the_contract_plugins_implement() {
    let output = portcullis()
        .args(["plugin", "wit"])
        .output()
        .expect("run portcullis plugin wit");

    assert!(output.status.success());
    let wit = String::from_utf8_lossy(&output.stdout);
    assert!(wit.contains("package portcullis:plugin@"), "{wit}");
    assert!(wit.contains("world plugin"), "{wit}");
}

/// Fixtures for the prebuilt key-auth plugin: one passing case of each kind, and `broken`
/// appended as a case that must fail.
fn key_auth_fixtures(broken: &str) -> String {
    format!(
        r#"
plugin = "key-auth"
config = {{ consumers = {{ alice = ["alice-key"] }} }}

[[cases]]
name = "no key is refused"
request = {{ path = "/orders" }}
expect = {{ respond = 401, status = 401, response-headers = {{ www-authenticate = "Key realm=\"portcullis\"" }} }}

[[cases]]
name = "a known key is let through as its consumer, and the key is hidden"
request = {{ headers = {{ apikey = "alice-key" }} }}
response = {{ status = 200, body = "hello" }}
expect = {{ forward = true, headers = {{ apikey = "", x-consumer = "alice" }}, context = {{ consumer = "alice" }}, status = 200, body-contains = "hello" }}
{broken}"#
    )
}

#[test]
fn plugin_test_runs_fixtures_without_a_gateway() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("key-auth.toml");
    std::fs::write(&path, key_auth_fixtures("")).expect("write fixtures");

    let output = portcullis()
        .args(["plugin", "test"])
        .arg(&path)
        .output()
        .expect("run portcullis plugin test");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
}

#[test]
fn plugin_test_names_the_failing_case_and_what_differed() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("key-auth.toml");
    let broken = r#"
[[cases]]
name = "a wrong expectation"
request = { headers = { apikey = "nope" } }
expect = { forward = true }
"#;
    std::fs::write(&path, key_auth_fixtures(broken)).expect("write fixtures");

    let output = portcullis()
        .args(["plugin", "test"])
        .arg(&path)
        .output()
        .expect("run portcullis plugin test");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert!(stdout.contains("a wrong expectation"), "{stdout}");
    assert!(stdout.contains("the plugin answered 401"), "{stdout}");
    assert!(stdout.contains("2 passed, 1 failed"), "{stdout}");
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

#[test]
fn run_refuses_a_malformed_etcd_url_saying_how_to_write_one() {
    let output = portcullis()
        .args(["run", "--config", "etcd://127.0.0.1/portcullis"])
        .output()
        .expect("run portcullis run");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs a port"), "{stderr}");
    assert!(stderr.contains("etcd://HOST:PORT/PREFIX"), "{stderr}");
}

#[test]
fn run_from_an_unreachable_etcd_without_a_cache_exits_naming_the_endpoints() {
    let cache = tempfile::tempdir().expect("a temporary directory");
    let url = format!("etcd://127.0.0.1:{}/portcullis", closed_port());

    let output = portcullis()
        .args(["run", "--config", &url, "--manifest-cache"])
        .arg(cache.path())
        .output()
        .expect("run portcullis run");

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the manifest from etcd at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("no cached manifest"), "{stderr}");
}

#[test]
fn config_push_checks_before_it_connects_and_refuses_relative_paths() {
    let (_dir, path) = write_manifest(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.demo]
targets = ["127.0.0.1:3000"]

[routes.a]
upstream = "demo"
match.path = "/a"

[access-log]
destination = "access.log"
"#,
    );
    // Nothing listens there: a manifest that is checked first never gets that far.
    let url = format!("etcd://127.0.0.1:{}/portcullis", closed_port());

    let output = portcullis()
        .args(["config", "push", &url])
        .arg(&path)
        .output()
        .expect("run portcullis config push");

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`access.log` is a relative path"),
        "{stderr}"
    );
    assert!(stderr.contains("portcullis.toml:13:15"), "{stderr}");
    assert!(stderr.contains("nothing was written to etcd"), "{stderr}");
}
