//! The chain, driven in process with prebuilt plugins: `headers` marks the request and the
//! response with its name (`x-chain`), `key-auth` answers 401 to a request without a key, and
//! `request-size-limit`, given too little memory for the body it reads, is stopped by the host.
//! The same policies on a trap and a CPU limit are specified with the misbehaving test plugin in
//! `tests/e2e/chain_failures.rs`, in the crate that builds it.

use super::*;
use crate::plugin::testing::{
    BODY_READER_MEMORY, body_reader, key_auth, large_body, late_marker, marker, metrics, ok,
    request, values,
};

#[tokio::test]
async fn on_request_runs_in_chain_order_and_on_response_in_reverse() {
    let chain = Chain::new(vec![
        marker("first").await,
        marker("second").await,
        marker("third").await,
    ]);
    let metrics = metrics(&chain);

    let (mut exchange, verdict, state) = chain.on_request(request("/", &[]), &metrics).await;
    assert!(matches!(verdict, RequestVerdict::Forward), "{verdict:?}");
    assert_eq!(
        values(&exchange.request.headers, "x-chain"),
        ["first", "second", "third"]
    );

    exchange.response = Some(ok());
    let (exchange, result) = chain
        .on_response(exchange, chain.len(), state, &metrics)
        .await;
    assert!(result.is_ok());
    let response = exchange.response.expect("the response comes back");
    assert_eq!(
        values(&response.parts.headers, "x-chain"),
        ["third", "second", "first"]
    );
}

#[tokio::test]
async fn response_edits_decided_in_on_request_are_made_at_their_plugins_place_in_the_response_phase()
 {
    // `early` hands its response mark to the host in `on-request` (no `on-response` call);
    // `late` makes its mark in its own `on-response`. The marks still come back last first.
    let chain = Chain::new(vec![
        marker("early-1").await,
        late_marker("late").await,
        marker("early-2").await,
    ]);
    assert!(
        !chain.steps()[0]
            .plugins()
            .all(|p| p.needs().contains(Needs::ON_RESPONSE))
    );
    assert!(
        chain.steps()[1]
            .plugins()
            .all(|p| p.needs().contains(Needs::ON_RESPONSE))
    );
    let metrics = metrics(&chain);

    let (mut exchange, verdict, state) = chain.on_request(request("/", &[]), &metrics).await;
    assert!(matches!(verdict, RequestVerdict::Forward), "{verdict:?}");
    assert_eq!(
        exchange.response_edits.len(),
        2,
        "the early marks wait for the response"
    );
    exchange.response = Some(ok());
    let (exchange, result) = chain
        .on_response(exchange, chain.len(), state, &metrics)
        .await;
    assert!(result.is_ok());
    let response = exchange.response.expect("the response comes back");
    assert_eq!(
        values(&response.parts.headers, "x-chain"),
        ["early-2", "late", "early-1"]
    );
    assert!(
        exchange.response_edits.is_empty(),
        "every edit was made once"
    );
}

#[tokio::test]
async fn a_plugin_that_responds_stops_the_chain_and_only_the_plugins_before_it_see_the_response() {
    let chain = Chain::new(vec![
        marker("before").await,
        key_auth("auth").await,
        marker("after").await,
    ]);
    let metrics = metrics(&chain);

    let (mut exchange, verdict, state) = chain.on_request(request("/", &[]), &metrics).await;
    let RequestVerdict::Respond { reply, ran } = verdict else {
        panic!("key-auth answers a request without a key: {verdict:?}");
    };
    let reply = reply.expect("key-auth's reply is valid HTTP");
    assert_eq!(
        (reply.status().as_u16(), ran),
        (401, 2),
        "`after` did not run"
    );
    assert_eq!(values(&exchange.request.headers, "x-chain"), ["before"]);

    exchange.response = Some(ok());
    let (exchange, result) = chain.on_response(exchange, ran, state, &metrics).await;
    assert!(result.is_ok());
    let response = exchange.response.expect("the response comes back");
    assert_eq!(values(&response.parts.headers, "x-chain"), ["before"]);
}

