//! Hot reload: new plugin binaries and configs swap in under load with no failed request and
//! never a mixed chain; a broken manifest is refused while the old one keeps serving; a plugin
//! replaced on disk is picked up by the file watcher; the admin API reloads and reports.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use portcullis::plugin::catalog;
use portcullis_tests::{Client, EchoUpstream, TestGateway, guests};

/// Two generations of one route's chain: a plugin loaded from `policy.wasm` (the `headers`
/// component, or the `misbehave` one) followed by the prebuilt `headers`, both configured for
/// the same generation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Generation {
    A,
    B,
}

impl Generation {
    fn other(self) -> Self {
        match self {
            Generation::A => Generation::B,
            Generation::B => Generation::A,
        }
    }

    /// Writes the generation's plugin binary, then its manifest.
    fn write(self, dir: &Path, upstream: &EchoUpstream) {
        let binary: Vec<u8> = match self {
            Generation::A => catalog::get("headers")
                .expect("headers is prebuilt")
                .to_vec(),
            Generation::B => std::fs::read(guests::MISBEHAVE).expect("the misbehave component"),
        };
        replace(&dir.join("policy.wasm"), &binary);
        let first = match self {
            Generation::A => {
                r#"config = { response = { set = { x-binary = "headers", x-first = "A" } } }"#
            }
            Generation::B => r#"config = { mode = "stateful" }"#,
        };
        let tag = format!("{self:?}");
        let manifest = format!(
            r#"
[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{upstream}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/"

[[routes.api.plugins]]
name = "policy"
wasm = "policy.wasm"
{first}

[[routes.api.plugins]]
plugin = "headers"
config = {{ response = {{ set = {{ x-second = "{tag}" }} }} }}
"#,
            upstream = upstream.authority()
        );
        replace(&dir.join("portcullis.toml"), manifest.as_bytes());
    }

    /// Which generation served `response`, if its chain is wholly one of them.
    fn of(response: &portcullis_tests::TestResponse) -> Option<Self> {
        let binary = response.header("x-binary");
        let first = response.header("x-first");
        let misbehave = response.header("x-misbehave");
        match (response.header("x-second")?, binary, first, misbehave) {
            ("A", Some("headers"), Some("A"), None) => Some(Generation::A),
            ("B", None, None, Some("ok")) => Some(Generation::B),
            _ => None,
        }
    }
}

/// Replaces a file the way deployment tools do: a temporary file renamed over it.
fn replace(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

async fn start(generation: Generation) -> (EchoUpstream, TestGateway) {
    let upstream = EchoUpstream::start("echo").await;
    let dir = tempfile::tempdir().expect("a directory");
    generation.write(dir.path(), &upstream);
    let manifest = std::fs::read_to_string(dir.path().join("portcullis.toml")).expect("read");
    let gateway = TestGateway::start_in(dir, &manifest).await;
    (upstream, gateway)
}

#[tokio::test]
async fn fifty_reloads_under_load_fail_no_request_and_never_mix_chains() {
    let (upstream, gateway) = start(Generation::A).await;
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let client = gateway.client();
            let (stop, seen) = (stop.clone(), seen.clone());
            tokio::spawn(async move {
                let mut problems = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let response = client.get("/").await;
                    match (response.status.as_u16(), Generation::of(&response)) {
                        (200, Some(generation)) => {
                            seen[generation as usize].fetch_add(1, Ordering::Relaxed);
                        }
                        (status, _) => problems.push(format!("{status} {:?}", response.headers)),
                    }
                }
                problems
            })
        })
        .collect();

    let mut generation = Generation::A;
    for _ in 0..50 {
        generation = generation.other();
        generation.write(gateway.dir(), &upstream);
        let version = gateway
            .running()
            .reload()
            .await
            .expect("the reload succeeds");
        assert!(version > 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut problems = Vec::new();
    for client in clients {
        problems.extend(client.await.expect("a client"));
    }

    assert!(
        problems.is_empty(),
        "failed or mixed responses: {problems:?}"
    );
    let (a, b) = (
        seen[0].load(Ordering::Relaxed),
        seen[1].load(Ordering::Relaxed),
    );
    assert!(a > 0 && b > 0, "both generations served ({a} and {b})");
    assert_eq!(gateway.running().current().load().version, 51);
}

#[tokio::test]
async fn a_broken_manifest_is_refused_and_the_old_one_keeps_serving() {
    let (_upstream, gateway) = start(Generation::A).await;
    let path = gateway.dir().join("portcullis.toml");
    let good = std::fs::read_to_string(&path).expect("read");
    replace(&path, good.replace("path-prefix", "path-prefx").as_bytes());

    let admin = Client::http1(gateway.running().admin_address().expect("an admin API"));
    let refused = admin
        .send(http::Method::POST, "/reload", &[], bytes::Bytes::new())
        .await;

    assert_eq!(refused.status, 422);
    let body = refused.json();
    assert_eq!(body["status"], "refused");
    assert_eq!(body["version"], 1);
    let errors = body["errors"].to_string();
    assert!(errors.contains("portcullis.toml:13:7"), "{errors}");
    assert!(
        errors.contains("path-prefix"),
        "the fix is suggested: {errors}"
    );
    let served = gateway.client().get("/").await;
    assert_eq!(Generation::of(&served), Some(Generation::A));

    let status = admin.get("/status").await.json();
    assert_eq!(status["version"], 1);
    assert_eq!(status["reloads"]["failed"], 1);
    assert_eq!(
        status["reloads"]["last"]["errors"].as_array().map(Vec::len),
        Some(1)
    );

    replace(&path, good.as_bytes());
    let accepted = admin
        .send(http::Method::POST, "/reload", &[], bytes::Bytes::new())
        .await;
    assert_eq!(accepted.status, 200);
    assert_eq!(accepted.json()["version"], 2);
}

#[tokio::test]
async fn a_plugin_replaced_on_disk_changes_behaviour_without_a_restart() {
    let (upstream, mut gateway) = start(Generation::A).await;
    gateway
        .running_mut()
        .watch_files()
        .expect("the files are watched");
    let before = gateway.client().get("/").await;
    assert_eq!(Generation::of(&before), Some(Generation::A));

    Generation::B.write(gateway.dir(), &upstream);

    let mut served = None;
    for _ in 0..100 {
        let response = gateway.client().get("/").await;
        assert_eq!(response.status, 200, "no request fails while reloading");
        served = Generation::of(&response);
        if served == Some(Generation::B) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served, Some(Generation::B), "the new binary serves");
    let status = Client::http1(gateway.running().admin_address().expect("admin"))
        .get("/status")
        .await
        .json();
    assert_eq!(status["reloads"]["last"]["trigger"], "file-change");
    let hashes: Vec<_> = status["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .map(|p| p["hash"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes[0].len(), 64, "a SHA-256 in hex");
}

#[tokio::test]
async fn unchanged_upstreams_keep_their_state_across_reloads() {
    let (upstream, gateway) = start(Generation::A).await;
    let before = gateway.running().current().load().upstreams[0].clone();

    Generation::B.write(gateway.dir(), &upstream);
    gateway.running().reload().await.expect("reloaded");

    let after = gateway.running().current().load().upstreams[0].clone();
    assert!(
        Arc::ptr_eq(&before, &after),
        "the same upstream, pool and health"
    );
}

#[tokio::test]
async fn listeners_added_and_removed_by_a_reload_open_and_close() {
    let (_upstream, gateway) = start(Generation::A).await;
    let path = gateway.dir().join("portcullis.toml");
    let original = std::fs::read_to_string(&path).expect("read");
    let with_second = original.replacen(
        "[admin]",
        "[listeners.second]\naddress = \"127.0.0.1:0\"\n\n[admin]",
        1,
    );

    replace(&path, with_second.as_bytes());
    gateway.running().reload().await.expect("reloaded");
    let second = gateway
        .running()
        .address("second")
        .expect("the new listener is bound");
    let through_second = Client::http1(second).get("/").await;
    assert_eq!(Generation::of(&through_second), Some(Generation::A));

    replace(&path, original.as_bytes());
    gateway.running().reload().await.expect("reloaded");
    assert!(gateway.running().address("second").is_none());
    let mut closed = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(second).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the removed listener stops accepting");
    assert_eq!(gateway.client().get("/").await.status, 200);
}

#[tokio::test]
async fn a_new_certificate_serves_the_next_handshake_after_a_reload() {
    use portcullis_tests::tls::{TestCa, TlsClient};
    let upstream = EchoUpstream::start("echo").await;
    let dir = tempfile::tempdir().expect("a directory");
    let ca = TestCa::new("Reload CA");
    ca.server(&["api.example.com"]).write(dir.path(), "site");
    let manifest = format!(
        r#"
[listeners.secure]
address = "127.0.0.1:0"
tls.certificates = [{{ cert = "site.pem", key = "site.key" }}]

[upstreams.echo]
targets = ["{}"]

[routes.all]
upstream = "echo"
match.path-prefix = "/"
"#,
        upstream.authority()
    );
    let gateway = TestGateway::start_in(dir, &manifest).await;
    let client = TlsClient::new(&ca, "api.example.com");
    let before = client
        .get(gateway.address(), "/")
        .await
        .expect("a TLS exchange");
    assert_eq!(before.server_sans, ["api.example.com"]);

    // The certificate is renewed (with one more name) and the key replaced.
    ca.server(&["api.example.com", "www.example.com"])
        .write(gateway.dir(), "site");
    gateway.running().reload().await.expect("reloaded");

    let after = client
        .get(gateway.address(), "/")
        .await
        .expect("a TLS exchange");
    assert_eq!(after.server_sans, ["api.example.com", "www.example.com"]);
    assert_eq!(after.response.status, 200);
}
