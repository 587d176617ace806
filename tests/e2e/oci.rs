//! Plugins from an OCI registry (`wasm = "oci://..."`): pushed as Wasm artifacts, pulled with
//! credentials over TLS, verified and kept by digest, shown by digest; a tag is resolved again
//! at every reload, and from the plugin store while the registry is away; what the store does
//! not hold fails the reload clearly while the running chain serves. A real registry
//! (`docker-registry`), real sockets (docs/fleet.md).

use std::path::Path;
use std::sync::Arc;

use portcullis::config::OciReference;
use portcullis::gateway::Running;
use portcullis::oci::RegistrySettings;
use portcullis::plugin::Runtime;
use portcullis_tests::gateway::{admin_client, runtime_with_registries};
use portcullis_tests::registry::{PASSWORD, RegistryServer, TOKEN_ISSUER, USER, headers_component};
use portcullis_tests::tls::TestCa;
use portcullis_tests::{Client, EchoUpstream};

/// A manifest whose route `/api` runs the component at `reference`, configured to stamp
/// `x-stamp: <stamp>` on responses.
fn manifest(upstream: &EchoUpstream, reference: &str, stamp: &str) -> String {
    format!(
        r#"[listeners.public]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[upstreams.backend]
targets = ["{}"]

[routes.api]
upstream = "backend"
match.path-prefix = "/api"

[[routes.api.plugins]]
name = "stamp"
wasm = "{reference}"
config = {{ response = {{ set = {{ "x-stamp" = "{stamp}" }} }} }}
"#,
        upstream.authority()
    )
}

/// Settings for a plain-HTTP registry, with the plugin store in `dir`.
fn plain(registry: &RegistryServer, dir: &Path) -> RegistrySettings {
    registry.plain_settings(&dir.join("store"))
}

async fn push(runtime: &Runtime, reference: &str, component: &[u8]) -> String {
    let reference = OciReference::parse(reference).expect("a valid reference");
    runtime
        .registries()
        .push(&reference, component)
        .await
        .unwrap_or_else(|e| panic!("pushed to {reference}: {e}"))
}

async fn start(runtime: Arc<Runtime>, dir: &Path, text: &str) -> Result<Running, String> {
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, text).expect("the manifest is written");
    Running::start_with(runtime, &path)
        .await
        .map_err(|e| e.to_string())
}

/// Reloads `text`; a refused reload's errors as `GET /status` reports them.
async fn reload(gateway: &Running, dir: &Path, text: &str) -> Result<u64, String> {
    std::fs::write(dir.join("portcullis.toml"), text).expect("the manifest is written");
    match gateway.reload().await {
        Ok(version) => Ok(version),
        Err(_) => {
            let status = admin_client(gateway).get("/status").await.json();
            Err(status["reloads"]["last"]["errors"].to_string())
        }
    }
}

fn public(gateway: &Running) -> Client {
    Client::http1(gateway.address("public").expect("a public listener"))
}

/// The `stamp` entry of route `api` as `GET /routes` shows it.
async fn entry(gateway: &Running) -> serde_json::Value {
    let routes = admin_client(gateway).get("/routes").await.json();
    routes["routes"][0]["chain"][0].clone()
}

