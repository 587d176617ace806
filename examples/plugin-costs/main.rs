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
//! On a busy machine, count instructions instead of timing: the measured requests (not the
//! warm-up) run inside `counted_requests`, so callgrind can count only them (name it exactly: a
//! pattern also matches its closures, and each match toggles counting). With a cache directory
//! filled by a first run, the component is not compiled under valgrind (which starts a 12-18 MB
//! JavaScript or Python component in minutes all the same):
//!
//! ```text
//! plugin-costs --compiles 0 --configures 1 --isolation reuse --cache-dir /tmp/pc js=...wasm
//! export PORTCULLIS_PLUGIN_INSTANCES=8   # valgrind gives a program less than 64 GiB
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect=plugin_costs::counted_requests \
//!     target/release/examples/plugin-costs --compiles 0 --configures 1 --isolation reuse \
//!     --requests 1000 --cache-dir /tmp/pc js=...wasm   # then: instructions ("Collected") / 1000
//! ```
//!
//! - **compile**: `Runtime::compile` on a fresh runtime with the disk cache off (what the first
//!   start, or a reload with a new component, costs), median of `--compiles` runs.
//! - **cached load**: the same on a fresh runtime whose disk cache already holds the component
//!   (what a restart costs), median of `--compiles` runs.
//! - **configure**: `ConfiguredPlugin::configure`: link against the host, a first instance and
//!   `init` with the config (once per plugin per manifest load).
//! - **request**: one allowed request through `Chain::on_request`, the upstream's response set,
//!   then `Chain::on_response` (which calls a plugin that asked for `on-response`; the `screen`
//!   examples decide their response header in `on-request` and do not), with a fresh exchange
//!   each time; median, p99 and mean of `--requests` requests after a tenth as warm-up (the
//!   mean counts what a median hides: an instance recycled, and a new one made, now and then).
//!   `isolation = "reuse"` takes a warm instance; `isolation = "request"` creates and `init`s a
//!   fresh one per request, so the difference of the two is what instantiation costs a request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response};
use portcullis::config::{FailurePolicy, Isolation, Limits, PluginSource, PluginSpec};
use portcullis::plugin::engine::DEFAULT_INSTANCE_SLOTS;
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
    /// Compilations (and cached loads) per component; the median is shown. 0 measures neither
    /// (the component is loaded from the cache directory, or compiled once, unmeasured).
    #[arg(long, default_value_t = 5)]
    compiles: usize,
    /// The isolation modes whose requests are measured.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "reuse,request"
    )]
    isolation: Vec<Mode>,
    /// Instance slots of the pooling allocator, as the gateway's `--plugin-instances` (valgrind
    /// needs a handful: each slot reserves about 4 GiB of address space).
    #[arg(long, env = "PORTCULLIS_PLUGIN_INSTANCES", default_value_t = DEFAULT_INSTANCE_SLOTS)]
    plugin_instances: u32,
    /// The disk cache of compiled components: kept between runs when given (so that a run under
    /// valgrind need not compile), a temporary directory otherwise.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
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

/// An isolation mode to measure (the manifest's `isolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// A warm instance, reused.
    Reuse,
    /// A fresh instance and `init` per request.
    Request,
}

impl Mode {
    fn isolation(self) -> Isolation {
        match self {
            Mode::Reuse => Isolation::Reuse,
            Mode::Request => Isolation::Request,
        }
    }
}

/// What was measured for one component (`None`: not asked for).
struct Costs {
    label: String,
    size: usize,
    compile: Option<Duration>,
    cached_load: Option<Duration>,
    configure: Duration,
    reuse: Option<Timings>,
    request: Option<Timings>,
}

/// The measured requests of one isolation mode.
#[derive(Clone, Copy)]
struct Timings {
    p50: Duration,
    p99: Duration,
    mean: Duration,
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
        rows.push(measure(&tokio, &args, label, path, &bytes, &config));
    }
    println!(
        "\n{} compiles, {} configures, {} requests per mode; one thread; medians (requests: p99 and mean in brackets)\n",
        args.compiles, args.configures, args.requests
    );
    println!(
        "| component | size | compile (no cache) | cached load | configure (link + instance + init) \
         | request, `reuse` | request, `request` | instantiation + init per request |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let or_dash = |d: Option<Duration>| d.map_or_else(|| "–".to_string(), time);
    let with_p99 = |m: Option<Timings>| {
        m.map_or_else(
            || "–".to_string(),
            |t| format!("{} ({}; {})", time(t.p50), time(t.p99), time(t.mean)),
        )
    };
    for c in &rows {
        let fresh = c
            .request
            .zip(c.reuse)
            .map(|(request, reuse)| request.p50.saturating_sub(reuse.p50));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.label,
            size(c.size),
            or_dash(c.compile),
            or_dash(c.cached_load),
            time(c.configure),
            with_p99(c.reuse),
            with_p99(c.request),
            or_dash(fresh),
        );
    }
}

