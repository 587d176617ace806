//! Building a snapshot from a validated manifest: compile and configure every plugin, build the
//! upstreams (carrying unchanged ones over) and the router, collecting every failure.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::{LoadError, RouteRuntime, Snapshot};
use crate::config::{Diagnostic, Manifest, PluginSource, PluginSpec};
use crate::plugin::rollout::{Breaker, Canary, CanaryState, Shadow, ShadowState, Version};
use crate::plugin::{
    Chain, ConfigureError, ConfiguredPlugin, EngineError, MemoryBudget, Origin, Runtime, Step,
    catalog,
};
use crate::router::Router;
use crate::state::StateStore;
use crate::upstream::Upstream;

impl Snapshot {
    /// Builds a snapshot: compiles every component (reusing compilations of unchanged bytes),
    /// configures every plugin with its config, and builds the router and upstream clients.
    /// Every failure is collected; none is fatal to the others.
    /// An upstream whose configuration (and TLS files) did not change since `previous` is
    /// carried over as it is: its connection pool, health and breaker counts survive a reload.
    pub async fn build(
        runtime: &Runtime,
        manifest: Manifest,
        version: u64,
        previous: Option<&Snapshot>,
    ) -> Result<Self, LoadError> {
        let mut errors = Vec::new();
        let mut upstreams = Vec::with_capacity(manifest.upstreams.len());
        for spec in &manifest.upstreams {
            let previous =
                previous.and_then(|p| p.upstreams.iter().find(|u| u.name() == spec.name));
            match Upstream::reuse_or_new(spec, previous) {
                Ok(upstream) => upstreams.push(upstream),
                Err(diagnostics) => errors.extend(
                    diagnostics
                        .iter()
                        .map(|diagnostic| manifest.source.render(diagnostic)),
                ),
            }
        }

        let mut diagnose =
            |span: &std::ops::Range<usize>, message: String, help: Option<String>| {
                errors.push(manifest.source.render(&Diagnostic {
                    message,
                    span: Some(span.clone()),
                    help,
                }));
            };

        // Unchanged `[state]`: the store carries over, so local counters survive a reload.
        let unchanged_state = previous
            .filter(|p| {
                let (mut before, mut now) = (p.manifest.state.clone(), manifest.state.clone());
                (before.span, now.span) = (0..0, 0..0);
                before == now
            })
            .map(|p| p.state.clone());
        let state = match unchanged_state.map_or_else(|| StateStore::new(&manifest.state), Ok) {
            Ok(state) => state,
            Err(error) => {
                diagnose(
                    &error.span().unwrap_or_else(|| manifest.state.span.clone()),
                    error.to_string(),
                    Some(error.help().into()),
                );
                // Plugins are still configured (and their errors reported) on a local store.
                StateStore::in_process()
            }
        };

        let plugin_memory = match previous {
            Some(previous) => previous.plugin_memory.clone(),
            None => Arc::new(MemoryBudget::new(&manifest.plugin_runtime)),
        };
        let mut global = Vec::new();
        for spec in &manifest.global_plugins {
            match step(runtime, spec, "*", &state, &plugin_memory).await {
                Ok(step) => global.push(step),
                Err(failed) => {
                    for (span, error) in failed {
                        diagnose(&span, error.to_string(), error.help());
                    }
                }
            }
        }

        let mut routes = Vec::with_capacity(manifest.routes.len());
        for route in &manifest.routes {
            let mut chain = global.clone();
            for spec in &route.plugins {
                match step(runtime, spec, &route.id, &state, &plugin_memory).await {
                    Ok(step) => chain.push(step),
                    Err(failed) => {
                        for (span, error) in failed {
                            diagnose(&span, error.to_string(), error.help());
                        }
                    }
                }
            }
            if let Some(upstream) = upstreams.get(route.upstream) {
                routes.push(RouteRuntime {
                    id: route.id.as_str().into(),
                    chain: Chain::of_steps(chain),
                    upstream: upstream.clone(),
                    timeout: route.timeout,
                    try_timeout: route.try_timeout.unwrap_or(route.timeout),
                    retry: route.retry.clone(),
                    idle_timeout: route.idle_timeout,
                    metrics: OnceLock::new(),
                });
            }
        }

        // The manifest already rejected conflicting routes, so this cannot fail; if it ever
        // does, refuse the snapshot rather than serve an ambiguous router.
        let matchers = manifest
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.matcher.clone()))
            .collect();
        let router = Router::new(matchers).ok();
        if router.is_none() {
            errors.push(format!(
                "{}: routes conflict (internal check)",
                manifest.source.path.display()
            ));
        }
        let tracer = match previous.filter(|p| p.manifest.tracing == manifest.tracing) {
            Some(previous) => previous.tracer.clone(),
            None if errors.is_empty() => crate::observe::otlp::Tracer::start(&manifest.tracing),
            None => None,
        };
        match router {
            Some(router) if errors.is_empty() => {
                // Only a snapshot that will serve changes the bounds.
                plugin_memory.configure(&manifest.plugin_runtime);
                Ok(Self {
                    version,
                    loaded_at: SystemTime::now(),
                    manifest,
                    router,
                    routes,
                    state,
                    plugin_memory,
                    upstreams,
                    acceptors: Vec::new(),
                    tracer,
                })
            }
            _ => Err(LoadError { errors }),
        }
    }
}