#[tokio::test]
async fn a_plugin_pushed_to_a_secured_registry_loads_and_is_shown_by_its_digest() {
    let ca = TestCa::new("registry test CA");
    let registry = RegistryServer::start_secured(&ca);
    let upstream = EchoUpstream::start("backend").await;
    let dir = tempfile::tempdir().expect("a directory");
    let settings = RegistrySettings {
        auth_file: Some(registry.write_auth(dir.path(), PASSWORD)),
        ca: Some(registry.ca_file()),
        plain_http: Vec::new(),
        store: Some(dir.path().join("store")),
    };
    let runtime = runtime_with_registries(settings);
    let tagged = format!("{}:v1", registry.reference("team/stamp"));
    let digest = push(&runtime, &tagged, &headers_component("1")).await;
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );

    let gateway = start(
        runtime.clone(),
        dir.path(),
        &manifest(&upstream, &tagged, "v1"),
    )
    .await
    .expect("the gateway starts with the pulled plugin");
    let answer = public(&gateway).get("/api").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-stamp"), Some("v1"));

    let shown = entry(&gateway).await;
    assert_eq!(shown["source"], tagged.as_str());
    assert_eq!(shown["digest"], digest.as_str());
    let plugins = admin_client(&gateway).get("/plugins").await.json();
    assert!(plugins.to_string().contains(&digest), "{plugins}");
    let metrics = admin_client(&gateway).get("/metrics").await.text();
    let info = metrics
        .lines()
        .find(|l| l.starts_with("portcullis_plugin_source_info{"))
        .unwrap_or_else(|| panic!("a source info line:\n{metrics}"));
    assert!(info.contains(&format!("digest=\"{digest}\"")), "{info}");
    assert!(info.contains(&format!("source=\"{tagged}\"")), "{info}");

    // Pushing the same component again gives the same digest: nothing in it changes by time.
    assert_eq!(
        push(&runtime, &tagged, &headers_component("1")).await,
        digest
    );
}

#[tokio::test]
async fn wrong_credentials_a_missing_ca_or_no_credentials_fail_the_load_naming_the_registry() {
    let ca = TestCa::new("registry test CA");
    let registry = RegistryServer::start_secured(&ca);
    let upstream = EchoUpstream::start("backend").await;
    let dir = tempfile::tempdir().expect("a directory");
    let good = RegistrySettings {
        auth_file: Some(registry.write_auth(dir.path(), PASSWORD)),
        ca: Some(registry.ca_file()),
        plain_http: Vec::new(),
        store: Some(dir.path().join("store")),
    };
    let tagged = format!("{}:v1", registry.reference("team/stamp"));
    push(
        &runtime_with_registries(good.clone()),
        &tagged,
        &headers_component("1"),
    )
    .await;
    let text = manifest(&upstream, &tagged, "v1");

    let wrong_dir = tempfile::tempdir().expect("a directory");
    let wrong = RegistrySettings {
        auth_file: Some(registry.write_auth(wrong_dir.path(), "not-the-password")),
        store: Some(wrong_dir.path().join("store")),
        ..good.clone()
    };
    let error = start(runtime_with_registries(wrong), wrong_dir.path(), &text)
        .await
        .err()
        .expect("wrong credentials: no start");
    assert!(error.contains("plugin `stamp` on route `api`"), "{error}");
    assert!(
        error.contains(&format!(
            "registry {} refused access to `team/stamp` (401)",
            registry.host()
        )),
        "{error}"
    );
    assert!(error.contains("check the credentials"), "{error}");

    let none_dir = tempfile::tempdir().expect("a directory");
    let anonymous = RegistrySettings {
        auth_file: Some(none_dir.path().join("absent.json")),
        store: Some(none_dir.path().join("store")),
        ..good.clone()
    };
    let error = start(runtime_with_registries(anonymous), none_dir.path(), &text)
        .await
        .err()
        .expect("no credentials file: no start");
    assert!(error.contains("registry credentials"), "{error}");
    assert!(error.contains("absent.json"), "{error}");

    let untrusted_dir = tempfile::tempdir().expect("a directory");
    let untrusted = RegistrySettings {
        ca: None,
        store: Some(untrusted_dir.path().join("store")),
        ..good
    };
    let error = start(
        runtime_with_registries(untrusted),
        untrusted_dir.path(),
        &text,
    )
    .await
    .err()
    .expect("an unknown CA: no start");
    assert!(error.contains("TLS with 127.0.0.1"), "{error}");
}