fn measure(
    tokio: &tokio::runtime::Runtime,
    args: &Args,
    label: &str,
    path: &Path,
    bytes: &[u8],
    config: &serde_json::Value,
) -> Costs {
    // Compile with no cache: a fresh runtime each time, so nothing is remembered in memory either.
    let mut compiles = Vec::new();
    for _ in 0..args.compiles {
        let runtime = runtime(args, None);
        let started = Instant::now();
        let compiled = runtime.compile(bytes).expect("the component compiles");
        compiles.push(started.elapsed());
        drop(compiled);
    }
    let compile = (!compiles.is_empty()).then(|| median(&mut compiles));
    if let Some(compile) = compile {
        eprintln!("  compile (no cache)     {}", time(compile));
    }

    // A restart: a fresh runtime on a disk cache that already holds the component.
    let temporary;
    let cache = match &args.cache_dir {
        Some(dir) => dir.as_path(),
        None => {
            temporary = tempfile::tempdir().expect("a temporary cache directory");
            temporary.path()
        }
    };
    drop(
        runtime(args, Some(cache))
            .compile(bytes)
            .expect("the component compiles"),
    );
    let mut loads = Vec::new();
    for _ in 0..args.compiles {
        let runtime = runtime(args, Some(cache));
        let started = Instant::now();
        let compiled = runtime.compile(bytes).expect("the component loads");
        loads.push(started.elapsed());
        drop(compiled);
    }
    let cached_load = (!loads.is_empty()).then(|| median(&mut loads));
    if let Some(cached_load) = cached_load {
        eprintln!("  cached load            {}", time(cached_load));
    }

    let runtime = runtime(args, Some(cache));
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
    let configure_one = |isolation| {
        tokio
            .block_on(ConfiguredPlugin::configure(
                &runtime,
                &compiled,
                &spec(isolation),
                "bench",
                &state,
                &budget,
            ))
            .expect("the plugin accepts its config")
    };
    let mut configures = Vec::new();
    for _ in 0..args.configures.max(1) {
        let started = Instant::now();
        let plugin = configure_one(Isolation::Request);
        configures.push(started.elapsed());
        drop(plugin);
    }
    let configure = median(&mut configures);
    eprintln!("  configure              {}", time(configure));

    let mut costs = Costs {
        label: label.to_string(),
        size: bytes.len(),
        compile,
        cached_load,
        configure,
        reuse: None,
        request: None,
    };
    for mode in [Mode::Reuse, Mode::Request] {
        if !args.isolation.contains(&mode) {
            continue;
        }
        let plugin = Arc::new(configure_one(mode.isolation()));
        let chain = Chain::new(vec![plugin.clone()]);
        let metrics = portcullis::observe::metrics::Metrics::new()
            .route("bench", chain.steps().iter().map(|s| s.plugin().name()));
        let first = warm_up(tokio, &chain, &metrics, label, (args.requests / 10).max(1));
        check(label, &first);
        let before = plugin.stats.figures();
        let mut times = counted_requests(tokio, &chain, &metrics, label, args.requests.max(1));
        let after = plugin.stats.figures();
        // The mean counts the rare slow request a median hides: an instance recycled (and a new
        // one made) during the measured requests.
        let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap_or(u32::MAX);
        let p50 = median(&mut times);
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        // In `reuse`, a new instance during the measured requests is a cost to explain: an
        // instance dropped for outgrowing its memory, or recycled after `max-requests`.
        eprintln!(
            "  request, {:<8}       {} (p99 {}, mean {}); instances created {}, dropped for their \
             size {}, recycled before their memory limit {}",
            format!("{mode:?}").to_lowercase(),
            time(p50),
            time(p99),
            time(mean),
            after.instantiations - before.instantiations,
            after.oversized_drops - before.oversized_drops,
            after.limit_recycles - before.limit_recycles,
        );
        let timings = Some(Timings { p50, p99, mean });
        match mode {
            Mode::Reuse => costs.reuse = timings,
            Mode::Request => costs.request = timings,
        }
    }
    costs
}

/// `n` requests before the measured ones; returns the first one's exchange, to be checked.
#[inline(never)]
fn warm_up(
    tokio: &tokio::runtime::Runtime,
    chain: &Chain,
    metrics: &portcullis::observe::metrics::RouteMetrics,
    label: &str,
    n: usize,
) -> Box<Exchange> {
    tokio.block_on(async {
        let (first, _) = one_request(chain, metrics, label).await;
        for _ in 1..n {
            one_request(chain, metrics, label).await;
        }
        first
    })
}

/// The measured requests, and nothing else: callgrind's `--toggle-collect` names this function
/// to count their instructions only (see the module's documentation).
#[inline(never)]
fn counted_requests(
    tokio: &tokio::runtime::Runtime,
    chain: &Chain,
    metrics: &portcullis::observe::metrics::RouteMetrics,
    label: &str,
    n: usize,
) -> Vec<Duration> {
    tokio.block_on(async {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(one_request(chain, metrics, label).await.1);
        }
        times
    })
}

/// One allowed request through the chain: `on-request`, the upstream's response, `on-response`.
/// Returns the exchange and the time the two phases took (building the exchange excluded).
async fn one_request(
    chain: &Chain,
    metrics: &portcullis::observe::metrics::RouteMetrics,
    label: &str,
) -> (Box<Exchange>, Duration) {
    let exchange = exchange();
    let response = response();
    let started = Instant::now();
    let (mut exchange, verdict, chain_state) = chain.on_request(exchange, metrics).await;
    assert!(
        matches!(verdict, RequestVerdict::Forward),
        "{label}: the request should go through, got {verdict:?}"
    );
    exchange.response = Some(response);
    let (exchange, result) = chain
        .on_response(exchange, chain.len(), chain_state, metrics)
        .await;
    let elapsed = started.elapsed();
    if let Err(failure) = result {
        panic!("{label}: on-response failed: {}", failure.error);
    }
    (exchange, elapsed)
}

/// A runtime with the disk cache in `cache`, or none.
fn runtime(args: &Args, cache: Option<&Path>) -> Runtime {
    Runtime::new(&RuntimeOptions {
        cache_dir: cache.map(Path::to_path_buf),
        no_cache: cache.is_none(),
        instance_slots: args.plugin_instances,
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
