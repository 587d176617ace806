//! What a plugin costs the gateway, per language: the size of its component, its compile time,
//! the time to load it from the disk cache on a restart, and the cost of one request through the
//! production plugin chain in both isolation modes. No gateway, no network: the same `Runtime`,
//! `ConfiguredPlugin` and `Chain` the proxy uses, called from one thread.
//!
//! ```text
//! cargo build --release -p portcullis --bin portcullis
//! for l in rust c js python; do target/release/portcullis plugin build examples/plugins/$l; done
//! cargo run --release -p portcullis --example plugin-costs            # the four `screen` examples
//! cargo run --release -p portcullis --example plugin-costs -- --help  # counts, other components
//! ```
//!
//! It prints a Markdown table on stdout (progress on stderr). A benchmark, not a test: the
//! figures depend on the machine; docs/benchmarks.md quotes a run.
//!
//! - **compile**: `Runtime::compile` on a fresh runtime with the disk cache off (what the first
//!   start, or a reload with a new component, costs), median of `--compiles` runs.
//! - **cached load**: the same on a fresh runtime whose disk cache already holds the component
//!   (what a restart costs), median of `--compiles` runs.
//! - **configure**: `ConfiguredPlugin::configure`: link against the host, a first instance and
//!   `init` with the config (once per plugin per manifest load).
//! - **request**: one allowed request through `Chain::on_request`, the upstream's response set,
//!   then `Chain::on_response` (the `screen` policy runs in both phases), with a fresh exchange
//!   each time; median and p99 of `--requests` requests after a tenth as warm-up.
//!   `isolation = "reuse"` takes a warm instance; `isolation = "request"` creates and `init`s a
//!   fresh one per request, so the difference of the two is what instantiation costs a request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response};
use portcullis::config::{FailurePolicy, Isolation, Limits, PluginSource, PluginSpec};
use portcullis::plugin::{
    Chain, ConfiguredPlugin, Exchange, RequestVerdict, ResponseState, Runtime, RuntimeOptions,
};
use portcullis::state::StateStore;

/// The languages of `examples/plugins`, in table order.
const LANGUAGES: [&str; 4] = ["rust", "c", "js", "python"];

/// The user agent of every measured request: not in the deny list, so the plugin compares it,
/// tags the context and adds its response header.
const USER_AGENT: &str = "portcullis-bench/1.0";

#[derive(Parser)]
#[command(about = "Size, compile time, cached load time and per-request cost of plugin components")]
struct Args {
    /// Compilations (and cached loads) per component; the median is shown.
    #[arg(long, default_value_t = 5)]
    compiles: usize,
    /// Configurations (link + first instance + init) per component; the median is shown.
    #[arg(long, default_value_t = 20)]
    configures: usize,
    /// Measured requests per component and isolation mode (plus a tenth as warm-up).
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// The plugin's config, as JSON.
    #[arg(
        long,
        default_value = r#"{"header":"user-agent","deny":["badbot","evil-scanner"]}"#
    )]
    config: String,
    /// Components to measure, as `label=path` or `path`; default: the four `screen` examples
    /// (`examples/plugins/<lang>/build/screen.wasm`, built by `portcullis plugin build`).
    components: Vec<String>,
}

/// What was measured for one component.
struct Costs {
    label: String,
    size: usize,
    compile: Duration,
    cached_load: Duration,
    configure: Duration,
    reuse: (Duration, Duration),
    request: (Duration, Duration),
}

fn main() {
    let args = Args::parse();
    let config: serde_json::Value =
        serde_json::from_str(&args.config).expect("--config is not valid JSON");
    let components: Vec<(String, PathBuf)> = if args.components.is_empty() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        LANGUAGES
            .iter()
            .map(|lang| {
                let path = root
                    .join("examples/plugins")
                    .join(lang)
                    .join("build/screen.wasm");
                (lang.to_string(), path)
            })
            .collect()
    } else {
        args.components
            .iter()
            .map(|c| match c.split_once('=') {
                Some((label, path)) => (label.to_string(), PathBuf::from(path)),
                None => (c.clone(), PathBuf::from(c)),
            })
            .collect()
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut rows = Vec::new();
    for (label, path) in &components {
        let bytes = std::fs::read(path).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}); build it first: portcullis plugin build <its project>",
                path.display()
            )
        });
        eprintln!(
            "plugin-costs: {label}: {} ({} bytes)",
            path.display(),
            bytes.len()
        );
        rows.push(tokio.block_on(measure(&args, label, path, &bytes, &config)));
    }
    println!(
        "\n{} compiles, {} configures, {} requests per mode; one thread; medians (p99 in brackets)\n",
        args.compiles, args.configures, args.requests
    );
    println!(
        "| component | size | compile (no cache) | cached load | configure (link + instance + init) \
         | request, `reuse` | request, `request` | instantiation + init per request |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for c in &rows {
        let fresh = c.request.0.saturating_sub(c.reuse.0);
        println!(
            "| {} | {} | {} | {} | {} | {} ({}) | {} ({}) | {} |",
            c.label,
            size(c.size),
            time(c.compile),
            time(c.cached_load),
            time(c.configure),
            time(c.reuse.0),
            time(c.reuse.1),
            time(c.request.0),
            time(c.request.1),
            time(fresh),
        );
    }
}