#[tokio::test]
async fn a_tag_is_resolved_at_every_reload_and_from_the_store_while_the_registry_is_away() {
    let mut registry = RegistryServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let dir = tempfile::tempdir().expect("a directory");
    let runtime = runtime_with_registries(plain(&registry, dir.path()));
    let tagged = format!("{}:stable", registry.reference("stamp"));
    let first = push(&runtime, &tagged, &headers_component("1")).await;
    let text = manifest(&upstream, &tagged, "v1");
    let gateway = start(runtime.clone(), dir.path(), &text)
        .await
        .expect("the gateway starts");
    assert_eq!(entry(&gateway).await["digest"], first.as_str());

    // The tag moves; a reload follows it.
    let second = push(&runtime, &tagged, &headers_component("2")).await;
    assert_ne!(first, second);
    reload(&gateway, dir.path(), &text).await.expect("reloaded");
    assert_eq!(entry(&gateway).await["digest"], second.as_str());

    // A third version is pushed but never pulled; then the registry goes away.
    let third = push(&runtime, &tagged, &headers_component("3")).await;
    registry.kill();

    // The tag is served by its last resolution, from the store.
    reload(&gateway, dir.path(), &text)
        .await
        .expect("a tag loads from the store with the registry away");
    assert_eq!(entry(&gateway).await["digest"], second.as_str());
    assert_eq!(
        public(&gateway).get("/api").await.header("x-stamp"),
        Some("v1")
    );

    // A digest never pulled cannot load: the reload fails, naming the registry; the chain
    // in service keeps serving.
    let pinned = registry.reference("stamp") + "@" + &third;
    let error = reload(&gateway, dir.path(), &manifest(&upstream, &pinned, "v3"))
        .await
        .expect_err("the registry is needed for a new digest");
    assert!(
        error.contains(&format!("{pinned} is not in the plugin store")),
        "{error}"
    );
    assert!(
        error.contains(&format!("registry {} cannot be reached", registry.host())),
        "{error}"
    );
    let answer = public(&gateway).get("/api").await;
    assert_eq!(
        (answer.status.as_u16(), answer.header("x-stamp")),
        (200, Some("v1"))
    );

    // A digest pulled before loads without the registry, by a fresh gateway too.
    let pinned = registry.reference("stamp") + "@" + &first;
    let other = tempfile::tempdir().expect("a directory");
    let settings = RegistrySettings {
        store: Some(dir.path().join("store")),
        ..plain(&registry, other.path())
    };
    let restarted = start(
        runtime_with_registries(settings),
        other.path(),
        &manifest(&upstream, &pinned, "v1"),
    )
    .await
    .expect("a pinned digest in the store loads without the registry");
    assert_eq!(entry(&restarted).await["digest"], first.as_str());
}

#[tokio::test]
async fn a_reference_the_registry_does_not_hold_or_that_is_not_wasm_is_refused_clearly() {
    let registry = RegistryServer::start();
    let upstream = EchoUpstream::start("backend").await;
    let dir = tempfile::tempdir().expect("a directory");
    let runtime = runtime_with_registries(plain(&registry, dir.path()));
    let missing = format!("{}:nope", registry.reference("stamp"));
    let error = start(
        runtime.clone(),
        dir.path(),
        &manifest(&upstream, &missing, "v1"),
    )
    .await
    .err()
    .expect("a missing tag: no start");
    assert!(
        error.contains(&format!("{missing} was not found in the registry")),
        "{error}"
    );

    // Not a component: bytes that are not Wasm fail to compile, naming the plugin.
    let tagged = format!("{}:v1", registry.reference("notwasm"));
    push(&runtime, &tagged, b"#!/bin/sh\necho not wasm\n").await;
    let error = start(runtime, dir.path(), &manifest(&upstream, &tagged, "v1"))
        .await
        .err()
        .expect("not Wasm: no start");
    assert!(error.contains("plugin `stamp` on route `api`"), "{error}");
    assert!(error.contains("not WebAssembly"), "{error}");
}

