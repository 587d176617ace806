//! The benchmark upstream: the cheapest possible HTTP server, so that a benchmark measures the
//! proxy in front of it and not the backend.
//!
//! One thread (a tokio `current_thread` runtime), keep-alive, HTTP/1.1 and h2c (prior knowledge)
//! on the same port, and a fixed 100-byte body for every method and path. A request body, if any,
//! is read to the end and dropped. Used by `bench/run` (see `docs/benchmarks.md`); modelled on the
//! upstream of the shared loopback benchmark protocol (`shared/bench/README.md`).
//!
//! ```text
//! cargo run --release -p portcullis --example bench-upstream -- 127.0.0.1:3000
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// Exactly 100 bytes, the body every request gets.
const BODY: &[u8; 100] =
    b"portcullis bench upstream: a fixed one-hundred-byte body for every request, path and method. ok\n\n\n\n\n";

const DEFAULT_ADDRESS: &str = "127.0.0.1:3000";

fn main() -> ExitCode {
    let given = std::env::args().nth(1);
    let address = given.as_deref().unwrap_or(DEFAULT_ADDRESS);
    let address: SocketAddr = match address.parse() {
        Ok(address) => address,
        Err(e) => {
            eprintln!("bench-upstream: `{address}` is not an address: {e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_current_thread();
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench-upstream: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(address)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(address: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    eprintln!("bench-upstream: listening on http://{address} (HTTP/1.1 and h2c)");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: back off a little rather than spin.
                eprintln!("bench-upstream: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = request.into_body();
    if !body.is_end_stream() {
        // Drain an upload so the connection stays usable; its content does not matter.
        let _ = body.collect().await;
    }
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    let text = HeaderValue::from_static("text/plain");
    response.headers_mut().insert(CONTENT_TYPE, text);
    Ok(response)
}
