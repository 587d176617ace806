//! Finds the route of a request: pure matching of host, path, method and headers, with the
//! candidates indexed by host and pre-sorted most specific first when the router is built, so a
//! lookup is a hash probe or two and a short scan, and allocates only the captured parameters.
//!
//! Precedence: exact host, then wildcard hosts (longest suffix first), then routes without a
//! host; within those, exact path, then templates (more literal segments first, literals
//! before parameters position by position), then prefixes (longest first); then routes with a
//! method list before any-method routes; then more header conditions first; then manifest
//! order. Paths are matched as given, and parameters are returned raw (percent-encoded); the
//! proxy normalises a path first (`path`), so that each path has one spelling.

pub mod path;
mod pattern;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

pub use pattern::{HostPattern, PathPattern, PatternError, Template};

/// What a route matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatcher {
    /// The `Host` (or `:authority`) it accepts; `None` accepts any.
    pub host: Option<HostPattern>,
    /// The paths it accepts.
    pub path: PathPattern,
    /// The methods it accepts; empty accepts any.
    pub methods: Vec<Method>,
    /// Headers the request must carry; all must match.
    pub headers: Vec<(HeaderName, HeaderValueMatch)>,
}

/// A header condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderValueMatch {
    /// One of the header's values equals this, byte for byte.
    Exact(HeaderValue),
    /// The header is present, whatever its value.
    Present,
}

/// Two routes that would match exactly the same requests with the same precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    /// The id of the route that comes first in the input.
    pub first: usize,
    /// The id of the route that comes later, the one to report.
    pub second: usize,
}

/// The route a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'r> {
    /// The id the route was given in [`Router::new`].
    pub route: usize,
    /// The path template's parameters.
    pub params: Params,
    /// The matcher that matched.
    pub matcher: &'r RouteMatcher,
}

/// Path parameters by name, in template order; values are raw (still percent-encoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(Arc<str>, String)>);

impl Params {
    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `(name, value)` pairs in template order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    /// How many parameters were captured.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none was captured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs, owned.
    pub fn into_owned_pairs(self) -> Vec<(Arc<str>, String)> {
        self.0
    }
}

/// Routes indexed for lookup. Immutable once built.
#[derive(Debug, Default)]
pub struct Router {
    matchers: Vec<(usize, RouteMatcher)>,
    exact_hosts: HashMap<Box<str>, Bucket>,
    wildcard_hosts: HashMap<Box<str>, Bucket>,
    any_host: Bucket,
}

/// The routes of one host pattern; entries are positions in `Router::matchers`.
#[derive(Debug, Default)]
struct Bucket {
    exact_paths: HashMap<Box<str>, Vec<usize>>,
    others: Vec<usize>,
}

impl Router {
    /// Indexes `routes`, given as `(id, matcher)`; ids are what [`Match::route`] returns.
    /// Fails with every pair of routes that would shadow each other.
    pub fn new(routes: Vec<(usize, RouteMatcher)>) -> Result<Self, Vec<Conflict>> {
        let conflicts = conflicts(&routes);
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        let mut order: Vec<usize> = (0..routes.len()).collect();
        order.sort_by(|&a, &b| precedence(&routes[a].1, &routes[b].1).then(a.cmp(&b)));
        let mut router = Self::default();
        for position in order {
            let matcher = &routes[position].1;
            let bucket = match &matcher.host {
                None => &mut router.any_host,
                Some(HostPattern::Exact(name)) => {
                    router.exact_hosts.entry(name.as_str().into()).or_default()
                }
                Some(HostPattern::Wildcard(suffix)) => router
                    .wildcard_hosts
                    .entry(suffix.as_str().into())
                    .or_default(),
            };
            match &matcher.path {
                PathPattern::Exact(path) => {
                    bucket
                        .exact_paths
                        .entry(path.as_str().into())
                        .or_default()
                        .push(position);
                }
                _ => bucket.others.push(position),
            }
        }
        router.matchers = routes;
        Ok(router)
    }