/// A token service as Docker Hub's, GHCR's or Harbor's: HTTP Basic credentials in, a JWT out
/// granting the scope asked, signed with a certificate from `ca` (sent in the header's `x5c`, as
/// the registry verifies it against its root bundle).
struct TokenService {
    address: std::net::SocketAddr,
    issued: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TokenService {
    async fn start(ca: &TestCa) -> Self {
        use http_body_util::Full;
        use hyper::body::Bytes;
        use hyper_util::rt::TokioIo;

        let signer = Arc::new(ca.server(&["token-signer"]));
        let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the token service");
        let address = listener.local_addr().expect("its address");
        let (signer_, issued_) = (signer.clone(), issued.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (signer, issued) = (signer_.clone(), issued_.clone());
                let service = hyper::service::service_fn(move |request| {
                    let answer = token_answer(&request, &signer, &issued);
                    async move {
                        let (status, body) = answer;
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .expect("a response"),
                        )
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Self {
            address,
            issued,
            task,
        }
    }

    fn realm(&self) -> String {
        format!("http://{}/token", self.address)
    }

    fn issued(&self) -> usize {
        self.issued.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The token service's answer to `request`: 401 without the right credentials, else a token for
/// the `scope` and `service` of its query.
fn token_answer(
    request: &http::Request<hyper::body::Incoming>,
    signer: &portcullis_tests::tls::Issued,
    issued: &std::sync::atomic::AtomicUsize,
) -> (u16, String) {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let expected = format!("Basic {}", engine.encode(format!("{USER}:{PASSWORD}")));
    let authorized = request
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return (401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.into());
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    let parameter = |name: &str| {
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| {
                value
                    .replace("%3A", ":")
                    .replace("%2C", ",")
                    .replace("%2F", "/")
            })
        })
    };
    let service = parameter("service").unwrap_or_default();
    let access: Vec<serde_json::Value> = parameter("scope")
        .and_then(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(vec![serde_json::json!({
                "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>(),
            })])
        })
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": USER, "aud": service, "exp": now + 300,
        "nbf": now - 10, "iat": now, "jti": format!("token-{now}-{}", issued.load(std::sync::atomic::Ordering::Relaxed)),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![engine.encode(&signer.der)]);
    let key = jsonwebtoken::EncodingKey::from_ec_pem(signer.key_pem.as_bytes()).expect("an EC key");
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("signed");
    issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (
        200,
        serde_json::json!({ "token": token, "expires_in": 300 }).to_string(),
    )
}

#[tokio::test]
async fn a_registry_asking_for_tokens_gets_them_from_its_token_service_with_the_credentials() {
    let ca = TestCa::new("token signer CA");
    let dir = tempfile::tempdir().expect("a directory");
    ca.cert.write(dir.path(), "token-ca");
    let tokens = TokenService::start(&ca).await;
    let registry =
        RegistryServer::start_with_tokens(&tokens.realm(), &dir.path().join("token-ca.pem"));
    let upstream = EchoUpstream::start("backend").await;
    let settings = RegistrySettings {
        auth_file: Some(registry.write_auth(dir.path(), PASSWORD)),
        ..plain(&registry, dir.path())
    };
    let runtime = runtime_with_registries(settings.clone());
    let tagged = format!("{}:v1", registry.reference("team/stamp"));
    let digest = push(&runtime, &tagged, &headers_component("1")).await;
    assert!(tokens.issued() > 0, "the push asked the token service");

    let gateway = start(
        runtime_with_registries(settings),
        dir.path(),
        &manifest(&upstream, &tagged, "v1"),
    )
    .await
    .expect("the gateway pulls with a token");
    assert_eq!(
        public(&gateway).get("/api").await.header("x-stamp"),
        Some("v1")
    );
    assert_eq!(entry(&gateway).await["digest"], digest.as_str());

    // The token service refuses a wrong password: the load fails naming the registry.
    let wrong_dir = tempfile::tempdir().expect("a directory");
    let wrong = RegistrySettings {
        auth_file: Some(registry.write_auth(wrong_dir.path(), "wrong")),
        ..plain(&registry, wrong_dir.path())
    };
    let error = start(
        runtime_with_registries(wrong),
        wrong_dir.path(),
        &manifest(&upstream, &tagged, "v1"),
    )
    .await
    .err()
    .expect("a refused token: no start");
    assert!(
        error.contains(&format!(
            "registry {} refused access to `team/stamp` (401)",
            registry.host()
        )),
        "{error}"
    );
}
