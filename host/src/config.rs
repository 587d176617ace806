//! The manifest: what an operator writes (TOML, see `docs/manifest.md`) turned into a validated,
//! immutable model. Two stages: `raw` walks the document and deserializes each section with
//! positions kept, then `validate` checks meaning. Each section has its own file, which holds
//! its raw struct, its model type and its check (`listener`, `path`, `upstream` with `balance`,
//! `health` and `connection`, `route`, `plugin` with `plugin_config` and `rollout`, `state`,
//! `plugin_runtime`, `admin`, `observe`, `limits`); `validate` walks them and checks what spans
//! sections; `units` holds what they share (durations, sizes, ranges, names). Every error is
//! collected, sorted and rendered against the text by `diagnostic`. Pure: no I/O but reading
//! the file and checking that plugin files (and `config-files`) exist.
//!
//! # The manifest reference (`docs/manifest.md`)
//!
#![doc = include_str!("../../docs/manifest.md")]

mod admin;
mod balance;
mod base;
mod connection;
mod diagnostic;
mod health;
mod limits;
mod listener;
mod observe;
mod oci;
mod path;
mod plugin;
mod plugin_config;
mod plugin_runtime;
mod raw;
mod rollout;
mod route;
mod source;
mod spanned;
mod state;
mod suggest;
mod units;
mod upstream;
mod validate;

use std::path::Path;

use base::Base;

pub use admin::Admin;
pub use balance::{Balance, HashOn};
pub use connection::{UpstreamProtocol, UpstreamTls};
pub use diagnostic::{Diagnostic, Diagnostics, Source};
pub use health::{ActiveHealth, PassiveHealth};
pub use limits::ConnectionLimits;
pub use listener::{
    CertificateSpec, ClientAuth, ClientAuthMode, HttpsRedirect, Listener, ListenerTls,
};
pub use observe::{
    AccessLogConfig, AccessLogDestination, AccessLogFormat, OtlpConfig, TracingConfig,
};
pub use oci::{OciReference, OciReferenceError, is_digest};
pub use plugin::{
    CanarySpec, FailurePolicy, Isolation, Limits, PluginSource, PluginSpec, Rollout, ShadowSpec,
};
pub use plugin_runtime::PluginRuntimeConfig;
pub use rollout::{BreakerSpec, GuardSpec, Sticky};
pub use route::{RetryPolicy, Route};
pub use source::{ConfigSource, EtcdSource, EtcdTls, MANIFEST_KEY, SourceError};
pub use state::{
    RedisAuth, RedisConfig, RedisTls, RedisTopology, StateBackend, StateConfig, TlsSpans,
};
pub use upstream::{RetryBudget, Upstream, UpstreamLimits};

/// A validated manifest. Indices (`Route::upstream`) are always in range.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The text it was read from, to render later errors (a plugin rejecting its config).
    pub source: Source,
    /// Where to accept connections; at least one.
    pub listeners: Vec<Listener>,
    /// Backends, in manifest order.
    pub upstreams: Vec<Upstream>,
    /// `[[plugins]]`: run before every route's own plugins, in order.
    pub global_plugins: Vec<PluginSpec>,
    /// Routes, in manifest order; their matchers never conflict.
    pub routes: Vec<Route>,
    /// `[state]`: where plugins' shared state lives (in process unless configured).
    pub state: StateConfig,
    /// `[plugin-runtime]`: bounds on the plugin instances of the whole gateway.
    pub plugin_runtime: PluginRuntimeConfig,
    /// `[admin]`: the admin API, off unless the table is given.
    pub admin: Option<Admin>,
    /// `[access-log]`: where access lines go (the command line's flags, when given, win).
    pub access_log: AccessLogConfig,
    /// `[tracing]`: span export, off unless `otlp` is given.
    pub tracing: TracingConfig,
    /// `[limits]`: timeouts and the cap of client connections (see `docs/connections.md`).
    pub limits: ConnectionLimits,
}

