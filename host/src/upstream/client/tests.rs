//! The pool against a real HTTP/1.1 server on 127.0.0.1 that counts the connections it
//! accepts: requests one after another share one connection; a burst grows the pool and the
//! connections stay; a connection the server closes between two requests costs no request.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;
use crate::message::body;

/// A server answering `ok`, closing each connection after `requests_per_connection` answers.
async fn server(requests_per_connection: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let served = Arc::new(AtomicUsize::new(0));
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let n = served.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        let mut response =
                            http::Response::new(Full::new(Bytes::from_static(b"ok")));
                        if n >= requests_per_connection {
                            response
                                .headers_mut()
                                .insert(http::header::CONNECTION, "close".parse().unwrap());
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, accepted)
}

fn client() -> UpstreamClient {
    UpstreamClient::new(
        Connector::new(Duration::from_secs(1), None, None),
        UpstreamProtocol::Http1,
        1,
    )
}

async fn get(client: &UpstreamClient, address: &str) -> Bytes {
    let request = Request::get(format!("http://{address}/"))
        .body(body::empty())
        .unwrap();
    let response = client.request(0, request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn requests_one_after_another_share_one_connection() {
    let (address, accepted) = server(usize::MAX).await;
    let client = client();
    for _ in 0..50 {
        assert_eq!(get(&client, &address).await, "ok");
        // The connection goes back once its response is read: give that a moment.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        accepted.load(Ordering::SeqCst) <= 2,
        "{accepted:?} connections"
    );
}

#[tokio::test]
async fn a_burst_grows_the_pool_and_its_connections_are_kept() {
    let (address, accepted) = server(usize::MAX).await;
    let client = Arc::new(client());
    for _ in 0..3 {
        let burst: Vec<_> = (0..16)
            .map(|_| {
                let (client, address) = (client.clone(), address.clone());
                tokio::spawn(async move { get(&client, &address).await })
            })
            .collect();
        for request in burst {
            assert_eq!(request.await.unwrap(), "ok");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after_bursts = accepted.load(Ordering::SeqCst);
    assert!(
        after_bursts <= 32,
        "{after_bursts} connections for 3 bursts of 16"
    );
    for _ in 0..16 {
        get(&client, &address).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        after_bursts,
        "reused, not reopened"
    );
}

#[tokio::test]
async fn a_connection_the_server_closed_costs_no_request() {
    // Every connection serves two requests, then the server closes it.
    let (address, accepted) = server(2).await;
    let client = client();
    for _ in 0..20 {
        assert_eq!(get(&client, &address).await, "ok");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(accepted.load(Ordering::SeqCst) >= 10);
}

fn idle_connections(client: &UpstreamClient) -> usize {
    client.pool.slot(0).map_or(0, |slot| slot.idle.len())
}

#[tokio::test]
async fn a_connection_is_idle_again_as_soon_as_its_response_body_ends() {
    let (address, accepted) = server(usize::MAX).await;
    let client = client();
    for _ in 0..20 {
        assert_eq!(get(&client, &address).await, "ok");
        assert_eq!(idle_connections(&client), 1, "back without a moment's wait");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_response_dropped_unread_gives_its_connection_back_when_it_was_read_to_the_end() {
    let (address, accepted) = server(usize::MAX).await;
    let client = client();
    for _ in 0..10 {
        let request = Request::get(format!("http://{address}/"))
            .body(body::empty())
            .unwrap();
        let response = client.request(0, request).await.unwrap();
        // The two bytes came with the head: hyper has them, and the connection is done.
        tokio::time::sleep(Duration::from_millis(2)).await;
        drop(response);
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(idle_connections(&client), 1);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_response_abandoned_halfway_costs_its_connection_and_no_later_request() {
    // A body of 4 MiB, far more than one read: dropped after its first frame.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = service_fn(|_request| async {
                    let big = Bytes::from(vec![b'x'; 4 << 20]);
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(big)))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let client = client();
    for round in 1..=3 {
        let request = Request::get(format!("http://{address}/"))
            .body(body::empty())
            .unwrap();
        let mut body = client.request(0, request).await.unwrap().into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert!(first.data_ref().is_some_and(|data| !data.is_empty()));
        drop(body);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            idle_connections(&client),
            0,
            "a half-read connection is not reused"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), round);
    }
    let request = Request::get(format!("http://{address}/"))
        .body(body::empty())
        .unwrap();
    let whole = client.request(0, request).await.unwrap().into_body();
    assert_eq!(whole.collect().await.unwrap().to_bytes().len(), 4 << 20);
    assert_eq!(idle_connections(&client), 1);
}

#[test]
fn a_request_taken_to_origin_form_and_back_keeps_its_target_path_and_host() {
    let mut request = Request::get("http://127.0.0.1:9000/a/b?x=1")
        .body(body::empty())
        .unwrap();
    let base = origin_form(&mut request);
    assert_eq!(request.uri(), "/a/b?x=1");
    assert_eq!(request.headers()[HOST], "127.0.0.1:9000");
    absolute_form(&mut request, base);
    assert_eq!(request.uri(), "http://127.0.0.1:9000/a/b?x=1");

    // A request that names its own `Host` keeps it.
    let mut named = Request::get("http://127.0.0.1:9000/")
        .header(HOST, "api.example.com")
        .body(body::empty())
        .unwrap();
    origin_form(&mut named);
    assert_eq!(named.uri(), "/");
    assert_eq!(named.headers()[HOST], "api.example.com");
}
