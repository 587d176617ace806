//! A plugin entry's `canary`, `shadow` and `breaker`: what a valid one gives, and how the
//! manifest default reaches entries. Invalid ones are in `tests/ui/invalid/rollouts.toml`.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use crate::config::{BreakerSpec, GuardSpec, Manifest, PluginSource, Sticky};

fn parse(plugins: &str, runtime: &str) -> Manifest {
    let text = format!(
        r#"
[listeners.public]
address = "127.0.0.1:8080"
[upstreams.demo]
targets = ["127.0.0.1:3000"]
{runtime}
[routes.all]
upstream = "demo"
match.path-prefix = "/"
{plugins}
"#
    );
    let catalog = ["key-auth", "headers", "path-rewrite"];
    match Manifest::parse(Path::new("portcullis.toml"), &text, &catalog) {
        Ok(manifest) => manifest,
        Err(errors) => panic!("{}", errors.render_each().join("\n")),
    }
}

#[test]
fn a_canary_is_the_entry_with_its_overrides_and_a_default_guard() {
    let m = parse(
        r#"
[[routes.all.plugins]]
plugin = "headers"
name = "audit"
cpu = "10ms"
config = { request.set = { x-version = "1" } }
canary = { config = { request.set = { x-version = "2" } }, weight = 5, sticky = "consumer" }
"#,
        "",
    );
    let spec = &m.routes[0].plugins[0];
    let canary = spec.rollout.canary.as_ref().unwrap();
    assert_eq!(
        canary.plugin.name, "audit",
        "the candidate keeps the entry's name"
    );
    assert_eq!(
        canary.plugin.source,
        PluginSource::Prebuilt("headers".into())
    );
    assert_eq!(
        canary.plugin.limits.cpu,
        Duration::from_millis(10),
        "not overridden: inherited"
    );
    assert_eq!(canary.plugin.config["request"]["set"]["x-version"], "2");
    assert_eq!(
        spec.config["request"]["set"]["x-version"], "1",
        "the stable keeps its own"
    );
    assert_eq!(canary.weight, 5.0);
    assert_eq!(canary.sticky, Some(Sticky::Context("consumer".into())));
    assert_eq!(canary.guard, GuardSpec::default());
    assert!(spec.rollout.breaker.is_none() && spec.rollout.shadow.is_none());
}

#[test]
fn a_guard_a_sticky_header_and_a_shadow_are_read_with_their_units() {
    let m = parse(
        r#"
[[routes.all.plugins]]
plugin = "headers"
[routes.all.plugins.canary]
plugin = "path-rewrite"
weight = 2.5
sticky = "header:X-User"
guard = { max-trap-rate = "0.5%", max-p99-ratio = 3, max-error-status-ratio = 1.2, window = "30s", min-calls = 50 }
[routes.all.plugins.shadow]
sample = "10%"
cpu = "5ms"
memory = "8MiB"
"#,
        "",
    );
    let spec = &m.routes[0].plugins[0];
    let canary = spec.rollout.canary.as_ref().unwrap();
    assert_eq!(
        canary.plugin.source,
        PluginSource::Prebuilt("path-rewrite".into())
    );
    assert_eq!(canary.weight, 2.5);
    assert_eq!(
        canary.sticky,
        Some(Sticky::Header(http::HeaderName::from_static("x-user")))
    );
    assert_eq!(
        canary.guard,
        GuardSpec {
            max_trap_rate: 0.005,
            max_p99_ratio: 3.0,
            max_error_status_ratio: 1.2,
            window: Duration::from_secs(30),
            min_calls: 50,
        }
    );
    let shadow = spec.rollout.shadow.as_ref().unwrap();
    assert!((shadow.sample - 0.1).abs() < 1e-9);
    assert_eq!(
        shadow.plugin.name, "headers.shadow",
        "its state and metrics are apart"
    );
    assert_eq!(shadow.plugin.limits.cpu, Duration::from_millis(5));
    assert_eq!(shadow.plugin.limits.memory_bytes, 8 << 20);
}

#[test]
fn the_manifest_breaker_applies_to_every_entry_that_sets_none_and_false_turns_it_off() {
    let m = parse(
        r#"
[[routes.all.plugins]]
plugin = "headers"
[[routes.all.plugins]]
plugin = "key-auth"
breaker = false
[[routes.all.plugins]]
plugin = "path-rewrite"
breaker = { trap-rate = "90%", open-for = "5s" }
"#,
        "[plugin-runtime]\nbreaker = { trap-rate = \"25%\", window = \"20s\", min-calls = 10 }\n",
    );
    let breakers: Vec<_> = m.routes[0]
        .plugins
        .iter()
        .map(|p| p.rollout.breaker)
        .collect();
    let default = BreakerSpec {
        trap_rate: 0.25,
        window: Duration::from_secs(20),
        min_calls: 10,
        open_for: Duration::from_secs(30),
    };
    let own = BreakerSpec {
        trap_rate: 0.9,
        open_for: Duration::from_secs(5),
        ..BreakerSpec::default()
    };
    assert_eq!(breakers, [Some(default), None, Some(own)]);
}

#[test]
fn no_breaker_runs_unless_the_manifest_asks_for_one() {
    let m = parse("[[routes.all.plugins]]\nplugin = \"headers\"\n", "");
    assert_eq!(m.routes[0].plugins[0].rollout.breaker, None);
    let m = parse(
        "[[routes.all.plugins]]\nplugin = \"headers\"\nbreaker = {}\n",
        "",
    );
    assert_eq!(
        m.routes[0].plugins[0].rollout.breaker,
        Some(BreakerSpec::default())
    );
}