/// The prebuilt plugins a manifest may name with `plugin = "..."`.
pub trait PluginCatalog {
    /// Whether `name` is a prebuilt plugin.
    fn contains(&self, name: &str) -> bool;
    /// All names, for "did you mean" help; empty if unknown.
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<F: Fn(&str) -> bool> PluginCatalog for F {
    fn contains(&self, name: &str) -> bool {
        self(name)
    }
}

impl PluginCatalog for [&str] {
    fn contains(&self, name: &str) -> bool {
        <[&str]>::contains(self, &name)
    }
    fn names(&self) -> Vec<String> {
        self.iter().map(|n| (*n).to_owned()).collect()
    }
}

impl PluginCatalog for Vec<&str> {
    fn contains(&self, name: &str) -> bool {
        PluginCatalog::contains(self.as_slice(), name)
    }
    fn names(&self) -> Vec<String> {
        self.as_slice().names()
    }
}

impl<const N: usize> PluginCatalog for [&str; N] {
    fn contains(&self, name: &str) -> bool {
        PluginCatalog::contains(&self[..], name)
    }
    fn names(&self) -> Vec<String> {
        self[..].names()
    }
}

/// The largest manifest read: 4 MiB, a hundred times a manifest of a thousand routes. A file
/// beyond it is a mistake (a log or a binary named by accident), and parsing and checking one
/// would hold the reload for as long as it takes.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

impl Manifest {
    /// Reads and validates the manifest at `path`; `wasm` paths are relative to its directory.
    pub fn load(path: &Path, plugins: &dyn PluginCatalog) -> Result<Self, Diagnostics> {
        let cannot_read = |error: Diagnostic| Diagnostics::new(Source::new(path, ""), vec![error]);
        let mut bytes = Vec::new();
        let read = std::fs::File::open(path).and_then(|file| {
            use std::io::Read;
            file.take(MAX_MANIFEST_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        });
        if let Err(e) = read {
            return Err(cannot_read(whole_file(
                format!("cannot read the manifest: {e}"),
                "check the path given to portcullis",
            )));
        }
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(cannot_read(too_large(
                "check that the path names the manifest; ",
            )));
        }
        match String::from_utf8(bytes) {
            Ok(text) => Self::parse(path, &text, plugins),
            Err(e) => Err(cannot_read(whole_file(
                format!(
                    "the manifest is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
                "save the file as UTF-8",
            ))),
        }
    }

    /// Validates `text`, read from `name` (a key in etcd, shown in messages as the file would
    /// be), which has no directory: every path in it must be absolute (see `base`).
    pub fn parse_detached(
        name: &str,
        text: &str,
        plugins: &dyn PluginCatalog,
    ) -> Result<Self, Diagnostics> {
        Self::parse_with(Source::new(name, text), Base::Detached, plugins)
    }

    /// Validates `text`, read from `path` (shown in messages; `wasm` paths are relative to its
    /// directory). Reports every error found, sorted by position.
    pub fn parse(
        path: &Path,
        text: &str,
        plugins: &dyn PluginCatalog,
    ) -> Result<Self, Diagnostics> {
        let base = path.parent().unwrap_or(Path::new(""));
        Self::parse_with(Source::new(path, text), Base::Dir(base), plugins)
    }

    fn parse_with(
        source: Source,
        base: Base<'_>,
        plugins: &dyn PluginCatalog,
    ) -> Result<Self, Diagnostics> {
        let text = source.text.clone();
        let text = &*text;
        let mut errors = Vec::new();
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(Diagnostics::new(source, vec![too_large("")]));
        }
        let (doc, syntax) = toml::de::DeTable::parse_recoverable(text);
        for error in syntax {
            errors.push(Diagnostic {
                message: format!("invalid TOML: {}", error.message().trim()),
                span: error.span(),
                help: Some(syntax_help(error.message())),
            });
        }
        if !errors.is_empty() {
            // What was recovered is incomplete; checking it would report errors that are not there.
            return Err(Diagnostics::new(source, errors));
        }
        let raw = raw::split(doc.into_inner(), &mut errors);
        let manifest = validate::manifest(raw, source.clone(), base, plugins, &mut errors);
        match manifest {
            Some(manifest) if errors.is_empty() => Ok(manifest),
            _ => Err(Diagnostics::new(source, errors)),
        }
    }

    /// The route with id `id`.
    pub fn route(&self, id: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.id == id)
    }
}

/// An error about the manifest as a whole, without a position.
fn whole_file(message: String, help: &str) -> Diagnostic {
    Diagnostic {
        message,
        span: None,
        help: Some(help.into()),
    }
}

/// The error of a manifest over [`MAX_MANIFEST_BYTES`], its help line led by `first`: what
/// else to check, if anything.
fn too_large(first: &str) -> Diagnostic {
    whole_file(
        format!(
            "the manifest is larger than {} MiB",
            MAX_MANIFEST_BYTES >> 20
        ),
        &format!("{first}keep large data (consumers, keys, schemas) in `config-files`"),
    )
}

fn syntax_help(message: &str) -> String {
    if message.contains("unclosed") {
        "close it where it should end".into()
    } else if message.contains("invalid") || message.contains("unquoted") {
        "put text values in double quotes, e.g. `address = \"127.0.0.1:8080\"`".into()
    } else if message.contains("duplicate key") {
        "each key may appear once per table; remove or rename one of them".into()
    } else {
        "fix the TOML syntax here (see https://toml.io)".into()
    }
}

#[cfg(test)]
mod tests;
