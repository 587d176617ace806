//! The snapshot as specifications: what a build carries over from the snapshot before, what a
//! metrics scrape reads from it, and how a plugin that cannot be configured refuses it.

use std::sync::Arc;

use super::testing::{ManifestDir, runtime};
use super::{Snapshot, load};

/// Two upstreams, `kept` and `changed` (the latter's target given), each with a route.
fn two_upstreams(changed_target: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.kept]
targets = ["127.0.0.1:1001", "127.0.0.1:1002"]

[upstreams.changed]
targets = ["{changed_target}"]

[routes.a]
upstream = "kept"
match.path-prefix = "/a"

[routes.b]
upstream = "changed"
match.path-prefix = "/b"
"#
    )
}

/// One upstream and one route `orders` with `plugins` appended to the manifest.
fn one_route_with(plugins: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["127.0.0.1:1001"]

[routes.orders]
upstream = "echo"
match.path-prefix = "/"
{plugins}"#
    )
}

fn upstream<'a>(snapshot: &'a Snapshot, name: &str) -> &'a Arc<crate::upstream::Upstream> {
    (snapshot.upstreams.iter())
        .find(|u| u.name() == name)
        .expect("the upstream is in the snapshot")
}

#[tokio::test]
async fn a_build_carries_an_unchanged_upstream_over_and_rebuilds_a_changed_one() {
    let dir = ManifestDir::new(&two_upstreams("127.0.0.1:2001"));
    let first = load(&runtime(), &dir.path(), 1, None).await.expect("loads");

    dir.write(&two_upstreams("127.0.0.1:2002"));
    let second = load(&runtime(), &dir.path(), 2, Some(&first))
        .await
        .expect("loads");

    assert!(
        Arc::ptr_eq(upstream(&first, "kept"), upstream(&second, "kept")),
        "the unchanged upstream keeps its pool, health and breaker"
    );
    assert!(!Arc::ptr_eq(
        upstream(&first, "changed"),
        upstream(&second, "changed")
    ));
    let targets: Vec<_> = upstream(&second, "changed")
        .targets()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(targets, ["127.0.0.1:2002"]);
    assert!(
        Arc::ptr_eq(&second.routes[0].upstream, upstream(&second, "kept")),
        "routes point at the upstreams of their own snapshot"
    );
}

#[tokio::test]
async fn without_a_previous_snapshot_every_upstream_is_built() {
    let dir = ManifestDir::new(&two_upstreams("127.0.0.1:2001"));
    let first = load(&runtime(), &dir.path(), 1, None).await.expect("loads");
    let again = load(&runtime(), &dir.path(), 1, None).await.expect("loads");

    assert!(!Arc::ptr_eq(
        upstream(&first, "kept"),
        upstream(&again, "kept")
    ));
}

#[tokio::test]
async fn readings_list_every_target_of_every_upstream() {
    let dir = ManifestDir::new(&two_upstreams("127.0.0.1:2001"));
    let snapshot = load(&runtime(), &dir.path(), 1, None).await.expect("loads");

    let readings = snapshot.readings();

    let targets: Vec<_> = (readings.targets.iter())
        .map(|t| (t.upstream.as_str(), t.target.as_str(), t.healthy))
        .collect();
    assert_eq!(
        targets,
        [
            ("kept", "127.0.0.1:1001", true),
            ("kept", "127.0.0.1:1002", true),
            ("changed", "127.0.0.1:2001", true),
        ]
    );
    assert_eq!(
        readings.plugin_memory_limit,
        snapshot.plugin_memory.limit() as u64
    );
    assert!(
        readings.state.upgrade().is_some(),
        "the scrape reads the store in service"
    );
}

#[tokio::test]
async fn a_plugin_that_rejects_its_config_refuses_the_build_naming_the_plugin_and_the_route() {
    let dir = ManifestDir::new(&one_route_with(
        "[[routes.orders.plugins]]\nplugin = \"correlation-id\"\nconfig = { header = \"x trace\" }\n",
    ));

    let Err(refused) = load(&runtime(), &dir.path(), 1, None).await else {
        panic!("the snapshot is refused");
    };

    assert_eq!(refused.errors.len(), 1, "{refused}");
    let error = &refused.errors[0];
    assert!(
        error.contains("plugin `correlation-id` on route `orders` rejected its config"),
        "{error}"
    );
    assert!(
        error.contains("= help: fix the plugin's `config` table"),
        "{error}"
    );
    assert!(
        error.contains("portcullis.toml:"),
        "points at the manifest: {error}"
    );
    assert!(refused.to_string().ends_with("1 error found"), "{refused}");
}

#[tokio::test]
async fn a_global_plugin_that_fails_is_named_as_global_once_not_per_route() {
    let dir = ManifestDir::new(&one_route_with(
        "[[plugins]]\nname = \"ids\"\nplugin = \"correlation-id\"\nconfig = { header = \"x trace\" }\n\n\
         [routes.other]\nupstream = \"echo\"\nmatch.path = \"/other\"\n",
    ));

    let Err(refused) = load(&runtime(), &dir.path(), 1, None).await else {
        panic!("the snapshot is refused");
    };

    assert_eq!(refused.errors.len(), 1, "{refused}");
    assert!(
        refused.errors[0].contains("plugin `ids` (global) rejected its config"),
        "{refused}"
    );
}