/// Why one plugin entry could not be configured. Its text names the plugin and where it
/// sits (`on route `orders``, or `(global)`), then the step that failed.
#[derive(Debug, thiserror::Error)]
enum PluginError {
    /// The entry names a prebuilt plugin that this gateway does not embed.
    #[error(
        "plugin `{name}` {}: there is no prebuilt plugin `{prebuilt}`",
        on(route)
    )]
    UnknownPrebuilt {
        name: String,
        route: String,
        prebuilt: String,
    },
    /// The entry's `wasm` file cannot be read.
    #[error("plugin `{name}` {}: cannot read `{}`: {source}", on(route), path.display())]
    Unreadable {
        name: String,
        route: String,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The entry's `oci://` component cannot be pulled.
    #[error("plugin `{name}` {}: {source}", on(route))]
    Registry {
        name: String,
        route: String,
        source: crate::oci::OciError,
    },
    /// The component does not compile.
    #[error("plugin `{name}` {}: {source}", on(route))]
    Compile {
        name: String,
        route: String,
        source: EngineError,
    },
    /// The component does not link, or its `init` refused the config or failed.
    #[error("plugin `{name}` {} {source}", on(route))]
    Configure {
        name: String,
        route: String,
        source: ConfigureError,
    },
}

impl PluginError {
    /// What to do about it, when there is something to say.
    fn help(&self) -> Option<String> {
        match self {
            Self::UnknownPrebuilt { .. } => {
                let known: Vec<_> = catalog::names().collect();
                Some(format!("prebuilt plugins are: {}", known.join(", ")))
            }
            Self::Unreadable { .. } => {
                Some("check the `wasm` path; it is relative to the manifest's directory".into())
            }
            Self::Configure {
                source: ConfigureError::Rejected(_),
                ..
            } => Some("fix the plugin's `config` table; its docs page lists every key".into()),
            Self::Registry { .. } => Some(
                "a reload that needs a component the plugin store does not hold needs the registry; \
                 the running configuration keeps serving (docs/fleet.md)"
                    .into(),
            ),
            Self::Compile { .. } | Self::Configure { .. } => None,
        }
    }
}

/// Where a plugin sits, as its errors say it: `route` is `*` for a global plugin.
fn on(route: &str) -> String {
    if route == "*" {
        "(global)".to_owned()
    } else {
        format!("on route `{route}`")
    }
}

