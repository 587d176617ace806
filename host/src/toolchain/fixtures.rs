//! `portcullis plugin test`: runs a plugin component against request fixtures, with no gateway,
//! no listener and no upstream, through the same runtime, limits and chain as in production. A
//! plugin author in any language writes a TOML file of cases (a request in, the expected action
//! out) and gets a pass or a failure per case, in the terms of the HTTP exchange.
//!
//! ```toml
//! wasm = "deny_list.wasm"                 # or `plugin = "key-auth"` for a prebuilt one
//! config = { deny = ["mallory"] }
//!
//! [[cases]]
//! name = "a denied user is refused"
//! request = { method = "GET", path = "/orders", headers = { x-user = "mallory" } }
//! expect = { respond = 403 }
//!
//! [[cases]]
//! name = "an allowed user is tagged"
//! request = { headers = { x-user = "alice" } }
//! response = { status = 200, headers = { content-type = "text/plain" }, body = "hi" }
//! expect = { forward = true, context = { policy = "allowed" }, response-headers = { x-policy = "allowed" } }
//! ```

mod case;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use self::case::run_case;
use crate::config::{FailurePolicy, Isolation, Limits, PluginSource, PluginSpec};
use crate::plugin::{Chain, ConfiguredPlugin, Runtime, catalog};
use crate::state::StateStore;

/// A fixture file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Fixtures {
    /// A component file, relative to the fixture file.
    wasm: Option<PathBuf>,
    /// Or a prebuilt plugin's name.
    plugin: Option<String>,
    #[serde(default = "empty_config")]
    config: serde_json::Value,
    #[serde(default)]
    cases: Vec<Case>,
}

fn empty_config() -> serde_json::Value {
    serde_json::json!({})
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Case {
    name: String,
    #[serde(default)]
    request: FixtureRequest,
    /// The upstream's answer, when the plugin lets the request through.
    response: Option<FixtureResponse>,
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FixtureRequest {
    method: Option<String>,
    path: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    client_ip: Option<std::net::IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FixtureResponse {
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

fn ok() -> u16 {
    200
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Expect {
    /// The plugin answers with this status.
    respond: Option<u16>,
    /// The plugin lets the request through.
    forward: Option<bool>,
    /// The plugin's call fails (an error, a trap, a limit).
    fail: Option<bool>,
    /// Headers of the request as it would go upstream (`""` for absent).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// The path as it would go upstream.
    path: Option<String>,
    /// Context entries the plugin wrote.
    #[serde(default)]
    context: BTreeMap<String, String>,
    /// The status the client would get.
    status: Option<u16>,
    /// Headers of the response the client would get (`""` for absent).
    #[serde(default)]
    response_headers: BTreeMap<String, String>,
    /// A text the client's response body contains.
    body_contains: Option<String>,
}

/// How the cases went.
#[derive(Debug, Default)]
pub struct Report {
    /// Each case: its name, and why it failed (`None` when it passed).
    pub cases: Vec<(String, Option<String>)>,
}

impl Report {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|(_, failure)| failure.is_none())
    }
}

/// Why a fixture file could not be run (a failing case is not an error: it is in the
/// [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The fixture file cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Unreadable {
        /// The fixture file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The fixture file is not valid TOML or has keys it should not.
    #[error("`{}` is not a valid fixture file: {source}", path.display())]
    Invalid {
        /// The fixture file.
        path: PathBuf,
        /// Where and what (line, column, caret).
        source: toml::de::Error,
    },
    /// The component file cannot be read.
    #[error("cannot read the component `{}`: {source}", path.display())]
    Component {
        /// The component file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file names a prebuilt plugin this gateway does not embed.
    #[error(
        "there is no prebuilt plugin `{name}`; prebuilt plugins are: {}",
        catalog::names().collect::<Vec<_>>().join(", ")
    )]
    UnknownPrebuilt {
        /// The name the file gives.
        name: String,
    },
    /// The file names neither a component nor a prebuilt plugin, or both.
    #[error("a fixture file names either `wasm = \"...\"` or `plugin = \"...\"`")]
    NoPlugin,
    /// The component does not compile.
    #[error("plugin `{name}`: {source}")]
    Compile {
        /// The plugin's name.
        name: String,
        /// Why.
        source: crate::plugin::EngineError,
    },
    /// The component does not link, or its `init` refused the config or failed.
    #[error("plugin `{name}` {source}")]
    Configure {
        /// The plugin's name.
        name: String,
        /// Why.
        source: crate::plugin::ConfigureError,
    },
}

/// Loads the fixture file at `path`, configures its plugin and runs every case. `component`,
/// when given, is tested instead of the file's `wasm` or `plugin`: one fixture file then serves
/// the same policy written in several languages.
pub async fn run(
    runtime: &Runtime,
    path: &Path,
    component: Option<&Path>,
) -> Result<Report, FixtureError> {
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    run_text(runtime, path, &text, component).await
}

/// Like [`run`], with the fixture file's `text` already read from `path` (shown in messages;
/// `wasm` is relative to its directory). The fuzz targets (`fuzz/`) call this directly.
pub async fn run_text(
    runtime: &Runtime,
    path: &Path,
    text: &str,
    component: Option<&Path>,
) -> Result<Report, FixtureError> {
    let fixtures: Fixtures = toml::from_str(text).map_err(|source| FixtureError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let read = |file: PathBuf| match std::fs::read(&file) {
        Ok(bytes) => {
            let name = file
                .file_stem()
                .map_or("plugin".into(), |s| s.to_string_lossy().into_owned());
            Ok((name, PluginSource::File(file), bytes))
        }
        Err(source) => Err(FixtureError::Component { path: file, source }),
    };
    let (name, source, bytes) = match (component, &fixtures.wasm, &fixtures.plugin) {
        (Some(file), _, _) => read(file.to_path_buf())?,
        (None, Some(wasm), None) => read(base.join(wasm))?,
        (None, None, Some(prebuilt)) => {
            let bytes = catalog::get(prebuilt).ok_or_else(|| FixtureError::UnknownPrebuilt {
                name: prebuilt.clone(),
            })?;
            (
                prebuilt.clone(),
                PluginSource::Prebuilt(prebuilt.clone()),
                bytes.to_vec(),
            )
        }
        _ => return Err(FixtureError::NoPlugin),
    };
    let compiled = match runtime.compile_off_thread(bytes).await {
        Ok(compiled) => compiled,
        Err(source) => return Err(FixtureError::Compile { name, source }),
    };
    let spec = PluginSpec {
        name: name.clone(),
        source,
        config: fixtures.config,
        isolation: Isolation::Request,
        failure: FailurePolicy::FailClosed,
        limits: Limits::default(),
        files: Vec::new(),
        span: 0..0,
        rollout: Default::default(),
    };
    let state = StateStore::in_process();
    let budget = Arc::new(crate::plugin::MemoryBudget::new(&Default::default()));
    let plugin =
        ConfiguredPlugin::configure(runtime, &compiled, &spec, "fixtures", &state, &budget)
            .await
            .map_err(|source| FixtureError::Configure {
                name: name.clone(),
                source,
            })?;
    let chain = Chain::new(vec![Arc::new(plugin)]);
    let metrics = crate::observe::metrics::Metrics::new()
        .route("fixtures", chain.steps().iter().map(|s| s.plugin().name()));
    let mut report = Report::default();
    for case in fixtures.cases {
        let failure = run_case(&chain, &metrics, &case).await.err();
        report.cases.push((case.name, failure));
    }
    Ok(report)
}
