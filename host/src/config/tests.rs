//! The manifest's behaviour: valid manifests give the expected model, and every invalid one in
//! `tests/ui/invalid/` gives exactly the diagnostics in its `.err` file (`BLESS=1` rewrites them).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use http::Method;

use super::*;
use crate::router::{HeaderValueMatch, HostPattern, PathPattern};

const PREBUILT: [&str; 3] = ["key-auth", "headers", "path-rewrite"];

fn parse(text: &str) -> Result<Manifest, Diagnostics> {
    Manifest::parse(Path::new("portcullis.toml"), text, &PREBUILT)
}

const MINIMAL: &str = r#"
[listeners.public]
address = "127.0.0.1:8080"

[upstreams.demo]
targets = ["127.0.0.1:3000"]

[routes.all]
upstream = "demo"
match.path-prefix = "/"
"#;

#[test]
fn a_minimal_manifest_gets_every_default() {
    let m = parse(MINIMAL).unwrap();
    assert_eq!(m.listeners[0].address, "127.0.0.1:8080".parse().unwrap());
    let upstream = &m.upstreams[0];
    assert_eq!(
        (upstream.connect_timeout, upstream.timeout),
        (Duration::from_secs(2), Duration::from_secs(30))
    );
    let route = &m.routes[0];
    assert_eq!(
        (route.id.as_str(), route.upstream, route.timeout),
        ("all", 0, Duration::from_secs(30))
    );
    assert_eq!(route.matcher.path, PathPattern::Prefix("/".into()));
    assert!(
        route.matcher.host.is_none()
            && route.matcher.methods.is_empty()
            && route.plugins.is_empty()
    );
    assert_eq!(&m.source.text[route.span.clone()], "all");
}

#[test]
fn a_full_manifest_is_modelled_in_manifest_order() {
    let text = r#"
[listeners.public]
address = "0.0.0.0:8080"
[listeners.admin]
address = "[::1]:9000"

[upstreams.zeta]
targets = ["10.0.0.1:80", "backend.internal:8080"]
connect-timeout = "500ms"
timeout = "1m30s"

[[plugins]]
plugin = "key-auth"
config = { consumers = { alice = ["k1"] }, ratio = 0.5, enabled = true }

[routes.orders]
upstream = "zeta"
timeout = "10s"
[routes.orders.match]
host = "*.Example.com"
path = "/users/{id}/orders/{order}"
methods = ["GET", "POST"]
headers = { x-version = "2", x-beta = true }
[[routes.orders.plugins]]
plugin = "headers"
name = "stamp"
isolation = "request"
failure = "fail-open"
memory = "1MiB"
cpu = "5ms"
max-requests = 7
"#;
    let m = parse(text).unwrap();
    let names: Vec<_> = m.listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["public", "admin"]);
    assert_eq!(
        m.upstreams[0].targets,
        ["10.0.0.1:80", "backend.internal:8080"]
    );
    assert_eq!(m.upstreams[0].connect_timeout, Duration::from_millis(500));
    let global = &m.global_plugins[0];
    assert_eq!(global.source, PluginSource::Prebuilt("key-auth".into()));
    assert_eq!(
        global.config,
        serde_json::json!({"consumers": {"alice": ["k1"]}, "ratio": 0.5, "enabled": true})
    );
    assert_eq!(
        (global.isolation, global.failure, global.limits),
        (
            Isolation::Reuse,
            FailurePolicy::FailClosed,
            Limits::default()
        )
    );
    assert_eq!(m.source.line_col(global.span.start), (12, 1)); // the `[[plugins]]` header
    let route = m.route("orders").unwrap();
    assert_eq!(route.timeout, Duration::from_secs(10));
    assert_eq!(
        route.matcher.host,
        Some(HostPattern::Wildcard(".example.com".into()))
    );
    assert_eq!(route.matcher.methods, [Method::GET, Method::POST]);
    assert_eq!(route.matcher.headers.len(), 2);
    assert!(
        route
            .matcher
            .headers
            .iter()
            .any(|(n, v)| n == "x-beta" && *v == HeaderValueMatch::Present)
    );
    let plugin = &route.plugins[0];
    assert_eq!(
        (plugin.name.as_str(), plugin.isolation, plugin.failure),
        ("stamp", Isolation::Request, FailurePolicy::FailOpen)
    );
    assert_eq!(
        plugin.limits,
        Limits {
            memory_bytes: 1 << 20,
            cpu: Duration::from_millis(5),
            max_requests: 7
        }
    );
    assert_eq!(plugin.config, serde_json::json!({}));
}