    /// The most specific route for a request. `host` may carry a port, which is ignored;
    /// `path` is the raw path without query.
    pub fn find(
        &self,
        host: Option<&str>,
        path: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Match<'_>> {
        let mut buffer = [0u8; pattern::MAX_HOST_LEN];
        let host = host.and_then(|h| lowercase_host(h, &mut buffer));
        if let Some(host) = host {
            let exact = self.exact_hosts.get(host);
            if let Some(found) = exact.and_then(|b| self.find_in(b, path, method, headers)) {
                return Some(found);
            }
            if !self.wildcard_hosts.is_empty() {
                // Leftmost dot first: the longest suffix is the most specific wildcard.
                for (at, _) in host.match_indices('.').filter(|(at, _)| *at > 0) {
                    let bucket = self.wildcard_hosts.get(&host[at..]);
                    if let Some(found) = bucket.and_then(|b| self.find_in(b, path, method, headers))
                    {
                        return Some(found);
                    }
                }
            }
        }
        self.find_in(&self.any_host, path, method, headers)
    }

    /// How many routes the router holds.
    pub fn len(&self) -> usize {
        self.matchers.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.matchers.is_empty()
    }

    fn find_in(
        &self,
        bucket: &Bucket,
        path: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Match<'_>> {
        let exact = bucket
            .exact_paths
            .get(path)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let accepts = |position: &&usize| {
            let matcher = &self.matchers[**position].1;
            accepts_method(matcher, method) && accepts_headers(matcher, headers)
        };
        if let Some(&position) = exact.iter().find(accepts) {
            let (route, matcher) = &self.matchers[position];
            return Some(Match {
                route: *route,
                params: Params::default(),
                matcher,
            });
        }
        let position = *bucket
            .others
            .iter()
            .filter(|p| self.matchers[**p].1.path.matches(path))
            .find(accepts)?;
        let (route, matcher) = &self.matchers[position];
        let params = Params(matcher.path.captures(path));
        Some(Match {
            route: *route,
            params,
            matcher,
        })
    }
}

fn accepts_method(matcher: &RouteMatcher, method: &Method) -> bool {
    matcher.methods.is_empty() || matcher.methods.contains(method)
}

fn accepts_headers(matcher: &RouteMatcher, headers: &HeaderMap) -> bool {
    matcher.headers.iter().all(|(name, want)| match want {
        HeaderValueMatch::Present => headers.contains_key(name),
        HeaderValueMatch::Exact(value) => headers.get_all(name).iter().any(|v| v == value),
    })
}

/// Strips the port and a trailing dot and lowercases into `buffer`; `None` if it cannot match.
fn lowercase_host<'b>(host: &str, buffer: &'b mut [u8; pattern::MAX_HOST_LEN]) -> Option<&'b str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
    let out = buffer.get_mut(..name.len())?;
    for (o, b) in out.iter_mut().zip(name) {
        *o = b.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

/// Within one host pattern: path specificity, then method lists first, then more headers.
fn precedence(a: &RouteMatcher, b: &RouteMatcher) -> Ordering {
    a.path
        .specificity(&b.path)
        .then(a.methods.is_empty().cmp(&b.methods.is_empty()))
        .then(b.headers.len().cmp(&a.headers.len()))
}

/// Every pair that matches the same requests with the same precedence.
/// Routes that can conflict share one: the host and the path's equivalence key.
type GroupKey<'a> = (Option<&'a HostPattern>, (u8, String));

fn conflicts(routes: &[(usize, RouteMatcher)]) -> Vec<Conflict> {
    // Only routes with the same host and equivalent paths can conflict: compare within those
    // groups, so that thousands of routes are checked in linear time, not quadratic.
    let mut groups: HashMap<GroupKey<'_>, Vec<&(usize, RouteMatcher)>> = HashMap::new();
    let mut found = Vec::new();
    for route in routes {
        let (second, b) = route;
        let group = groups
            .entry((b.host.as_ref(), b.path.equivalence_key()))
            .or_default();
        if let Some((first, _)) = group.iter().find(|(_, a)| same_requests(a, b)) {
            found.push(Conflict {
                first: *first,
                second: *second,
            });
        }
        group.push(route);
    }
    found
}

fn same_requests(a: &RouteMatcher, b: &RouteMatcher) -> bool {
    let methods_overlap = (a.methods.is_empty() && b.methods.is_empty())
        || a.methods.iter().any(|m| b.methods.contains(m));
    a.host == b.host
        && a.path.equivalent(&b.path)
        && methods_overlap
        && a.headers.len() == b.headers.len()
        && a.headers.iter().all(|h| b.headers.contains(h))
}

#[cfg(test)]
mod tests;