#[tokio::test]
async fn a_request_the_plugins_let_through_goes_on_with_their_edits() {
    let chain = Chain::new(vec![key_auth("auth").await, marker("after").await]);
    let metrics = metrics(&chain);

    let with_key = request("/", &[("apikey", "alice-key")]);
    let (exchange, verdict, _state) = chain.on_request(with_key, &metrics).await;

    assert!(matches!(verdict, RequestVerdict::Forward), "{verdict:?}");
    let headers = &exchange.request.headers;
    assert_eq!(values(headers, "x-consumer"), ["alice"]);
    assert_eq!(values(headers, "x-chain"), ["after"]);
    assert!(headers.get("apikey").is_none(), "key-auth hides the key");
    assert_eq!(exchange.context.get("consumer"), Some("alice"));
}

#[tokio::test]
async fn a_chain_calls_on_response_only_when_one_of_its_plugins_has_it() {
    let auth_only = Chain::new(vec![key_auth("auth").await]);
    let with_marker = Chain::new(vec![key_auth("auth").await, late_marker("mark").await]);
    // A plugin whose response edits are decided in `on-request` has no `on-response` either.
    let with_early_marker = Chain::new(vec![key_auth("auth").await, marker("mark").await]);

    assert!(!auth_only.has_on_response());
    assert!(with_marker.has_on_response());
    assert!(!with_early_marker.has_on_response());
    assert!(!with_marker.needs_request_body() && !with_marker.needs_response_body());
}

#[tokio::test]
async fn on_response_skips_plugins_beyond_those_that_ran() {
    let chain = Chain::new(vec![
        late_marker("first").await,
        late_marker("second").await,
    ]);
    let metrics = metrics(&chain);
    let (_, _, state) = chain.on_request(request("/", &[]), &metrics).await;

    let mut exchange = request("/", &[]);
    exchange.response = Some(ok());
    let (exchange, result) = chain.on_response(exchange, 1, state, &metrics).await;

    assert!(result.is_ok());
    let response = exchange.response.expect("the response comes back");
    assert_eq!(values(&response.parts.headers, "x-chain"), ["first"]);
}

#[tokio::test]
async fn a_failure_under_fail_closed_fails_the_request_and_the_plugins_after_it_do_not_run() {
    let chain = Chain::new(vec![
        marker("before").await,
        body_reader(FailurePolicy::FailClosed).await,
        marker("after").await,
    ]);
    let metrics = metrics(&chain);

    let (mut exchange, verdict, state) = chain.on_request(large_body(), &metrics).await;
    let RequestVerdict::Fail { failure, ran } = verdict else {
        panic!("a fail-closed failure fails the request: {verdict:?}");
    };
    assert_eq!(
        (failure.plugin.as_str(), failure.phase),
        ("size", "on-request")
    );
    assert_eq!(failure.error, CallError::MemoryLimit(BODY_READER_MEMORY));
    assert_eq!(ran, 1, "only `before` ran");
    assert_eq!(values(&exchange.request.headers, "x-chain"), ["before"]);

    exchange.response = Some(ok());
    let (exchange, result) = chain.on_response(exchange, ran, state, &metrics).await;
    assert!(result.is_ok());
    let response = exchange.response.expect("the response comes back");
    assert_eq!(values(&response.parts.headers, "x-chain"), ["before"]);
}

#[tokio::test]
async fn a_failure_under_fail_open_is_skipped_and_the_chain_goes_on() {
    let failing = body_reader(FailurePolicy::FailOpen).await;
    let chain = Chain::new(vec![failing.clone(), marker("after").await]);
    let metrics = metrics(&chain);

    let (exchange, verdict, _state) = chain.on_request(large_body(), &metrics).await;

    assert!(matches!(verdict, RequestVerdict::Forward), "{verdict:?}");
    assert_eq!(values(&exchange.request.headers, "x-chain"), ["after"]);
    let skipped = failing
        .stats
        .skipped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(skipped, 1);
}