/// One entry of `route` ready to run: its stable version, and its canary, breakers and shadow
/// with their state found again when a snapshot in service holds it. Every version that fails
/// is reported, with the span of its table.
async fn step(
    runtime: &Runtime,
    spec: &PluginSpec,
    route: &str,
    state: &Arc<StateStore>,
    budget: &Arc<MemoryBudget>,
) -> Result<Step, Vec<(std::ops::Range<usize>, PluginError)>> {
    let kept = runtime.kept();
    let mut failed = Vec::new();
    let breaker = |plugin: &ConfiguredPlugin| {
        spec.rollout.breaker.map(|breaker| {
            let who = format!("plugin `{}` {}", spec.name, on(route));
            kept.breakers.get_or_insert_with(
                format!("{route}\0{}\0{}\0{breaker:?}", spec.name, plugin.version()),
                || Breaker::new(breaker, who),
            )
        })
    };
    let stable = configure(runtime, spec, route, state, budget)
        .await
        .map(Arc::new)
        .map_err(|e| failed.push((spec.span.clone(), e)))
        .ok();
    let mut candidate = None;
    if let Some(canary) = &spec.rollout.canary {
        match configure(runtime, &canary.plugin, route, state, budget).await {
            Ok(plugin) => candidate = Some((Arc::new(plugin), canary)),
            Err(error) => failed.push((canary.plugin.span.clone(), error)),
        }
    }
    let mut shadow = None;
    if let Some(spec) = &spec.rollout.shadow {
        match configure(runtime, &spec.plugin, route, state, &kept.shadow_budget).await {
            Ok(plugin) => shadow = Some((Arc::new(plugin), spec.sample)),
            Err(error) => failed.push((spec.plugin.span.clone(), error)),
        }
    }
    let Some(stable) = stable.filter(|_| failed.is_empty()) else {
        return Err(failed);
    };
    let canary = candidate.map(|(plugin, canary)| {
        let who = format!("plugin `{}` {}", spec.name, on(route));
        let key = format!(
            "{route}\0{}\0{}\0{}\0{:?}",
            spec.name,
            stable.version(),
            plugin.version(),
            canary.guard
        );
        Canary {
            version: Version {
                breaker: breaker(&plugin),
                plugin,
            },
            weight: canary.weight,
            sticky: canary.sticky.clone(),
            state: kept
                .canaries
                .get_or_insert_with(key, || CanaryState::new(canary.guard, who)),
        }
    });
    let shadow = shadow.map(|(plugin, sample)| {
        let key = format!(
            "{route}\0{}\0{}\0{}",
            spec.name,
            stable.version(),
            plugin.version()
        );
        let state = kept.shadows.get_or_insert_with(key, ShadowState::default);
        Arc::new(Shadow::new(plugin, sample, state))
    });
    let stable = Version {
        breaker: breaker(&stable),
        plugin: stable,
    };
    Ok(Step::new(stable, canary, shadow))
}

/// Compiles and configures one plugin entry of `route` (`*` for a global one).
async fn configure(
    runtime: &Runtime,
    spec: &PluginSpec,
    route: &str,
    state: &Arc<StateStore>,
    budget: &Arc<MemoryBudget>,
) -> Result<ConfiguredPlugin, PluginError> {
    let (name, route_name) = (spec.name.clone(), route.to_owned());
    let mut origin = None;
    let bytes = match &spec.source {
        PluginSource::Prebuilt(prebuilt) => match catalog::get(prebuilt) {
            Some(bytes) => std::borrow::Cow::Borrowed(bytes),
            None => {
                return Err(PluginError::UnknownPrebuilt {
                    name,
                    route: route_name,
                    prebuilt: prebuilt.clone(),
                });
            }
        },
        PluginSource::File(path) => match std::fs::read(path) {
            Ok(bytes) => std::borrow::Cow::Owned(bytes),
            Err(source) => {
                return Err(PluginError::Unreadable {
                    name,
                    route: route_name,
                    path: path.clone(),
                    source,
                });
            }
        },
        PluginSource::Oci(reference) => match runtime.registries().pull(reference).await {
            Ok(pulled) => {
                if let Some(stale) = &pulled.stale {
                    tracing::warn!(plugin = %name, route = %route_name, "{stale}");
                }
                origin = Some(Origin {
                    reference: reference.to_string().into(),
                    digest: pulled.digest.into(),
                });
                std::borrow::Cow::Owned(pulled.bytes)
            }
            Err(source) => {
                return Err(PluginError::Registry {
                    name,
                    route: route_name,
                    source,
                });
            }
        },
    };
    let compiled = match runtime.compile_off_thread(bytes.into_owned()).await {
        Ok(compiled) => compiled,
        Err(source) => {
            return Err(PluginError::Compile {
                name,
                route: route_name,
                source,
            });
        }
    };
    let mut plugin = ConfiguredPlugin::configure(runtime, &compiled, spec, route, state, budget)
        .await
        .map_err(|source| PluginError::Configure {
            name,
            route: route_name,
            source,
        })?;
    if let Some(origin) = origin {
        plugin.set_origin(origin);
    }
    Ok(plugin)
}
