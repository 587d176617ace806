//! A client's broken request body is the client's fault: a malformed chunked body answers
//! 400, an abandoned one is dropped, a stalled one answers 408, none is retried, and none
//! counts against the upstream's passive health: however many a client sends, the one target
//! of the upstream keeps serving everyone else.

use portcullis_tests::manifest::pool;
use portcullis_tests::raw;
use portcullis_tests::{EchoUpstream, TestGateway};

/// Two failures in a row would eject the target for a minute.
const PASSIVE: &str = r#"health.passive = { consecutive-failures = 2, base-ejection = "60s" }"#;

/// More broken bodies than the ejection threshold.
const ATTEMPTS: usize = 6;

const MALFORMED_CHUNKED: &[u8] = b"POST /orders HTTP/1.1\r\nHost: api.test\r\n\
Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nnot-a-size\r\n\r\n";

const HALF_A_BODY: &[u8] =
    b"POST /orders HTTP/1.1\r\nHost: api.test\r\nContent-Length: 100\r\n\r\nonly-part";

async fn still_served(gateway: &TestGateway) {
    for _ in 0..3 {
        let r = gateway.client().get("/orders").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-upstream"), Some("only"));
    }
}

#[tokio::test]
async fn a_malformed_chunked_body_is_a_400_and_never_ejects_the_target() {
    let upstream = EchoUpstream::start("only").await;
    let gateway = TestGateway::start(&pool(&[upstream.authority()], PASSIVE, "")).await;

    for _ in 0..ATTEMPTS {
        let answer = raw::exchange(gateway.address(), MALFORMED_CHUNKED).await;
        assert_eq!(raw::status(&answer), 400, "{answer}");
        assert!(answer.contains("bad_request_body"), "{answer}");
    }

    still_served(&gateway).await;
}

#[tokio::test]
async fn an_abandoned_body_never_ejects_the_target() {
    let upstream = EchoUpstream::start("only").await;
    let gateway = TestGateway::start(&pool(&[upstream.authority()], PASSIVE, "")).await;

    for _ in 0..ATTEMPTS {
        raw::abandon(gateway.address(), HALF_A_BODY).await;
    }

    still_served(&gateway).await;
}

#[tokio::test]
async fn a_stalled_body_is_a_408_and_never_ejects_the_target() {
    let upstream = EchoUpstream::start("only").await;
    let route = r#"idle-timeout = "200ms""#;
    let gateway = TestGateway::start(&pool(&[upstream.authority()], PASSIVE, route)).await;

    for _ in 0..ATTEMPTS {
        let answer = raw::exchange(gateway.address(), HALF_A_BODY).await;
        assert_eq!(raw::status(&answer), 408, "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
    }

    still_served(&gateway).await;
}

#[tokio::test]
async fn a_body_still_arriving_at_the_try_timeout_is_a_408_not_the_targets_failure() {
    let upstream = EchoUpstream::start("only").await;
    let route = r#"try-timeout = "300ms""#;
    let gateway = TestGateway::start(&pool(&[upstream.authority()], PASSIVE, route)).await;

    // Chunked, so the body streams once and the upstream waits for its end.
    let unfinished = b"PUT /orders HTTP/1.1\r\nHost: api.test\r\n\
Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    for _ in 0..ATTEMPTS {
        let answer = raw::exchange(gateway.address(), unfinished).await;
        assert_eq!(raw::status(&answer), 408, "{answer}");
    }

    still_served(&gateway).await;
}
