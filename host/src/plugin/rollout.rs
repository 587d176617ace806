//! Safe roll-outs of plugins: what one entry of a chain runs. An entry is its stable version,
//! and optionally a canary (a candidate taking a share of requests, rolled back by its guard),
//! a breaker per version (stop calling a version that keeps failing) and a shadow (a candidate
//! run on copies, compared, never applied). An entry with none of them is just its plugin, and
//! costs nothing more.
//!
//! - `canary`: which version serves a request, the guard and its rollback;
//! - `breaker`: the circuit breaker;
//! - `shadow`: copies, the runner thread, and the comparison;
//! - `window`: the sliding window the guard and the breaker count in.

use std::sync::Arc;

use super::exchange::Exchange;
use super::instance::ConfiguredPlugin;
use crate::config::Sticky;

pub mod breaker;
pub mod canary;
pub mod shadow;
pub mod window;

pub use breaker::{Admission, Breaker};
pub use canary::{CanaryState, Role};
pub use shadow::{Shadow, ShadowState};

/// One version of an entry: its plugin and its breaker.
#[derive(Clone)]
pub struct Version {
    /// The configured plugin.
    pub plugin: Arc<ConfiguredPlugin>,
    /// Its breaker, when the entry (or the manifest) sets one.
    pub breaker: Option<Arc<Breaker>>,
}

/// An entry's canary.
#[derive(Clone)]
pub struct Canary {
    /// The candidate.
    pub version: Version,
    /// Percentage of requests it takes while active.
    pub weight: f64,
    /// What keeps a caller on one version.
    pub sticky: Option<Sticky>,
    /// Its guard's state, kept across reloads.
    pub state: Arc<CanaryState>,
}

/// One entry of a chain.
#[derive(Clone)]
pub struct Step {
    stable: Version,
    canary: Option<Canary>,
    shadow: Option<Arc<Shadow>>,
}

impl Step {
    /// An entry that is only its plugin.
    pub fn plain(plugin: Arc<ConfiguredPlugin>) -> Self {
        Self {
            stable: Version {
                plugin,
                breaker: None,
            },
            canary: None,
            shadow: None,
        }
    }

    /// An entry with its roll-out parts.
    pub fn new(stable: Version, canary: Option<Canary>, shadow: Option<Arc<Shadow>>) -> Self {
        Self {
            stable,
            canary,
            shadow,
        }
    }

    /// The stable version's plugin.
    pub fn plugin(&self) -> &Arc<ConfiguredPlugin> {
        &self.stable.plugin
    }

    /// The stable version.
    pub fn stable(&self) -> &Version {
        &self.stable
    }

    /// The canary, if any.
    pub fn canary(&self) -> Option<&Canary> {
        self.canary.as_ref()
    }

    /// The shadow, if any.
    pub fn shadow(&self) -> Option<&Arc<Shadow>> {
        self.shadow.as_ref()
    }

    /// Every plugin the entry may call: stable, candidate, shadow.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<ConfiguredPlugin>> {
        std::iter::once(&self.stable.plugin)
            .chain(self.canary.as_ref().map(|c| &c.version.plugin))
            .chain(self.shadow.as_ref().map(|s| s.plugin()))
    }

    /// The version that serves `exchange`.
    pub fn choose(&self, exchange: &Exchange) -> Role {
        let Some(canary) = &self.canary else {
            return Role::Stable;
        };
        let point = canary.sticky.as_ref().map(|sticky| {
            let mut ip = String::new();
            // A request without the sticky value takes the stable version: a caller that has
            // the value stays on its version, one that lacks it is never split at random.
            canary::sticky_value(sticky, exchange, &mut ip).map(canary::sticky_point)
        });
        match point {
            // Weight 0: the stable version, unless the candidate was promoted.
            Some(None) => canary.state.choose(0.0, Some(0)),
            Some(Some(point)) => canary.state.choose(canary.weight, Some(point)),
            None => canary.state.choose(canary.weight, None),
        }
    }

    /// The version of `role`.
    pub fn version(&self, role: Role) -> &Version {
        match (role, &self.canary) {
            (Role::Candidate, Some(canary)) => &canary.version,
            _ => &self.stable,
        }
    }
}
