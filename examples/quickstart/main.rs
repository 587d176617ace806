//! The quickstart: a demo upstream on 127.0.0.1:3000 and the gateway on 127.0.0.1:8080, loaded
//! from `examples/quickstart/portcullis.toml`.
//!
//! Run it with `cargo run --release --example quickstart`, then try:
//!
//! ```text
//! curl -i http://127.0.0.1:8080/api/hello                                  # 401: no key
//! curl -i -H 'apikey: alice-secret-key' http://127.0.0.1:8080/api/hello    # 200, as alice
//! # RateLimit-Remaining counts down from 30 a minute; the 31st gets 429 with Retry-After
//! curl -i 'http://127.0.0.1:8080/api/hello?apikey=bob-secret-key'          # 200, as bob
//! curl -i http://127.0.0.1:8080/users/42                                   # rewritten to /profiles/42
//! curl -i http://127.0.0.1:8080/nowhere                                    # 404 from the gateway
//! ```

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

const UPSTREAM: &str = "127.0.0.1:3000";

fn main() -> ExitCode {
    let manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart/portcullis.toml");
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => runtime.block_on(demo_upstream()),
            Err(e) => eprintln!("demo upstream: cannot start a runtime: {e}"),
        }
    });
    println!(
        r#"
Portcullis quickstart: gateway on http://127.0.0.1:8080, demo upstream on http://{UPSTREAM}
Manifest: {}

Try:
  curl -i http://127.0.0.1:8080/api/hello                                  # 401: no key
  curl -i -H 'apikey: alice-secret-key' http://127.0.0.1:8080/api/hello    # 200, as alice
  # RateLimit-Remaining counts down from 30 a minute; the 31st gets 429 with Retry-After
  curl -i 'http://127.0.0.1:8080/api/hello?apikey=bob-secret-key'          # 200, as bob
  curl -i http://127.0.0.1:8080/users/42                                   # rewritten to /profiles/42
  curl -i http://127.0.0.1:8080/nowhere                                    # 404 from the gateway
"#,
        manifest.display()
    );
    let cli = portcullis::cli::Cli::parse_from([
        "portcullis".into(),
        "run".into(),
        manifest.into_os_string(),
    ]);
    cli.run()
}

/// The demo upstream: says hello, and shows what it received from the gateway.
async fn demo_upstream() {
    let listener = match tokio::net::TcpListener::bind(UPSTREAM).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("demo upstream: cannot bind {UPSTREAM}: {e}");
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                let consumer = request
                    .headers()
                    .get("x-consumer")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let body = serde_json::json!({
                    "message": "hello from the demo upstream",
                    "path": request.uri().path(),
                    "consumer": consumer,
                    "forwarded_for": request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()),
                });
                let response = Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(format!("{body}\n"))));
                Ok::<_, Infallible>(response.unwrap_or_default())
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
