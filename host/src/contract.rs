//! The contract between the host and every plugin: the WIT package in `wit/` (its text, world
//! and version), the one `bindgen!` of the host, the host types behind the WIT resources, and
//! the plugin phases.
//!
//! Everything that speaks the contract (the plugin runtime, the conformance check, the author
//! toolchain) reads it from here, so there is one source. Exports are async so that a long
//! plugin call yields to tokio at every epoch tick instead of holding a worker thread (see
//! `plugin::instance`). Imports are plain functions, quick and in memory, except `state`'s:
//! those may wait on Redis, so they are async and the call yields while it waits.

/// The WIT package, as the host and the SDK are generated from it.
pub const WIT: &str = include_str!("../../wit/plugin.wit");

/// The world every plugin implements.
pub const WORLD: &str = "plugin";

/// The contract's version, `0.1.2`: the part of the WIT package line after `@`.
pub fn version() -> String {
    WIT.lines()
        .find_map(|line| line.strip_prefix("package portcullis:plugin@"))
        .map(|rest| rest.trim_end_matches(';').trim().to_string())
        .unwrap_or_default()
}

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
    imports: { "portcullis:plugin/state": async },
    with: {
        "portcullis:plugin/http.request": RequestHandle,
        "portcullis:plugin/http.response": ResponseHandle,
    },
});

pub(crate) use self::exports::portcullis::plugin::handler::RequestAction;
pub(crate) use self::portcullis::plugin::types::{Header, Needs, Reply};

/// The host-side type behind the WIT `request` resource. Only one request is lent to a store at a
/// time, so the handle carries no data: it always means "the exchange in this store".
pub struct RequestHandle;

/// The host-side type behind the WIT `response` resource (see [`RequestHandle`]).
pub struct ResponseHandle;

/// What a component was promised about its instances, by the contract version it was built
/// against (the version of its `handler` export): the promise changed in 0.1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceLending {
    /// 0.1.0 and 0.1.1: a request's `on-response` runs on the instance that ran its
    /// `on-request`, so the instance is held across the upstream call.
    PerRequest,
    /// 0.1.2 and later: an instance is lent for one call; what a plugin keeps between its two
    /// calls goes into `scratch`.
    PerCall,
}

impl InstanceLending {
    /// The promise made to `component`. A component without a recognisable handler export does
    /// not link anyway; it gets the older, safer promise.
    pub fn of(engine: &wasmtime::Engine, component: &wasmtime::component::Component) -> Self {
        let prefix = "portcullis:plugin/handler@";
        let version = component
            .component_type()
            .exports(engine)
            .find_map(|(name, _)| name.strip_prefix(prefix).map(str::to_owned));
        match version.as_deref().map(|v| {
            let mut parts = v.split(['.', '-', '+']).map(|n| n.parse::<u64>().ok());
            (
                parts.next().flatten(),
                parts.next().flatten(),
                parts.next().flatten(),
            )
        }) {
            Some((Some(0), Some(1), Some(patch))) if patch < 2 => Self::PerRequest,
            Some((Some(_), Some(_), Some(_))) => Self::PerCall,
            _ => Self::PerRequest,
        }
    }
}

/// The two calls a plugin may export: the request may be edited in `on-request`; in
/// `on-response` the response may be edited and the request, already sent, only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `on-request`.
    Request,
    /// `on-response`.
    Response,
}

impl Phase {
    /// The WIT name of the call, also the `phase` label of metrics and spans.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Request => "on-request",
            Phase::Response => "on-response",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_read_from_the_package_line() {
        let version = super::version();
        assert!(
            version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u32>().is_ok()),
            "{version}"
        );
    }
}
