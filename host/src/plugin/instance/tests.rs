//! Instances, driven in process with prebuilt plugins: how many a plugin creates in each
//! isolation mode (its `stats`), what a request holds between its two calls, and what becomes of
//! an instance the host stopped. A trap and a CPU limit are specified with the misbehaving test
//! plugin in `tests/e2e/chain_failures.rs`; here the host stops a plugin at its memory limit.

use std::sync::atomic::Ordering;

use super::lifecycle::near_limit;
use super::*;
use crate::plugin::testing::{
    BODY_READER_MEMORY, body_reader, configure, large_body, late_marker, ok, request, spec,
};

fn instantiations(plugin: &ConfiguredPlugin) -> u64 {
    plugin.stats.instantiations.load(Ordering::Relaxed)
}

/// Runs `on-request` on `exchange` as a request of its own, and gives its instance back.
async fn serve(plugin: &ConfiguredPlugin, exchange: Box<Exchange>) -> Result<Outcome, CallError> {
    let mut held = Held::default();
    let (_, result) = plugin.call(exchange, Phase::Request, &mut held).await;
    plugin.release(&mut held);
    result
}

/// `headers` marking requests, in `isolation`, recycled after `max_requests`.
async fn headers(isolation: Isolation, max_requests: u64) -> Arc<ConfiguredPlugin> {
    let mut spec = spec(
        "headers",
        "mark",
        serde_json::json!({ "request": { "add": { "x-mark": "1" } } }),
    );
    spec.isolation = isolation;
    spec.limits.max_requests = max_requests;
    configure(&spec).await.expect("headers accepts its config")
}

#[tokio::test]
async fn request_isolation_gives_every_request_a_fresh_instance() {
    let plugin = headers(Isolation::Request, u64::MAX).await;
    assert_eq!(instantiations(&plugin), 1, "configuring runs init once");

    for _ in 0..3 {
        serve(&plugin, request("/", &[])).await.expect("a call");
    }

    assert_eq!(instantiations(&plugin), 4);
    assert_eq!(plugin.idle_instances().0, 0, "nothing is kept");
}

#[tokio::test]
async fn reuse_isolation_serves_sequential_requests_from_the_instance_init_ran_on() {
    let plugin = headers(Isolation::Reuse, u64::MAX).await;
    assert_eq!(
        plugin.idle_instances().0,
        1,
        "the configured instance is kept warm"
    );

    for _ in 0..3 {
        serve(&plugin, request("/", &[])).await.expect("a call");
    }

    assert_eq!(instantiations(&plugin), 1);
    assert_eq!(plugin.idle_instances().0, 1);
}

#[tokio::test]
async fn a_reused_instance_is_recycled_after_max_requests() {
    let plugin = headers(Isolation::Reuse, 2).await;

    for _ in 0..5 {
        serve(&plugin, request("/", &[])).await.expect("a call");
    }

    // Requests 1-2 on the configured instance, 3-4 on a second, 5 on a third.
    assert_eq!(instantiations(&plugin), 3);
}

#[tokio::test]
async fn a_request_holds_its_instance_from_on_request_to_on_response() {
    let plugin = late_marker("mark").await; // has on-response; `request` isolation
    let mut held = Held::default();

    let (exchange, result) = plugin
        .call(request("/", &[]), Phase::Request, &mut held)
        .await;
    result.expect("on-request");
    let mut exchange = exchange;
    exchange.phase = Phase::Response;
    exchange.response = Some(ok());
    let (_, result) = plugin.call(exchange, Phase::Response, &mut held).await;
    result.expect("on-response");

    assert_eq!(
        instantiations(&plugin),
        2,
        "init's instance, then one for the whole request"
    );
    plugin.release(&mut held);
}

