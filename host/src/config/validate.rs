//! The meaning checks of a deserialized manifest, orchestrated: each section is checked by its
//! own file, in manifest order, every error collected; what spans sections is checked here
//! (that there is a listener, which upstream each route names, and that no two routes match
//! the same requests).

use super::base::Base;
use super::diagnostic::{Diagnostic, Source};
use super::raw::RawManifest;
use super::route::{RawRoute, Route};
use super::spanned::Named;
use super::upstream::Upstream;
use super::{
    Manifest, PluginCatalog, PluginSpec, admin, limits, listener, observe, plugin, plugin_runtime,
    route, state, suggest, upstream,
};
use crate::router::Router;

/// Checks everything; `None` if a section was too broken to model (its error is in `errors`).
pub(super) fn manifest(
    raw: RawManifest,
    source: Source,
    base: Base<'_>,
    catalog: &dyn PluginCatalog,
    errors: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    if raw.declared_listeners == 0 {
        errors.push(Diagnostic {
            message: "the manifest has no listener".into(),
            span: None,
            help: Some(
                "add a section `[listeners.public]` with `address = \"0.0.0.0:8080\"`".into(),
            ),
        });
    }
    let listeners = raw
        .listeners
        .into_iter()
        .filter_map(|l| listener::listener(l, base, errors))
        .collect();
    let upstreams: Vec<_> = raw
        .upstreams
        .into_iter()
        .map(|u| upstream::upstream(u, base, errors))
        .collect();
    let plugin_runtime = raw
        .plugin_runtime
        .map(|table| plugin_runtime::config(table, errors))
        .unwrap_or_default();
    let breaker = plugin_runtime.breaker.as_ref();
    let global_plugins: Vec<_> = raw
        .plugins
        .into_iter()
        .filter_map(|p| plugin::spec(p, base, catalog, breaker, errors))
        .collect();
    unique_rollout_names(&global_plugins, "`[[plugins]]`", errors);
    let mut routes = Vec::new();
    let mut complete = true;
    for (section, entries) in raw.routes {
        let plugins: Vec<_> = entries
            .into_iter()
            .filter_map(|p| plugin::spec(p, base, catalog, breaker, errors))
            .collect();
        unique_rollout_names(&plugins, &format!("route `{}`", section.name), errors);
        let upstream = named_upstream(&section, &upstreams, &raw.declared_upstreams, errors);
        match route::route(section, upstream, plugins, errors) {
            Some(route) => routes.push(route),
            None => complete = false,
        }
    }
    conflicts(&routes, errors);
    let state = raw
        .state
        .map(|(span, state)| state::config(span, state, base, errors))
        .unwrap_or_default();
    let admin = raw
        .admin
        .and_then(|(span, admin)| admin::admin(span, admin, errors));
    let access_log = raw
        .access_log
        .map(|(_, table)| observe::access_log(table, base, errors))
        .unwrap_or_default();
    let tracing = raw
        .tracing
        .map(|(_, table)| observe::tracing(table, errors))
        .unwrap_or_default();
    let limits = raw
        .limits
        .map(|(_, table)| limits::connection_limits(table, errors))
        .unwrap_or_default();
    complete.then_some(Manifest {
        source,
        listeners,
        upstreams,
        global_plugins,
        routes,
        state,
        plugin_runtime,
        admin,
        access_log,
        tracing,
        limits,
    })
}

/// The upstream a route names, by index; reports a name that no upstream section declares.
fn named_upstream<'u>(
    section: &Named<RawRoute>,
    upstreams: &'u [Upstream],
    declared: &[String],
    errors: &mut Vec<Diagnostic>,
) -> Option<(usize, &'u Upstream)> {
    let wanted = section.value.upstream.get_ref();
    let found = upstreams
        .iter()
        .enumerate()
        .find(|(_, u)| u.name == *wanted);
    if found.is_none() && !declared.contains(wanted) {
        // Every declared name, broken sections' too: they exist, and have their own errors.
        let names: Vec<&str> = declared.iter().map(String::as_str).collect();
        errors.push(Diagnostic::new(
            section.value.upstream.span(),
            format!(
                "route `{}` uses upstream `{wanted}`, which is not defined",
                section.name
            ),
            suggest::help(wanted, "defined upstreams", &names),
        ));
    }
    found
}

fn conflicts(routes: &[Route], errors: &mut Vec<Diagnostic>) {
    let matchers = routes
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.matcher.clone()))
        .collect();
    for conflict in Router::new(matchers).err().unwrap_or_default() {
        let (Some(first), Some(second)) = (routes.get(conflict.first), routes.get(conflict.second))
        else {
            continue;
        };
        errors.push(Diagnostic::new(
            second.span.clone(),
            format!(
                "route `{}` matches exactly the same requests as route `{}`",
                second.id, first.id
            ),
            "make one of them more specific (`host`, `path`, `methods` or `headers`) or remove one",
        ));
    }
}

/// An entry with a canary or a shadow is named in the admin API's URLs (`/plugins/<route>/<name>`)
/// and its state is kept by that name: no other entry of its route may share it.
fn unique_rollout_names(plugins: &[PluginSpec], what: &str, errors: &mut Vec<Diagnostic>) {
    for (i, spec) in plugins.iter().enumerate() {
        let rolled = spec.rollout.canary.is_some() || spec.rollout.shadow.is_some();
        if rolled
            && plugins[..i]
                .iter()
                .chain(&plugins[i + 1..])
                .any(|p| p.name == spec.name)
        {
            errors.push(Diagnostic::new(
                spec.span.clone(),
                format!(
                    "two plugins of {what} are named `{}`, and this one has a canary or a shadow",
                    spec.name
                ),
                "give it a name of its own with `name = \"...\"`: the admin API finds its roll-out by name",
            ));
        }
    }
}