#[test]
fn a_route_without_timeout_inherits_its_upstreams() {
    let m = parse(&MINIMAL.replace("targets =", "timeout = \"3s\"\ntargets =")).unwrap();
    assert_eq!(m.routes[0].timeout, Duration::from_secs(3));
}

#[test]
fn a_wasm_path_is_resolved_against_the_manifest_directory_and_named_by_its_stem() {
    let dir = std::env::temp_dir().join(format!("portcullis-config-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::write(dir.join("plugins/custom.wasm"), b"\0asm").unwrap();
    let text = format!("{MINIMAL}\n[[routes.all.plugins]]\nwasm = \"plugins/custom.wasm\"\n");
    std::fs::write(dir.join("portcullis.toml"), &text).unwrap();
    let m = Manifest::load(&dir.join("portcullis.toml"), &PREBUILT).unwrap();
    let plugin = &m.routes[0].plugins[0];
    assert_eq!(plugin.name, "custom");
    assert_eq!(
        plugin.source,
        PluginSource::File(std::path::absolute(dir.join("plugins/custom.wasm")).unwrap())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closure_can_decide_which_prebuilt_plugins_exist() {
    let text = format!("{MINIMAL}\n[[routes.all.plugins]]\nplugin = \"anything\"\n");
    let known = |name: &str| name == "anything";
    assert!(Manifest::parse(Path::new("m.toml"), &text, &known).is_ok());
}

#[test]
fn a_missing_file_is_one_error_without_position() {
    let err = Manifest::load(Path::new("/nonexistent/portcullis.toml"), &PREBUILT).unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(err.errors[0].span.is_none());
}

#[test]
fn rendering_points_at_line_and_character_column() {
    let source = Source::new("m.toml", "a = 1\nné = \"x\"\n");
    let diag = Diagnostic::new(12..15, "bad", "fix it");
    assert_eq!(source.line_col(12), (2, 6));
    let expected =
        "error: bad\n --> m.toml:2:6\n  |\n2 | né = \"x\"\n  |      ^^^\n  = help: fix it\n";
    assert_eq!(source.render(&diag), expected);
}

#[test]
fn invalid_manifests_match_their_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/invalid");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 12,
        "expected at least 12 cases in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let shown = Path::new("tests/ui/invalid").join(&name);
        let text = std::fs::read_to_string(&case).unwrap();
        let actual = match Manifest::parse(&shown, &text, &PREBUILT) {
            Ok(_) => format!("unexpectedly valid: {name}\n"),
            Err(diagnostics) => format!("{diagnostics}\n"),
        };
        let expected_path = case.with_extension("err");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- {name}: expected\n{expected}--- actual\n{actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "run with BLESS=1 to accept\n{}",
        failures.join("\n")
    );
}

#[test]
fn without_a_state_table_plugins_share_state_in_process() {
    let m = parse(MINIMAL).unwrap();
    assert_eq!(m.state.backend, StateBackend::Local);
    assert_eq!(m.state.max_keys, 100_000);
}

#[test]
fn a_redis_state_table_gives_url_prefix_and_timeout() {
    let text = format!(
        "{MINIMAL}\n[state]\nbackend = \"redis\"\nurl = \"redis://:secret@redis.internal:6379/2\"\ntimeout = \"20ms\"\nprefix = \"eu-1\"\n"
    );
    let m = parse(&text).unwrap();
    assert_eq!(
        m.state.backend,
        StateBackend::Redis(Box::new(RedisConfig {
            topology: RedisTopology::Server {
                url: "redis://:secret@redis.internal:6379/2".into()
            },
            prefix: "eu-1".into(),
            tls: None,
        }))
    );
    assert_eq!(m.state.timeout, Duration::from_millis(20));
    let local = parse(&format!("{MINIMAL}\n[state]\nmax-keys = 5\n")).unwrap();
    assert_eq!(
        (local.state.backend, local.state.max_keys),
        (StateBackend::Local, 5)
    );
}

#[test]
fn the_local_store_is_bounded_in_bytes_and_per_namespace() {
    let m = parse(MINIMAL).unwrap();
    assert_eq!(m.state.max_bytes, 64 << 20, "64 MiB by default");
    assert_eq!(
        (m.state.namespace_max_keys, m.state.namespace_max_bytes),
        (None, None),
        "an equal share by default"
    );
    let text = format!(
        "{MINIMAL}\n[state]\nmax-bytes = \"256MiB\"\nnamespace-max-keys = 20000\nnamespace-max-bytes = \"8MiB\"\n"
    );
    let m = parse(&text).unwrap();
    assert_eq!(m.state.max_bytes, 256 << 20);
    assert_eq!(m.state.namespace_max_keys, Some(20_000));
    assert_eq!(m.state.namespace_max_bytes, Some(8 << 20));
}

#[test]
fn config_files_put_a_files_text_into_the_plugin_config() {
    let dir = std::env::temp_dir().join(format!("portcullis-config-files-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys/jwks.json"), r#"{"keys": []}"#).unwrap();
    let entry = "\n[[routes.all.plugins]]\nplugin = \"key-auth\"\nconfig = { a = 1 }\n";
    let text = format!("{MINIMAL}{entry}config-files = {{ jwks = \"keys/jwks.json\" }}\n");
    std::fs::write(dir.join("portcullis.toml"), &text).unwrap();
    let m = Manifest::load(&dir.join("portcullis.toml"), &PREBUILT).unwrap();
    assert_eq!(
        m.routes[0].plugins[0].config,
        serde_json::json!({ "a": 1, "jwks": r#"{"keys": []}"# })
    );

    let text = format!(
        "{MINIMAL}{entry}config-files = {{ a = \"keys/jwks.json\", b = \"keys/missing.json\" }}\n"
    );
    std::fs::write(dir.join("portcullis.toml"), &text).unwrap();
    let err = Manifest::load(&dir.join("portcullis.toml"), &PREBUILT).unwrap_err();
    let messages: Vec<&str> = err.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("`a` of plugin `key-auth` is set both"),
        "{messages:?}"
    );
    assert!(
        messages[1]
            .contains("`config-files.b` of plugin `key-auth`: `keys/missing.json` cannot be read"),
        "{messages:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_files_base64_put_a_binary_files_bytes_into_the_plugin_config_in_base64() {
    let dir = std::env::temp_dir().join(format!("portcullis-config-b64-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("api.pb"), [0u8, 159, 146, 150, 255]).unwrap();
    let entry = "\n[[routes.all.plugins]]\nplugin = \"key-auth\"\n";
    let text = format!("{MINIMAL}{entry}config-files-base64 = {{ descriptor-set = \"api.pb\" }}\n");
    std::fs::write(dir.join("portcullis.toml"), &text).unwrap();
    let m = Manifest::load(&dir.join("portcullis.toml"), &PREBUILT).unwrap();
    assert_eq!(
        m.routes[0].plugins[0].config,
        serde_json::json!({ "descriptor-set": "AJ+Slv8=" })
    );
    assert_eq!(m.routes[0].plugins[0].files, [dir.join("api.pb")]);

    let text = format!("{MINIMAL}{entry}config-files-base64 = {{ d = \"missing.pb\" }}\n");
    std::fs::write(dir.join("portcullis.toml"), &text).unwrap();
    let err = Manifest::load(&dir.join("portcullis.toml"), &PREBUILT).unwrap_err();
    assert!(
        err.errors[0]
            .message
            .contains("`config-files-base64.d` of plugin `key-auth`: `missing.pb` cannot be read"),
        "{:?}",
        err.errors
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_access_log_table_gives_a_file_beside_the_manifest_a_format_and_context_keys() {
    let text = format!(
        "{MINIMAL}\n[access-log]\ndestination = \"logs/access.log\"\nformat = \"common\"\ncontext = [\"consumer\"]\n"
    );
    let m = parse(&text).unwrap();
    assert_eq!(
        m.access_log,
        AccessLogConfig {
            destination: Some(AccessLogDestination::File(
                Path::new("").join("logs/access.log")
            )),
            format: Some(AccessLogFormat::Common),
            context: Some(vec!["consumer".into()]),
        }
    );
    // Without the table, nothing is decided: the command line's defaults apply.
    assert_eq!(
        parse(MINIMAL).unwrap().access_log,
        AccessLogConfig::default()
    );
}

#[test]
fn tracing_is_off_unless_a_collector_is_named_and_its_path_defaults_to_v1_traces() {
    assert_eq!(parse(MINIMAL).unwrap().tracing.otlp, None);
    let text = format!(
        "{MINIMAL}\n[tracing]\nsample-ratio = 0.25\nservice-name = \"edge\"\notlp = {{ endpoint = \"http://127.0.0.1:4318\", timeout = \"2s\" }}\n"
    );
    let tracing = parse(&text).unwrap().tracing;
    let otlp = tracing.otlp.unwrap();
    assert_eq!(otlp.endpoint.to_string(), "http://127.0.0.1:4318/v1/traces");
    assert_eq!(otlp.timeout, Duration::from_secs(2));
    assert_eq!(tracing.sample_ratio, 0.25);
    assert_eq!(tracing.service_name, "edge");
}

#[test]
fn connection_limits_default_to_production_timeouts_and_read_what_is_given() {
    let m = parse(MINIMAL).unwrap();
    assert_eq!(
        m.limits,
        ConnectionLimits {
            max_connections: None,
            header_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(75),
            http2_ping_interval: Duration::from_secs(60),
        }
    );
    let given = format!(
        "{MINIMAL}\n[limits]\nheader-timeout = \"5s\"\nkeepalive-timeout = \"2m\"\n\
         http2-ping-interval = \"30s\"\nmax-connections = 500\n"
    );
    let m = parse(&given).unwrap();
    assert_eq!(
        m.limits,
        ConnectionLimits {
            max_connections: Some(500),
            header_timeout: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(120),
            http2_ping_interval: Duration::from_secs(30),
        }
    );
}

#[test]
fn admin_hosts_are_kept_in_lowercase() {
    let text = format!("{MINIMAL}\n[admin]\nhosts = [\"Admin.Internal\", \"10.0.0.7\"]\n");
    let admin = parse(&text).unwrap().admin.unwrap();
    assert_eq!(admin.hosts, ["admin.internal", "10.0.0.7"]);
}

#[test]
fn a_manifest_over_the_size_cap_is_refused_read_or_given() {
    let text = format!("{MINIMAL}#{}\n", "x".repeat(MAX_MANIFEST_BYTES));
    let given = parse(&text).unwrap_err();
    assert_eq!(
        given.to_string(),
        "error: the manifest is larger than 4 MiB\n --> portcullis.toml\n  = help: keep large data \
         (consumers, keys, schemas) in `config-files`\n\nerror: 1 error in portcullis.toml"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, &text).unwrap();
    let read = Manifest::load(&path, &PREBUILT).unwrap_err();
    assert_eq!(read.len(), 1);
    assert_eq!(read.errors[0].message, "the manifest is larger than 4 MiB");
    assert_eq!(read.errors[0].span, None);
    assert_eq!(
        read.errors[0].help.as_deref(),
        Some(
            "check that the path names the manifest; keep large data (consumers, keys, schemas) \
             in `config-files`"
        )
    );
}

#[test]
fn a_config_file_that_cannot_be_read_says_why_in_the_systems_words_or_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.json"), vec![b' '; (1 << 20) + 1]).unwrap();
    std::fs::write(dir.path().join("latin1.txt"), b"caf\xe9\n").unwrap();
    let entry = "\n[[routes.all.plugins]]\nplugin = \"key-auth\"\n";
    let text = format!(
        "{MINIMAL}{entry}config-files = {{ big = \"big.json\", gone = \"gone.json\", latin1 = \
         \"latin1.txt\" }}\n"
    );
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, &text).unwrap();
    let err = Manifest::load(&path, &PREBUILT).unwrap_err();
    let messages: Vec<&str> = err.errors.iter().map(|e| e.message.as_str()).collect();
    let missing = std::fs::metadata(dir.path().join("gone.json")).unwrap_err();
    let not_utf8 = std::fs::read_to_string(dir.path().join("latin1.txt")).unwrap_err();
    assert_eq!(
        messages,
        [
            "`config-files.big` of plugin `key-auth`: `big.json` cannot be read: it is larger \
             than 1024 KiB"
                .to_owned(),
            format!(
                "`config-files.gone` of plugin `key-auth`: `gone.json` cannot be read: {missing}"
            ),
            format!(
                "`config-files.latin1` of plugin `key-auth`: `latin1.txt` cannot be read: \
                 {not_utf8}"
            ),
        ]
    );
}

/// A manifest from etcd: shared by a fleet, it has no directory on any gateway.
fn parse_from_etcd(text: &str) -> Result<Manifest, Diagnostics> {
    Manifest::parse_detached("etcd:/portcullis/manifest", text, &PREBUILT)
}

#[test]
fn a_manifest_from_etcd_refuses_every_relative_path_where_it_is_written() {
    let text = format!(
        r#"{MINIMAL}
[listeners.secure]
address = "127.0.0.1:8443"
tls.certificates = [{{ cert = "cert.pem", key = "/etc/portcullis/key.pem" }}]

[[routes.all.plugins]]
wasm = "plugins/deny.wasm"

[access-log]
destination = "logs/access.log"
"#
    );
    let errors = parse_from_etcd(&text).unwrap_err();
    let rendered = errors.render_each();
    let relative: Vec<&String> = rendered
        .iter()
        .filter(|e| e.contains("is a relative path, and a manifest from etcd"))
        .collect();
    assert_eq!(relative.len(), 3, "{rendered:#?}");
    assert!(relative[0].contains("`cert.pem`"), "{}", relative[0]);
    assert!(
        relative[0].contains("--> etcd:/portcullis/manifest:14:"),
        "{}",
        relative[0]
    );
    assert!(
        relative[1].contains("`plugins/deny.wasm`"),
        "{}",
        relative[1]
    );
    assert!(relative[2].contains("`logs/access.log`"), "{}", relative[2]);
    assert!(
        relative[2].contains("write an absolute path"),
        "{}",
        relative[2]
    );
}

#[test]
fn a_manifest_from_etcd_with_absolute_paths_only_is_valid() {
    let text =
        format!("{MINIMAL}\n[access-log]\ndestination = \"/var/log/portcullis/access.log\"\n");
    let manifest = parse_from_etcd(&text).unwrap();
    assert_eq!(manifest.source.path, Path::new("etcd:/portcullis/manifest"));
}

#[test]
fn the_same_relative_path_in_a_manifest_file_is_relative_to_its_directory() {
    let text = format!("{MINIMAL}\n[access-log]\ndestination = \"logs/access.log\"\n");
    let manifest = Manifest::parse(
        Path::new("/etc/portcullis/portcullis.toml"),
        &text,
        &PREBUILT,
    )
    .unwrap();
    assert_eq!(
        manifest.access_log.destination,
        Some(AccessLogDestination::File(
            "/etc/portcullis/logs/access.log".into()
        ))
    );
}