#[tokio::test]
async fn a_plugin_that_rejects_its_config_is_not_configured() {
    let unknown_key = spec(
        "key-auth",
        "auth",
        serde_json::json!({ "consumers": { "alice": ["k"] }, "realms": "x" }),
    );

    let error = configure(&unknown_key).await.err().expect("refused");

    assert!(matches!(error, ConfigureError::Rejected(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with("rejected its config: "), "{text}");
    assert!(text.contains("realms"), "the message names the key: {text}");
}

#[tokio::test]
async fn a_memory_limit_beyond_the_most_a_plugin_may_have_is_refused() {
    let mut huge = spec("headers", "mark", serde_json::json!({}));
    huge.limits.memory_bytes = MAX_PLUGIN_MEMORY + 1;

    let error = configure(&huge).await.err().expect("refused");

    assert_eq!(
        error.to_string(),
        format!(
            "asks for {} bytes of memory; the most a plugin may have is {MAX_PLUGIN_MEMORY}",
            MAX_PLUGIN_MEMORY + 1
        )
    );
}

#[tokio::test]
async fn an_instance_stopped_at_its_memory_limit_is_dropped_and_the_next_request_gets_a_new_one() {
    let plugin = body_reader(FailurePolicy::FailClosed).await;

    let error = serve(&plugin, large_body()).await.expect_err("stopped");
    assert_eq!(error, CallError::MemoryLimit(BODY_READER_MEMORY));
    assert_eq!(plugin.idle_instances().0, 0, "the stopped instance is gone");

    serve(&plugin, request("/", &[]))
        .await
        .expect("a fresh instance serves");
    assert_eq!(instantiations(&plugin), 2);
    assert_eq!(plugin.stats.failures.load(Ordering::Relaxed), 1);
}

/// `rate-limit` allowing 10 requests a minute per client, with its `RateLimit-*` headers, in
/// `reuse` isolation: its `on-request` hands them to the host for the response. Each test names
/// its own, since a plugin's figures are kept per route, name and version in the runtime the
/// tests share.
async fn rate_limit(name: &str) -> Arc<ConfiguredPlugin> {
    let config = serde_json::json!({ "minute": 10, "by": ["header"], "header": "x-client" });
    let mut spec = spec("rate-limit", name, config);
    spec.isolation = Isolation::Reuse;
    configure(&spec)
        .await
        .expect("rate-limit accepts its config")
}

/// `headers` in `reuse` isolation with an `on-response` of its own (its response value depends
/// on the context).
async fn late_headers(name: &str) -> Arc<ConfiguredPlugin> {
    let config = serde_json::json!({ "response": { "set": { "x-mark": "${consumer}" } } });
    let mut spec = spec("headers", name, config);
    spec.isolation = Isolation::Reuse;
    configure(&spec).await.expect("headers accepts its config")
}

#[tokio::test]
async fn a_reused_instance_goes_back_to_the_pool_between_a_requests_two_calls() {
    let plugin = late_headers("pooled").await;
    assert!(!plugin.holds_across_calls(), "built against contract 0.1.3");

    let mut held = Held::default();
    let (mut exchange, result) = plugin
        .call(
            request("/", &[("x-client", "a")]),
            Phase::Request,
            &mut held,
        )
        .await;
    result.expect("on-request");

    assert_eq!(
        plugin.idle_instances().0,
        1,
        "while the upstream answers, the instance waits in the pool"
    );
    exchange.phase = Phase::Response;
    exchange.response = Some(ok());
    let (_, result) = plugin.call(exchange, Phase::Response, &mut held).await;
    result.expect("on-response");
    plugin.release(&mut held);
    assert_eq!(instantiations(&plugin), 1, "one instance served both calls");
}

#[tokio::test]
async fn interleaved_requests_each_get_their_own_response_edits_back() {
    let plugin = rate_limit("interleaved").await;
    let (mut held_a, mut held_b) = (Held::default(), Held::default());

    // Client `a` spends three of its ten; then `b` spends one on the same instance, and only
    // then do their responses come back, in the other order.
    for _ in 0..2 {
        let mut held = Held::default();
        let (exchange, result) = plugin
            .call(
                request("/", &[("x-client", "a")]),
                Phase::Request,
                &mut held,
            )
            .await;
        result.expect("on-request");
        drop(exchange);
        plugin.release(&mut held);
    }
    let (mut a, result) = plugin
        .call(
            request("/", &[("x-client", "a")]),
            Phase::Request,
            &mut held_a,
        )
        .await;
    result.expect("a's on-request");
    let (mut b, result) = plugin
        .call(
            request("/", &[("x-client", "b")]),
            Phase::Request,
            &mut held_b,
        )
        .await;
    result.expect("b's on-request");
    assert_eq!(
        instantiations(&plugin),
        1,
        "one instance served all of them"
    );

    let mut remaining = Vec::new();
    for (exchange, held) in [(&mut b, &mut held_b), (&mut a, &mut held_a)] {
        let mut lent = std::mem::replace(exchange, request("/", &[]));
        lent.phase = Phase::Response;
        lent.response = Some(ok());
        // What the chain does at the plugin's place in the response phase.
        lent.make_response_edits(0);
        plugin.release(held);
        let headers = &lent.response.as_ref().expect("a response").parts.headers;
        remaining.push(crate::plugin::testing::values(headers, "ratelimit-remaining").join(","));
    }
    assert_eq!(remaining, ["9", "7"], "b's own figure, then a's");
}

const MIB: usize = 1 << 20;

#[test]
fn an_instance_is_recycled_when_less_than_a_quarter_of_its_room_after_init_is_left() {
    // 16 MiB limit, 8 MiB after init: recycled once less than 2 MiB is left.
    assert!(!near_limit(8 * MIB, 8 * MIB, 16 * MIB, 64 << 10));
    assert!(!near_limit(14 * MIB, 8 * MIB, 16 * MIB, 64 << 10));
    assert!(near_limit(14 * MIB + 1, 8 * MIB, 16 * MIB, 64 << 10));
}

#[test]
fn an_instance_is_recycled_when_another_call_like_the_largest_might_not_fit() {
    // Calls have grown an instance by 3 MiB: recycled once less than 6 MiB is left, even though
    // a quarter of the room (3.75 MiB) is still there.
    assert!(!near_limit(10 * MIB, MIB, 16 * MIB, 3 * MIB));
    assert!(near_limit(10 * MIB + 1, MIB, 16 * MIB, 3 * MIB));
    // A call that may take more than half the room: every instance is used once.
    assert!(near_limit(MIB, MIB, 16 * MIB, 8 * MIB));
}

#[test]
fn an_instance_at_its_limit_is_recycled_unless_no_call_ever_grew_one() {
    assert!(near_limit(16 * MIB, MIB, 16 * MIB, 0));
    assert!(
        near_limit(17 * MIB, MIB, 16 * MIB, 0),
        "past it (a lower limit after a reload)"
    );
    // `init` took all of it, and calls never grow an instance: nothing is needed, it is kept.
    assert!(!near_limit(16 * MIB, 16 * MIB, 16 * MIB, 0));
    assert!(near_limit(16 * MIB, 16 * MIB, 16 * MIB, 64 << 10));
}
