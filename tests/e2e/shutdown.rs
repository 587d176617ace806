//! Graceful shutdown: stopping closes the listeners at once, lets requests in flight finish
//! until the deadline, closes idle keep-alive connections, and drops what is left at the deadline.

use std::time::{Duration, Instant};

use portcullis::gateway::Running;
use portcullis_tests::manifest::one_route;
use portcullis_tests::{Client, EchoUpstream};

/// A gateway started directly (not through `TestGateway`), so the test owns its `stop`.
async fn start(upstream: &EchoUpstream) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, one_route(upstream, "")).expect("write the manifest");
    let running = Running::start_with(portcullis_tests::gateway::runtime(), &path)
        .await
        .expect("the gateway starts");
    (running, dir)
}

#[tokio::test]
async fn a_request_in_flight_completes_while_new_connections_are_refused() {
    let upstream = EchoUpstream::start("echo").await;
    let (running, _dir) = start(&upstream).await;
    let address = running.addresses()[0].1;
    let slow = tokio::spawn(async move { Client::http1(address).get("/slow/1500").await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stopping = tokio::spawn(running.stop_within(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::net::TcpStream::connect(address).await;
    let response = slow.await.expect("the slow request's task");
    let stopped = tokio::time::timeout(Duration::from_secs(5), stopping).await;

    assert!(refused.is_err(), "a new connection was accepted after stop");
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["path"], "/slow/1500");
    assert!(
        stopped.is_ok(),
        "stop did not return once the request was done"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_up_the_stop() {
    let upstream = EchoUpstream::start("echo").await;
    let (running, _dir) = start(&upstream).await;
    let client = Client::http1(running.addresses()[0].1);
    // The client keeps its connection open in its pool after this.
    assert_eq!(client.get("/").await.status, 200);
    let h2 = Client::h2c(running.addresses()[0].1);
    assert_eq!(h2.get("/").await.status, 200);

    let started = Instant::now();
    running.stop_within(Duration::from_secs(20)).await;

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop waited {:?} for idle connections",
        started.elapsed()
    );
}

#[tokio::test]
async fn requests_still_running_at_the_deadline_are_cut_off() {
    let upstream = EchoUpstream::start("echo").await;
    let (running, _dir) = start(&upstream).await;
    let address = running.addresses()[0].1;
    let slow = tokio::spawn(async move {
        let request = http::Request::get(format!("http://{address}/slow/10000"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("a request");
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http()
            .request(request)
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    running.stop_within(Duration::from_millis(500)).await;
    let outcome = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .expect("the client saw the connection end")
        .expect("the client's task");

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stop took {:?} with a 500ms deadline",
        started.elapsed()
    );
    assert!(outcome.is_err(), "the cut-off request got an answer");
}
