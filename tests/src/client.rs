//! A small HTTP client for tests: HTTP/1.1 or HTTP/2 with prior knowledge (h2c).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The most any test request may take: a hung gateway fails the test instead of hanging it.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The HTTP version.
    pub version: http::Version,
}

impl TestResponse {
    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// What the echo upstream received: the values of request header `name`.
    pub fn upstream_saw_header(&self, name: &str) -> Vec<String> {
        self.json()["headers"][name]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An HTTP client bound to one gateway address.
#[derive(Clone)]
pub struct Client {
    base: String,
    inner: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// An HTTP/1.1 client for `http://address`.
    pub fn http1(address: std::net::SocketAddr) -> Self {
        Self {
            base: format!("http://{address}"),
            inner: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// An HTTP/2 client with prior knowledge (h2c) for `http://address`.
    pub fn h2c(address: std::net::SocketAddr) -> Self {
        Self {
            base: format!("http://{address}"),
            inner: HyperClient::builder(TokioExecutor::new())
                .http2_only(true)
                .build_http(),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// `GET path` with headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> TestResponse {
        self.send(Method::GET, path, headers, Bytes::new()).await
    }

    /// A GET whose body may fail mid-way: the status, and the body or why it broke off.
    pub async fn get_streamed(&self, path: &str) -> (StatusCode, Result<Bytes, String>) {
        let request = Request::get(format!("{}{path}", self.base))
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        let response = tokio::time::timeout(REQUEST_DEADLINE, self.inner.request(request))
            .await
            .expect("the gateway answered within the deadline")
            .expect("the request reached the gateway");
        let status = response.status();
        let body = tokio::time::timeout(REQUEST_DEADLINE, response.into_body().collect())
            .await
            .expect("the body ended within the deadline")
            .map(|b| b.to_bytes())
            .map_err(|e| e.to_string());
        (status, body)
    }

    /// Any request.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(Full::new(body)).expect("a valid request");
        let response = tokio::time::timeout(REQUEST_DEADLINE, self.inner.request(request))
            .await
            .expect("the gateway answered within the deadline")
            .expect("the request reached the gateway");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read the body").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
            version: parts.version,
        }
    }
}
