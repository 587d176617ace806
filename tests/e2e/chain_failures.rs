//! A route's chain when a plugin fails, driven in process (no gateway, no sockets) with the
//! misbehaving test plugin, which only this crate builds: the failure policy decides whether the
//! request fails or the plugin is skipped, the plugins before it still see the response, the
//! ones after it never run, and an instance that trapped is never entered again. The chain's
//! order with well-behaved plugins is specified beside it, in `host/src/plugin/chain/tests.rs`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use portcullis::config::{FailurePolicy, Isolation, Limits, PluginSource, PluginSpec};
use portcullis::observe::metrics::{Metrics, RouteMetrics};
use portcullis::plugin::{
    CallError, Chain, ConfiguredPlugin, Exchange, MemoryBudget, RequestVerdict, ResponseState,
    Runtime, catalog,
};
use portcullis::state::StateStore;
use portcullis_tests::gateway::options;
use portcullis_tests::guests::MISBEHAVE;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(&options()).expect("runtime"))
}

fn spec(name: &str, source: PluginSource, config: serde_json::Value) -> PluginSpec {
    PluginSpec {
        name: name.to_owned(),
        source,
        config,
        isolation: Isolation::Request,
        failure: FailurePolicy::FailClosed,
        limits: Limits::default(),
        files: Vec::new(),
        span: 0..0,
        rollout: Default::default(),
    }
}

async fn configure(spec: &PluginSpec, bytes: &[u8]) -> Arc<ConfiguredPlugin> {
    let compiled = runtime().compile(bytes).expect("compile");
    let budget = Arc::new(MemoryBudget::new(&Default::default()));
    let plugin = ConfiguredPlugin::configure(
        runtime(),
        &compiled,
        spec,
        "api",
        &StateStore::in_process(),
        &budget,
    )
    .await
    .expect("configure");
    Arc::new(plugin)
}

/// The misbehaving plugin with `config`, its entry changed by `edit` (it marks every response
/// it sees with `x-misbehave: ok`).
async fn misbehave(
    config: serde_json::Value,
    edit: impl FnOnce(&mut PluginSpec),
) -> Arc<ConfiguredPlugin> {
    let mut spec = spec("misbehave", PluginSource::File(MISBEHAVE.into()), config);
    edit(&mut spec);
    let bytes = std::fs::read(MISBEHAVE).expect("the misbehave component");
    configure(&spec, &bytes).await
}

/// `headers`, marking the request and the response with `x-chain: <name>`.
async fn marker(name: &str) -> Arc<ConfiguredPlugin> {
    let mark = serde_json::json!({ "add": { "x-chain": name } });
    let config = serde_json::json!({ "request": mark, "response": mark });
    let spec = spec(name, PluginSource::Prebuilt("headers".into()), config);
    configure(&spec, catalog::get("headers").expect("headers")).await
}

fn metrics(chain: &Chain) -> RouteMetrics {
    Metrics::new().route("api", chain.steps().iter().map(|s| s.plugin().name()))
}

fn request() -> Box<Exchange> {
    let (parts, ()) = Request::get("/").body(()).expect("request").into_parts();
    Box::new(Exchange::detached(parts, "api", "test-request"))
}

fn ok() -> ResponseState {
    let (parts, ()) = Response::new(()).into_parts();
    ResponseState {
        parts,
        body: Some(Bytes::new()),
        trailers: None,
    }
}

fn values<'a>(fields: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    fields
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("(not text)"))
        .collect()
}

#[tokio::test]
async fn a_trap_under_fail_closed_fails_the_request_and_only_the_plugins_before_it_see_the_response()
 {
    let trap = misbehave(serde_json::json!({ "mode": "trap" }), |_| {}).await;
    let chain = Chain::new(vec![marker("before").await, trap, marker("after").await]);
    let metrics = metrics(&chain);

    let (mut exchange, verdict, state) = chain.on_request(request(), &metrics).await;
    let RequestVerdict::Fail { failure, ran } = verdict else {
        panic!("a fail-closed trap fails the request: {verdict:?}");
    };
    assert_eq!(
        (failure.plugin.as_str(), failure.phase),
        ("misbehave", "on-request")
    );
    assert!(
        matches!(failure.error, CallError::Trap(_)),
        "{:?}",
        failure.error
    );
    assert_eq!(ran, 1, "only `before` ran");
    assert_eq!(values(&exchange.request.headers, "x-chain"), ["before"]);

    exchange.response = Some(ok());
    let (exchange, result) = chain.on_response(exchange, ran, state, &metrics).await;
    assert!(result.is_ok());
    let response = exchange.response.expect("the response comes back");
    assert_eq!(values(&response.parts.headers, "x-chain"), ["before"]);
    assert!(response.parts.headers.get("x-misbehave").is_none());
}

#[tokio::test]
async fn a_trap_under_fail_open_is_skipped_the_chain_goes_on_and_it_gets_no_on_response() {
    let trap = misbehave(serde_json::json!({ "mode": "trap" }), |spec| {
        spec.failure = FailurePolicy::FailOpen;
    })
    .await;
    let chain = Chain::new(vec![trap.clone(), marker("after").await]);
    let metrics = metrics(&chain);

    let (mut exchange, verdict, state) = chain.on_request(request(), &metrics).await;
    assert!(matches!(verdict, RequestVerdict::Forward), "{verdict:?}");
    assert_eq!(values(&exchange.request.headers, "x-chain"), ["after"]);
    assert_eq!(trap.stats.skipped.load(Ordering::Relaxed), 1);

    exchange.response = Some(ok());
    let (exchange, result) = chain
        .on_response(exchange, chain.len(), state, &metrics)
        .await;
    assert!(result.is_ok());
    let response = exchange.response.expect("the response comes back");
    assert_eq!(values(&response.parts.headers, "x-chain"), ["after"]);
    assert!(
        response.parts.headers.get("x-misbehave").is_none(),
        "on-response did not run for the skipped plugin"
    );
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_its_cpu_limit() {
    let spin = misbehave(serde_json::json!({ "mode": "loop" }), |spec| {
        spec.limits.cpu = Duration::from_millis(20);
    })
    .await;
    let chain = Chain::new(vec![spin]);
    let metrics = metrics(&chain);

    let started = Instant::now();
    let (_, verdict, _) = chain.on_request(request(), &metrics).await;

    let RequestVerdict::Fail { failure, .. } = verdict else {
        panic!("the loop fails the request: {verdict:?}");
    };
    assert_eq!(
        failure.error,
        CallError::CpuLimit(Duration::from_millis(20))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_reused_instance_that_trapped_is_not_entered_again() {
    // Traps on every second request it serves, counting in its own memory.
    let plugin = misbehave(serde_json::json!({ "mode": "trap", "after": 2 }), |spec| {
        spec.isolation = Isolation::Reuse;
    })
    .await;
    let chain = Chain::new(vec![plugin.clone()]);
    let metrics = metrics(&chain);
    let mut verdicts = Vec::new();

    for _ in 0..3 {
        let (_, verdict, _) = chain.on_request(request(), &metrics).await;
        verdicts.push(matches!(verdict, RequestVerdict::Forward));
    }

    // The first instance served request 1 and trapped on request 2; a new one serves request 3
    // as its first.
    assert_eq!(verdicts, [true, false, true]);
    assert_eq!(plugin.stats.instantiations.load(Ordering::Relaxed), 2);
}
