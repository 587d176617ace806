//! One HTTP/1.1 exchange with a registry (or its token service, or the storage a blob is
//! redirected to) on a connection of its own: a pull is two to five requests per reload, so
//! pooling would buy nothing and keep sockets open between reloads. Each exchange is bounded in
//! time and in the size of the answer.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The longest one exchange may take, connecting and reading the whole answer included.
pub(super) const TIMEOUT: Duration = Duration::from_secs(60);

/// A complete answer.
#[derive(Debug)]
pub(super) struct Answer {
    /// Its status.
    pub(super) status: StatusCode,
    /// Its headers.
    pub(super) headers: HeaderMap,
    /// Its body, whole.
    pub(super) body: Bytes,
}

/// Why an exchange failed: the registry is unreachable (or broke the connection), in words.
#[derive(Debug)]
pub(super) struct Failed(pub String);

/// Sends `method url` with `headers` and `body`, and reads an answer of at most `limit` bytes.
pub(super) async fn exchange(
    tls: &Arc<ClientConfig>,
    method: Method,
    url: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    limit: usize,
) -> Result<Answer, Failed> {
    match tokio::time::timeout(
        TIMEOUT,
        exchange_unbounded(tls, method, url, headers, body, limit),
    )
    .await
    {
        Ok(answer) => answer,
        Err(_) => Err(Failed(format!("no answer within {}s", TIMEOUT.as_secs()))),
    }
}

async fn exchange_unbounded(
    tls: &Arc<ClientConfig>,
    method: Method,
    url: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    limit: usize,
) -> Result<Answer, Failed> {
    let https = match url.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(Failed(format!("`{url}` is not an http(s) URL"))),
    };
    let host = url
        .host()
        .ok_or_else(|| Failed(format!("`{url}` has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| Failed(format!("cannot connect to {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let mut request = Request::builder()
        .method(method)
        .uri(url.path_and_query().map_or("/", |p| p.as_str()));
    if let Some(target) = request.headers_mut() {
        target.extend(headers.clone());
        let authority = url.authority().map_or(host.as_str(), |a| a.as_str());
        if let Ok(value) = authority.parse() {
            target.insert(http::header::HOST, value);
        }
        target.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        );
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| Failed(format!("cannot build a request for `{url}`: {e}")))?;
    if https {
        let name = ServerName::try_from(host.clone())
            .map_err(|e| Failed(format!("`{host}` is not a TLS server name: {e}")))?;
        let stream = TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                // A plain-HTTP server answers a TLS hello with HTTP: say what to do.
                let hint = if e.to_string().contains("InvalidContentType") {
                    "; if this registry speaks plain HTTP, name it with --registry-plain-http"
                } else {
                    ""
                };
                Failed(format!("TLS with {host}:{port} failed: {e}{hint}"))
            })?;
        send(TokioIo::new(stream), request, limit).await
    } else {
        send(TokioIo::new(tcp), request, limit).await
    }
}

const USER_AGENT: &str = concat!("portcullis/", env!("CARGO_PKG_VERSION"));

async fn send<I>(io: I, request: Request<Full<Bytes>>, limit: usize) -> Result<Answer, Failed>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Failed(format!("HTTP handshake failed: {e}")))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Failed(format!("the request failed: {e}")))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| Failed(format!("reading the answer failed: {e}")))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
    .await;
    driver.abort();
    result
}
