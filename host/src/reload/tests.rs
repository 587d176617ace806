//! The reloader as specifications: a refused reload changes nothing that serves and is
//! recorded; an accepted one swaps the snapshot and keeps what did not change.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{AccessLogSource, Refusal, Reloader, Trigger};
use crate::observe::access_log::AccessLog;
use crate::snapshot::testing::{ManifestDir, runtime, send, upstream};

/// A listener on an ephemeral port and one route to `upstream`; `extra` is appended.
fn manifest(upstream: SocketAddr, extra: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{upstream}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/"
{extra}"#
    )
}

async fn start(dir: &ManifestDir) -> Reloader {
    let access = AccessLogSource::Fixed(AccessLog::default());
    Reloader::start(runtime(), &dir.path(), Duration::from_secs(1), access)
        .await
        .expect("the reloader starts")
}

fn address(reloader: &Reloader) -> SocketAddr {
    reloader.addresses()[0].1
}

#[tokio::test]
async fn a_refused_reload_keeps_the_old_version_serving_and_records_the_outcome() {
    let backend = upstream("from v1").await;
    let dir = ManifestDir::new(&manifest(backend, ""));
    let reloader = start(&dir).await;

    let broken = "[routes.broken]\nupstream = \"nowhere\"\nmatch.path = \"/broken\"\n";
    dir.write(&manifest(backend, broken));
    let refused = reloader
        .reload(Trigger::Call)
        .await
        .expect_err("a route to an unknown upstream is refused");

    assert!(matches!(refused.refusal(), Refusal::Load(_)), "{refused:?}");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("upstream `nowhere`"), "{refused:?}");
    assert!(refused[0].contains("portcullis.toml:"), "{refused:?}");
    assert_eq!(reloader.current().load().version, 1);
    let answer = send(address(&reloader), "GET", "/").await.expect("served");
    assert_eq!((answer.status, answer.body.as_str()), (200, "from v1"));

    let history = reloader.history();
    assert_eq!((history.succeeded, history.failed), (0, 1));
    let last = history.last.expect("the outcome is recorded");
    assert_eq!(last.trigger, Trigger::Call);
    assert_eq!(last.version, 1, "the version still serving");
    assert_eq!(last.errors, refused.errors());
}

#[tokio::test]
async fn a_reload_of_an_unchanged_manifest_keeps_the_upstreams() {
    let backend = upstream("ok").await;
    let dir = ManifestDir::new(&manifest(backend, ""));
    let reloader = start(&dir).await;
    let before = reloader.current().load();

    let version = reloader.reload(Trigger::Call).await.expect("reloaded");

    let after = reloader.current().load();
    assert_eq!((version, after.version), (2, 2));
    assert!(Arc::ptr_eq(&before.upstreams[0], &after.upstreams[0]));
    assert_eq!(
        reloader.addresses(),
        vec![("public".to_owned(), address(&reloader))]
    );
    let history = reloader.history();
    assert_eq!((history.succeeded, history.failed), (1, 0));
    assert!(history.last.expect("recorded").errors.is_empty());
    let answer = send(address(&reloader), "GET", "/").await.expect("served");
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn a_reload_whose_new_listener_cannot_bind_is_refused_naming_it() {
    let backend = upstream("ok").await;
    let dir = ManifestDir::new(&manifest(backend, ""));
    let reloader = start(&dir).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("an address").port();

    let extra = format!("[listeners.extra]\naddress = \"127.0.0.1:{port}\"\n");
    dir.write(&manifest(backend, &extra));
    let refused = reloader
        .reload(Trigger::Admin)
        .await
        .expect_err("the address is taken");

    match refused.refusal() {
        Refusal::Bind { name, address, .. } => {
            assert_eq!((name.as_str(), address.port()), ("extra", port));
        }
        other => panic!("not a bind failure: {other:?}"),
    }
    assert!(
        refused[0].starts_with(&format!("listener `extra` cannot bind 127.0.0.1:{port}: ")),
        "{refused:?}"
    );
    assert!(
        std::error::Error::source(&refused).is_some(),
        "the cause is kept"
    );
    assert_eq!(reloader.current().load().version, 1);
    assert_eq!(reloader.addresses().len(), 1, "no listener was added");
    let last = reloader.history().last.expect("recorded");
    assert_eq!(last.trigger, Trigger::Admin);
}
