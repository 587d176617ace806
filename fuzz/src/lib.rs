//! What several fuzz targets share: a tokio runtime that lives as long as the fuzz process, the
//! Wasm runtime with its compiled-component cache under `target/`, and an echo upstream.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis::plugin::{Runtime, RuntimeOptions};

/// A multi-threaded tokio runtime for the whole fuzz process (the gateway serves on it while
/// the fuzz loop runs on libFuzzer's thread).
pub fn tokio() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// One Wasm runtime per process, its compiled components cached on disk where the tests keep
/// theirs (`target/test-wasm-cache`), so a prebuilt plugin is compiled once per machine.
pub fn wasm_runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let options = RuntimeOptions {
                cache_dir: Some(workspace().join("target/test-wasm-cache")),
                no_cache: false,
                ..Default::default()
            };
            let runtime = tokio().block_on(async { Runtime::new(&options) });
            Arc::new(runtime.expect("the Wasm runtime starts"))
        })
        .clone()
}

/// The repository's root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts, on [`tokio`], an HTTP/1.1 and h2c upstream on 127.0.0.1 that answers every request
/// with 200 and the request's body.
pub fn echo_upstream() -> SocketAddr {
    tokio().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the echo upstream");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let service = service_fn(
                        |request: hyper::Request<hyper::body::Incoming>| async move {
                            let body = match request.into_body().collect().await {
                                Ok(collected) => collected.to_bytes(),
                                Err(_) => Bytes::new(),
                            };
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        address
    })
}
