//! What the plugin runtime's unit tests share: one runtime for the test binary (compiled
//! components cached on disk under `target/`, as the integration tests do), the prebuilt plugins
//! configured from a line of JSON, and a request to lend them.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Request, Response};

use super::exchange::{Exchange, ResponseState};
use super::{Chain, ConfigureError, ConfiguredPlugin, MemoryBudget, Runtime, RuntimeOptions};
use crate::config::{FailurePolicy, Isolation, Limits, PluginSource, PluginSpec};
use crate::observe::metrics::{Metrics, RouteMetrics};
use crate::state::StateStore;

/// The route every test plugin is configured on.
pub(crate) const ROUTE: &str = "api";

/// The runtime of the test binary, shared so that each component compiles once.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
        Runtime::new(&RuntimeOptions {
            cache_dir: Some(cache),
            no_cache: false,
            ..Default::default()
        })
        .expect("the test runtime starts")
    })
}

/// The entry of the prebuilt plugin `prebuilt`, named `name`, with `config`: `request`
/// isolation, `fail-closed`, default limits (each test changes what it is about).
pub(crate) fn spec(prebuilt: &str, name: &str, config: serde_json::Value) -> PluginSpec {
    PluginSpec {
        name: name.to_owned(),
        source: PluginSource::Prebuilt(prebuilt.to_owned()),
        config,
        isolation: Isolation::Request,
        failure: FailurePolicy::FailClosed,
        limits: Limits::default(),
        files: Vec::new(),
        span: 0..0,
        rollout: Default::default(),
    }
}

/// Configures `spec` on [`ROUTE`], with a memory budget of its own.
pub(crate) async fn configure(spec: &PluginSpec) -> Result<Arc<ConfiguredPlugin>, ConfigureError> {
    let PluginSource::Prebuilt(prebuilt) = &spec.source else {
        panic!("the unit tests configure prebuilt plugins");
    };
    let bytes = super::catalog::get(prebuilt).expect("a prebuilt plugin");
    let compiled = runtime()
        .compile(bytes)
        .expect("a prebuilt plugin compiles");
    let budget = Arc::new(MemoryBudget::new(&Default::default()));
    let state = StateStore::in_process();
    ConfiguredPlugin::configure(runtime(), &compiled, spec, ROUTE, &state, &budget)
        .await
        .map(Arc::new)
}

/// `headers`, named `name`, adding `x-chain: <name>` to the request and to the response: its
/// mark shows when, and in which order, it ran. The response mark is a literal, so `headers`
/// hands it to the host in `on-request` and has no `on-response` call.
pub(crate) async fn marker(name: &str) -> Arc<ConfiguredPlugin> {
    headers_marking(name, name).await
}

/// Like [`marker`], but its response mark depends on the context (an unset key: it renders
/// as `name`), which a later plugin could change: `headers` makes that edit in its own
/// `on-response` call instead of handing it to the host in `on-request`.
pub(crate) async fn late_marker(name: &str) -> Arc<ConfiguredPlugin> {
    headers_marking(name, &format!("{name}${{unset}}")).await
}

/// `headers`, named `name`, adding `x-chain: <name>` to the request and `x-chain: <response>`
/// (a template) to the response.
async fn headers_marking(name: &str, response: &str) -> Arc<ConfiguredPlugin> {
    let config = serde_json::json!({
        "request": { "add": { "x-chain": name } },
        "response": { "add": { "x-chain": response } },
    });
    configure(&spec("headers", name, config))
        .await
        .expect("headers accepts its config")
}

/// `key-auth`, named `name`, knowing one consumer, `alice`, by the key `alice-key`.
pub(crate) async fn key_auth(name: &str) -> Arc<ConfiguredPlugin> {
    let config = serde_json::json!({ "consumers": { "alice": ["alice-key"] } });
    configure(&spec("key-auth", name, config))
        .await
        .expect("key-auth accepts its config")
}

/// The memory limit of [`body_reader`].
pub(crate) const BODY_READER_MEMORY: usize = 2 << 20;

/// `request-size-limit` reading bodies (so each is copied into its memory), in `reuse`
/// isolation, with [`BODY_READER_MEMORY`]: a large body is more than it may hold.
pub(crate) async fn body_reader(failure: FailurePolicy) -> Arc<ConfiguredPlugin> {
    let config = serde_json::json!({ "limit": "64MiB", "read-body": true });
    let mut spec = spec("request-size-limit", "size", config);
    spec.isolation = Isolation::Reuse;
    spec.failure = failure;
    spec.limits.memory_bytes = BODY_READER_MEMORY;
    configure(&spec)
        .await
        .expect("request-size-limit accepts its config")
}

/// A request whose 4 MiB body does not fit in [`body_reader`]'s memory.
pub(crate) fn large_body() -> Box<Exchange> {
    let mut exchange = request("/upload", &[]);
    exchange.request_body = Some(Bytes::from(vec![b'x'; 4 << 20]));
    exchange
}

/// Metrics for `chain` on [`ROUTE`], kept nowhere.
pub(crate) fn metrics(chain: &Chain) -> RouteMetrics {
    Metrics::new().route(ROUTE, chain.steps().iter().map(|s| s.plugin().name()))
}

/// `GET path` with `headers`, from 127.0.0.1, as the chain gets it.
pub(crate) fn request(path: &str, headers: &[(&str, &str)]) -> Box<Exchange> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request.body(()).expect("a valid request").into_parts();
    Box::new(Exchange::detached(parts, ROUTE, "test-request"))
}

/// An upstream's `200 OK` with an empty body.
pub(crate) fn ok() -> ResponseState {
    let (parts, ()) = Response::new(()).into_parts();
    ResponseState {
        parts,
        body: Some(Bytes::new()),
        trailers: None,
    }
}

/// The values of `name` in `fields`, in order.
pub(crate) fn values<'a>(fields: &'a http::HeaderMap, name: &str) -> Vec<&'a str> {
    fields
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("(not text)"))
        .collect()
}
