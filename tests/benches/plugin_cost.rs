//! What one plugin call costs, measured through the host's own call path (checkout or
//! instantiate, lend the exchange, call, take it back), single-threaded, on the pooling allocator.
//!
//! Run: `cargo bench -p portcullis-tests --bench plugin-cost` (add `-- 50000` for more calls).
//! Prints the median and p99 per case; docs/plugin-runtime.md and docs/plugin-abi.md quote a run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use http::Request;
use portcullis::config::{FailurePolicy, Isolation, Limits, PluginSource, PluginSpec};
use portcullis::contract::Phase;
use portcullis::plugin::instance::Held;
use portcullis::plugin::{Exchange, Runtime, RuntimeOptions};

/// Headers on the benchmark request: about what a browser sends.
const HEADERS: usize = 20;

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(run(calls));
}

async fn run(calls: usize) {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
    let wasm = Runtime::new(&RuntimeOptions {
        cache_dir: Some(cache),
        no_cache: false,
        ..Default::default()
    })
    .expect("runtime");
    let bytes =
        std::fs::read(portcullis_tests::guests::MISBEHAVE).expect("the misbehave component");
    let compiled = wasm.compile(&bytes).expect("compile");

    println!("{calls} calls per case, {HEADERS} request headers, one thread\n");
    println!("| case | median | p99 |");
    println!("|---|---|---|");
    let cases = [
        ("reuse: empty on-request", Isolation::Reuse, "none"),
        ("reuse: read one header", Isolation::Reuse, "read-one"),
        ("reuse: copy all headers in", Isolation::Reuse, "read-all"),
        (
            "request: fresh instance + init + empty on-request",
            Isolation::Request,
            "none",
        ),
        (
            "request: fresh instance + init + read one header",
            Isolation::Request,
            "read-one",
        ),
    ];
    for (label, isolation, mode) in cases {
        let spec = PluginSpec {
            name: "misbehave".into(),
            source: PluginSource::File(PathBuf::from(portcullis_tests::guests::MISBEHAVE)),
            config: serde_json::json!({ "mode": mode }),
            isolation,
            failure: FailurePolicy::FailClosed,
            limits: Limits {
                memory_bytes: 16 << 20,
                cpu: Duration::from_millis(50),
                max_requests: u64::MAX,
            },
            files: Vec::new(),
            span: 0..0,
            rollout: Default::default(),
        };
        let state = portcullis::state::StateStore::in_process();
        let budget =
            std::sync::Arc::new(portcullis::plugin::MemoryBudget::new(&Default::default()));
        let plugin = portcullis::plugin::ConfiguredPlugin::configure(
            &wasm, &compiled, &spec, "bench", &state, &budget,
        )
        .await
        .expect("configure");
        let mut exchange = exchange();
        let mut times = Vec::with_capacity(calls);
        for i in 0..calls + calls / 10 {
            let mut held = Held::default();
            let started = Instant::now();
            let (back, result) = plugin.call(exchange, Phase::Request, &mut held).await;
            let elapsed = started.elapsed();
            plugin.release(&mut held);
            exchange = back;
            result.expect("the call succeeds");
            if i >= calls / 10 {
                times.push(elapsed); // the first tenth warms up
            }
        }
        times.sort();
        let median = times[times.len() / 2];
        let p99 = times[times.len() * 99 / 100];
        println!(
            "| {label} | {:.1} us | {:.1} us |",
            micros(median),
            micros(p99)
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn exchange() -> Box<Exchange> {
    let mut request = Request::get("/orders/42?page=2").body(()).expect("request");
    let headers = request.headers_mut();
    for i in 0..HEADERS - 1 {
        headers.insert(
            http::HeaderName::from_bytes(format!("x-header-{i}").as_bytes()).expect("name"),
            http::HeaderValue::from_static("some typical header value of forty bytes"),
        );
    }
    headers.insert("x-probe", http::HeaderValue::from_static("probe"));
    Box::new(Exchange::detached(
        request.into_parts().0,
        "bench",
        "bench-request",
    ))
}