async fn measure(
    args: &Args,
    label: &str,
    path: &Path,
    bytes: &[u8],
    config: &serde_json::Value,
) -> Costs {
    // Compile with no cache: a fresh runtime each time, so nothing is remembered in memory either.
    let mut compiles = Vec::new();
    for _ in 0..args.compiles.max(1) {
        let runtime = runtime(None);
        let started = Instant::now();
        let compiled = runtime.compile(bytes).expect("the component compiles");
        compiles.push(started.elapsed());
        drop(compiled);
    }
    let compile = median(&mut compiles);
    eprintln!("  compile (no cache)     {}", time(compile));

    // A restart: a fresh runtime on a disk cache that already holds the component.
    let cache = tempfile::tempdir().expect("a temporary cache directory");
    drop(
        runtime(Some(cache.path()))
            .compile(bytes)
            .expect("the component compiles"),
    );
    let mut loads = Vec::new();
    for _ in 0..args.compiles.max(1) {
        let runtime = runtime(Some(cache.path()));
        let started = Instant::now();
        let compiled = runtime.compile(bytes).expect("the component loads");
        loads.push(started.elapsed());
        drop(compiled);
    }
    let cached_load = median(&mut loads);
    eprintln!("  cached load            {}", time(cached_load));

    let runtime = runtime(Some(cache.path()));
    let compiled = runtime.compile(bytes).expect("the component loads");
    let spec = |isolation| PluginSpec {
        name: label.to_string(),
        source: PluginSource::File(path.to_path_buf()),
        config: config.clone(),
        isolation,
        failure: FailurePolicy::FailClosed,
        limits: Limits::default(),
        files: Vec::new(),
        span: 0..0,
        rollout: Default::default(),
    };
    let state = StateStore::in_process();
    let budget = Arc::new(portcullis::plugin::MemoryBudget::new(&Default::default()));
    let mut configures = Vec::new();
    for _ in 0..args.configures.max(1) {
        let started = Instant::now();
        let plugin = ConfiguredPlugin::configure(
            &runtime,
            &compiled,
            &spec(Isolation::Request),
            "bench",
            &state,
            &budget,
        )
        .await
        .expect("the plugin accepts its config");
        configures.push(started.elapsed());
        drop(plugin);
    }
    let configure = median(&mut configures);
    eprintln!("  configure              {}", time(configure));

    let mut modes = Vec::new();
    for isolation in [Isolation::Reuse, Isolation::Request] {
        let plugin = ConfiguredPlugin::configure(
            &runtime,
            &compiled,
            &spec(isolation),
            "bench",
            &state,
            &budget,
        )
        .await
        .expect("the plugin accepts its config");
        let chain = Chain::new(vec![Arc::new(plugin)]);
        let metrics = portcullis::observe::metrics::Metrics::new()
            .route("bench", chain.steps().iter().map(|s| s.plugin().name()));
        let warmup = args.requests / 10;
        let mut times = Vec::with_capacity(args.requests);
        for i in 0..warmup + args.requests.max(1) {
            let exchange = exchange();
            let response = response();
            let started = Instant::now();
            let (mut exchange, verdict, chain_state) = chain.on_request(exchange, &metrics).await;
            assert!(
                matches!(verdict, RequestVerdict::Forward),
                "{label}: the request should go through, got {verdict:?}"
            );
            exchange.response = Some(response);
            let (exchange, result) = chain
                .on_response(exchange, chain.len(), chain_state, &metrics)
                .await;
            let elapsed = started.elapsed();
            if let Err(failure) = result {
                panic!("{label}: on-response failed: {}", failure.error);
            }
            if i == 0 {
                check(label, &exchange);
            }
            if i >= warmup {
                times.push(elapsed);
            }
        }
        let p50 = median(&mut times);
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        eprintln!(
            "  request, {:<8}       {} (p99 {})",
            format!("{isolation:?}").to_lowercase(),
            time(p50),
            time(p99)
        );
        modes.push((p50, p99));
    }
    Costs {
        label: label.to_string(),
        size: bytes.len(),
        compile,
        cached_load,
        configure,
        reuse: modes[0],
        request: modes[1],
    }
}

/// A runtime with the disk cache in `cache`, or none.
fn runtime(cache: Option<&Path>) -> Runtime {
    Runtime::new(&RuntimeOptions {
        cache_dir: cache.map(Path::to_path_buf),
        no_cache: cache.is_none(),
        ..Default::default()
    })
    .expect("the Wasm runtime starts")
}

/// The plugin did its job: the context tag and the response header of `screen`.
fn check(label: &str, exchange: &Exchange) {
    assert_eq!(
        exchange.context.get("screen"),
        Some("allowed"),
        "{label}: the plugin did not tag the context"
    );
    let header = exchange
        .response
        .as_ref()
        .and_then(|r| r.parts.headers.get("x-screen"));
    assert_eq!(
        header.map(|v| v.as_bytes()),
        Some(&b"allowed"[..]),
        "{label}: the plugin did not add x-screen to the response"
    );
}

/// A typical small request: a handful of headers, as a browser or an API client sends.
fn exchange() -> Box<Exchange> {
    let request = Request::get("/orders/42?page=2")
        .header("host", "api.example.com")
        .header("user-agent", USER_AGENT)
        .header("accept", "application/json")
        .header("accept-encoding", "gzip, br")
        .header("x-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e")
        .body(())
        .expect("a valid request");
    // Plugin metrics go nowhere and no span is recorded, as in a gateway with tracing off.
    Box::new(Exchange::detached(
        request.into_parts().0,
        "bench",
        "bench-request",
    ))
}

/// The upstream's answer: 100 bytes of text, as bench/run's upstream sends.
fn response() -> ResponseState {
    let response = Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("content-length", "100")
        .body(())
        .expect("a valid response");
    ResponseState {
        parts: response.into_parts().0,
        body: Some(Bytes::from(vec![b'x'; 100])),
        trailers: None,
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.1} µs")
    }
}

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}
