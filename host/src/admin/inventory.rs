//! The admin API's inventory of what is in service: `GET /routes` (match rules, upstream,
//! chain), `GET /upstreams` (targets with active and passive health, in-flight requests, the
//! breaker), `GET /manifest` (the manifest text the snapshot was built from) and `GET /stats`
//! (each route's request counts by status class and latency buckets since the start, from the
//! counters the data plane keeps).

use serde_json::{Value, json};

use crate::observe::metrics::route_stats::latency_bounds;
use crate::reload::Reloader;
use crate::router::{HeaderValueMatch, PathPattern, RouteMatcher};

/// `GET /routes`: every route in manifest order, with its match rules, upstream and chain.
pub(super) fn routes(reloader: &Reloader) -> Value {
    let snapshot = reloader.current().load();
    let routes: Vec<_> = snapshot
        .routes
        .iter()
        .zip(&snapshot.manifest.routes)
        .map(|(route, spec)| {
            let chain: Vec<_> = route
                .chain
                .steps()
                .iter()
                .map(|step| {
                    let plugin = step.plugin();
                    json!({
                        "name": plugin.name(),
                        "global": plugin.route() == "*",
                        "hash": plugin.content_hash(),
                        "version": &**plugin.version(),
                        "source": plugin.origin().map(|o| &*o.reference),
                        "digest": plugin.origin().map(|o| &*o.digest),
                        "canary": step.canary().map(|c| json!({
                            "version": &**c.version.plugin.version(),
                            "hash": c.version.plugin.content_hash(),
                            "source": c.version.plugin.origin().map(|o| &*o.reference),
                            "digest": c.version.plugin.origin().map(|o| &*o.digest),
                            "weight": c.weight,
                            "state": c.state.phase().as_str(),
                        })),
                        "shadow": step.shadow().map(|s| json!({
                            "version": &**s.plugin().version(),
                            "hash": s.plugin().content_hash(),
                            "sample": s.sample(),
                        })),
                        "breaker": step.stable().breaker.is_some(),
                    })
                })
                .collect();
            json!({
                "id": &*route.id,
                "match": matcher(&spec.matcher),
                "upstream": route.upstream.name(),
                "timeout_ms": route.timeout.as_millis() as u64,
                "try_timeout_ms": route.try_timeout.as_millis() as u64,
                "retries": route.retry.as_ref().map_or(0, |r| r.attempts),
                "chain": chain,
            })
        })
        .collect();
    json!({ "version": snapshot.version, "routes": routes })
}

/// A route's match rules as the manifest gives them.
fn matcher(matcher: &RouteMatcher) -> Value {
    let (kind, path) = match &matcher.path {
        PathPattern::Exact(path) => ("exact", path.as_str()),
        PathPattern::Prefix(path) => ("prefix", path.as_str()),
        PathPattern::Template(_) => ("template", matcher.path.as_str()),
    };
    let headers: Vec<_> = matcher
        .headers
        .iter()
        .map(|(name, value)| {
            let value = match value {
                HeaderValueMatch::Exact(v) => Value::from(String::from_utf8_lossy(v.as_bytes())),
                HeaderValueMatch::Present => Value::Null,
            };
            json!({ "name": name.as_str(), "value": value })
        })
        .collect();
    json!({
        "host": matcher.host.as_ref().map(ToString::to_string),
        "path": path,
        "path_kind": kind,
        "methods": matcher.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "headers": headers,
    })
}

/// `GET /upstreams`: every upstream with its targets and their health now.
pub(super) fn upstreams(reloader: &Reloader) -> Value {
    let snapshot = reloader.current().load();
    let upstreams: Vec<_> = snapshot
        .upstreams
        .iter()
        .map(|upstream| {
            let targets: Vec<_> = upstream
                .target_views()
                .map(|t| {
                    json!({
                        "address": t.address,
                        "healthy": t.usable,
                        "active": t.checks_pass,
                        "ejected": t.ejected,
                        "ejections": t.ejections,
                        "in_flight": t.in_flight,
                    })
                })
                .collect();
            let active = upstream.active();
            let max = upstream.max_requests();
            json!({
                "name": upstream.name(),
                "scheme": upstream.scheme().as_str(),
                "active_requests": active,
                "max_requests": max,
                "breaker": if max.is_some_and(|max| active >= max) { "open" } else { "closed" },
                "targets": targets,
            })
        })
        .collect();
    json!({ "version": snapshot.version, "upstreams": upstreams })
}

/// `GET /manifest`: the text of the manifest in service, and where it was read from.
pub(super) fn manifest(reloader: &Reloader) -> Value {
    let snapshot = reloader.current().load();
    let source = &snapshot.manifest.source;
    json!({
        "version": snapshot.version,
        "path": source.path.display().to_string(),
        "text": &*source.text,
    })
}

/// `GET /stats`: each route's requests by status class and its latency histogram, cumulative
/// since the start; a client takes differences between two reads for rates and recent
/// percentiles.
pub(super) fn stats(reloader: &Reloader) -> Value {
    let current = reloader.current();
    let totals = current.metrics().route_totals();
    let routes: Vec<_> = totals
        .iter()
        .map(|t| {
            json!({
                "route": t.route,
                "status_classes": {
                    "1xx": t.status_classes[0], "2xx": t.status_classes[1],
                    "3xx": t.status_classes[2], "4xx": t.status_classes[3],
                    "5xx": t.status_classes[4],
                },
                "latency": {
                    "count": t.latency_count,
                    "sum_s": t.latency_sum_s,
                    "buckets": t.latency_buckets,
                },
            })
        })
        .collect();
    json!({
        "version": current.load().version,
        "at_ms": super::unix_millis(std::time::SystemTime::now()),
        "latency_bounds_s": latency_bounds(),
        "routes": routes,
    })
}
