//! Connection limits and stream accounting: `max-connections` caps the connections to an
//! upstream, `max-pending` bounds the requests waiting for one (beyond it, 503 at once), a
//! request counts as in flight until its response body ends, and a body that stalls longer
//! than the route's `idle-timeout` is cut off.

use std::time::{Duration, Instant};

use portcullis_tests::{EchoUpstream, TestGateway};

fn manifest(targets: &[&EchoUpstream], upstream_extra: &str, route_extra: &str) -> String {
    let targets: Vec<String> = targets.iter().map(|t| t.authority()).collect();
    portcullis_tests::manifest::pool(&targets, upstream_extra, route_extra)
}

#[tokio::test]
async fn max_connections_caps_the_connections_an_upstream_sees() {
    let upstream = EchoUpstream::start("capped").await;
    let gateway = TestGateway::start(&manifest(
        &[&upstream],
        "limits = { max-connections = 2 }",
        "",
    ))
    .await;
    let client = gateway.client();

    let requests: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/slow/200").await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.expect("a request"), 200);
    }

    assert_eq!(upstream.requests(), 6);
    assert!(
        upstream.most_connections() <= 2,
        "the upstream saw {} connections at once",
        upstream.most_connections()
    );
}

#[tokio::test]
async fn beyond_max_pending_waiting_requests_get_an_immediate_503() {
    let upstream = EchoUpstream::start("capped").await;
    let gateway = TestGateway::start(&manifest(
        &[&upstream],
        "limits = { max-connections = 2, max-pending = 1 }",
        "",
    ))
    .await;
    let client = gateway.client();

    // Two requests hold both connections, a third waits for one.
    let admitted: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/slow/1000").await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let refused = client.get("/x").await;
    let waited = started.elapsed();

    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["error"], "upstream_overloaded");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        waited < Duration::from_millis(900),
        "refused at once, not after a slow request ended ({waited:?})"
    );
    for request in admitted {
        assert_eq!(request.await.expect("a request"), 200);
    }
    assert!(upstream.most_connections() <= 2);
}

#[tokio::test]
async fn a_request_counts_for_least_request_until_its_body_ends() {
    let a = EchoUpstream::start("a").await;
    let b = EchoUpstream::start("b").await;
    let gateway =
        TestGateway::start(&manifest(&[&a, &b], r#"balance = "least-request""#, "")).await;
    let address = gateway.address();

    // A response whose headers came back but whose body is still streaming.
    let (status, busy_target, rest) = {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let response = client
            .get(
                format!("http://{address}/drip/5000")
                    .parse()
                    .expect("a URI"),
            )
            .await
            .expect("the headers arrive");
        let target = response
            .headers()
            .get("x-upstream")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("x-upstream");
        (response.status(), target, response.into_body())
    };
    assert_eq!(status, 200);

    // With two targets, least-request compares both: every new request goes to the other one.
    for _ in 0..5 {
        let response = gateway.client().get("/").await;
        assert_ne!(
            response.header("x-upstream"),
            Some(busy_target.as_str()),
            "the target still streaming a body is the busier one"
        );
    }
    drop(rest);
}

#[tokio::test]
async fn a_body_that_stalls_longer_than_idle_timeout_is_cut_off() {
    let upstream = EchoUpstream::start("drip").await;
    let gateway =
        TestGateway::start(&manifest(&[&upstream], "", r#"idle-timeout = "300ms""#)).await;
    let client = gateway.client();

    let (status, body) = client.get_streamed("/drip/50").await;
    assert_eq!(status, 200);
    let body = body.expect("a pause shorter than the idle timeout is fine");
    assert!(body.starts_with(b"first;"));

    let (status, body) = client.get_streamed("/drip/3000").await;
    assert_eq!(status, 200, "the headers were sent before the stall");
    assert!(
        body.is_err(),
        "the client sees the body break off, not a complete body"
    );
}
