//! One policy in four languages: the `screen` plugin of `examples/plugins/{rust,c,js,python}`,
//! built by the toolchain of `portcullis plugin build` and served by a real gateway in front of
//! a real upstream. Each must refuse a denied agent with its 403, tag the others, and refuse a
//! bad config with its own message naming the plugin and the route.
//!
//! The builds use the machine's tools: cargo, clang with wasi-libc, npm (ComponentizeJS) and
//! python3 (componentize-py, installed into the example's `build/venv`). A missing tool fails
//! the test with what to install; nothing is skipped.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use portcullis::plugin::{Runtime, RuntimeOptions};
use portcullis::toolchain;
use portcullis_tests::gateway::runtime;
use portcullis_tests::manifest::one_route;
use portcullis_tests::{EchoUpstream, TestGateway};
use tokio::sync::OnceCell;

const LANGUAGES: [&str; 4] = ["rust", "c", "js", "python"];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins")
}

/// The four components, built once for the whole test binary.
async fn components() -> &'static [PathBuf] {
    static BUILT: OnceCell<Vec<PathBuf>> = OnceCell::const_new();
    BUILT
        .get_or_init(|| async {
            let mut built = Vec::new();
            for language in LANGUAGES {
                let dir = examples().join(language);
                let runtime = runtime();
                let result = tokio::task::spawn_blocking(move || toolchain::build(&dir, &runtime))
                    .await
                    .expect("the build thread finishes");
                match result {
                    Ok(component) => built.push(component.path),
                    Err(e) => panic!("building the {language} example failed:\n{e}"),
                }
            }
            built
        })
        .await
}

/// One route per language, `/<language>/...`, each with that language's `screen`.
fn manifest(upstream: &EchoUpstream, components: &[PathBuf], config: &str) -> String {
    let mut manifest = one_route(upstream, "");
    for (language, component) in LANGUAGES.iter().zip(components) {
        manifest.push_str(&format!(
            r#"
[routes.{language}]
upstream = "echo"
match.path-prefix = "/{language}/"

[[routes.{language}.plugins]]
wasm = "{}"
config = {config}
"#,
            component.display()
        ));
    }
    manifest
}

const CONFIG: &str = r#"{ header = "user-agent", deny = ["badbot", "evil-scanner"] }"#;

#[tokio::test]
async fn every_language_refuses_a_denied_agent_and_tags_the_others() {
    let components = components().await;
    let upstream = EchoUpstream::start("echo").await;
    let gateway = TestGateway::start(&manifest(&upstream, components, CONFIG)).await;
    let client = gateway.client();

    for language in LANGUAGES {
        let path = format!("/{language}/orders");
        let refused = client
            .get_with(&path, &[("user-agent", "Evil-Scanner")])
            .await;
        assert_eq!(refused.status, 403, "{language}: {}", refused.text());
        assert_eq!(
            refused.header("content-type"),
            Some("application/json"),
            "{language}"
        );
        assert_eq!(
            refused.json(),
            serde_json::json!({ "error": "forbidden", "message": "user-agent is denied" }),
            "{language}"
        );
        assert_eq!(
            refused.header("x-screen"),
            None,
            "{language}: only allowed requests are tagged"
        );

        let allowed = client.get_with(&path, &[("user-agent", "curl/8.5")]).await;
        assert_eq!(allowed.status, 200, "{language}: {}", allowed.text());
        assert_eq!(allowed.header("x-screen"), Some("allowed"), "{language}");
        assert_eq!(
            allowed.json()["path"],
            path.as_str(),
            "{language}: the upstream answered"
        );
    }
    assert_eq!(
        upstream.requests(),
        LANGUAGES.len(),
        "refused requests never reach the upstream"
    );
}

#[tokio::test]
async fn every_language_passes_the_shared_fixtures() {
    let components = components().await;
    let fixtures = examples().join("screen.fixtures.toml");
    for (language, component) in LANGUAGES.iter().zip(components) {
        let report = portcullis::toolchain::fixtures::run(&runtime(), &fixtures, Some(component))
            .await
            .unwrap_or_else(|e| panic!("{language}: {e}"));
        let failures: Vec<_> = report
            .cases
            .iter()
            .filter(|(_, failure)| failure.is_some())
            .collect();
        assert!(failures.is_empty(), "{language}: {failures:?}");
        assert_eq!(report.cases.len(), 4, "{language}");
    }
}

#[tokio::test]
async fn every_language_refuses_a_bad_config_naming_the_plugin_and_the_route() {
    let components = components().await;
    let upstream = EchoUpstream::start("echo").await;
    let error = TestGateway::try_start(&manifest(
        &upstream,
        components,
        r#"{ header = "", deny = [] }"#,
    ))
    .await
    .err()
    .expect("a manifest whose plugins refuse their config is refused");
    for language in LANGUAGES {
        let line = error
            .lines()
            .find(|line| line.contains(&format!("route `{language}`")))
            .unwrap_or_else(|| panic!("no error names route `{language}`:\n{error}"));
        assert!(line.contains("`screen`"), "{line}");
        assert!(
            line.contains(r#"`header` must name a request header, such as "user-agent""#),
            "{language}: {line}"
        );
    }
}

/// The compilation cache makes a restart cheap for the large guests (an 18 MB Python
/// component compiles in seconds): a second runtime on the same cache directory loads the
/// compiled code the first one wrote instead of writing it again.
#[tokio::test]
async fn a_restart_loads_large_plugins_from_the_compilation_cache() {
    let components = components().await;
    let cache = tempfile::tempdir().expect("a directory");
    let options = RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        no_cache: false,
        ..Default::default()
    };
    for (language, component) in LANGUAGES
        .iter()
        .zip(components)
        .filter(|(l, _)| matches!(**l, "js" | "python"))
    {
        let bytes = std::fs::read(component).expect("the component");
        let first = Runtime::new(&options).expect("a runtime");
        first
            .compile(&bytes)
            .unwrap_or_else(|e| panic!("{language}: {e}"));
        let written = files(cache.path());
        assert!(
            !written.is_empty(),
            "{language}: the first start wrote its compilation"
        );
        drop(first);

        let restarted = Runtime::new(&options).expect("a runtime");
        restarted
            .compile(&bytes)
            .unwrap_or_else(|e| panic!("{language}: {e}"));
        assert_eq!(
            files(cache.path()),
            written,
            "{language}: the restart rewrote the cache"
        );
    }
}

/// Every compiled artifact in the cache at `dir` with its modification time: the files under
/// `modules/`, without the usage statistics kept beside them (each load updates those). Not the
/// cache's root either, where wasmtime's cache worker keeps a lock file (`.cleanup.wip-<pid>`)
/// while it cleans up in the background, and which made this test fail when it ran mid-listing.
fn files(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.join("modules")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "stats") {
                continue;
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                found.push((path, modified));
            }
        }
    }
    found.sort();
    found
}
