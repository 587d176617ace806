//! Routing: a router built from fuzzed rules, matched against fuzzed requests. Whatever the rules,
//! building never panics, a found route really accepts the request, and a request that some
//! route accepts is never left unrouted (checked against a plain reference matcher below).
//!
//! Path normalisation (issue 13, item 10) is a separate pure step before the router; its target
//! goes in `fuzz_targets/path_normalise.rs` (see `README.md`), and its output should then feed
//! `Router::find` here.
#![no_main]

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use portcullis::router::{HeaderValueMatch, HostPattern, PathPattern, RouteMatcher, Router};

#[derive(Debug, Arbitrary)]
struct Input {
    rules: Vec<Rule>,
    requests: Vec<Request>,
}

#[derive(Debug, Arbitrary)]
struct Rule {
    host: Option<String>,
    path: String,
    prefix: bool,
    methods: Vec<u8>,
    headers: Vec<(u8, Option<String>)>,
}

#[derive(Debug, Arbitrary)]
struct Request {
    host: Option<String>,
    path: String,
    method: u8,
    headers: Vec<(u8, String)>,
}

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];
const HEADERS: [&str; 3] = ["x-version", "x-tenant", "accept"];

fn method(n: u8) -> Method {
    METHODS[usize::from(n) % METHODS.len()].clone()
}

fn header(n: u8) -> HeaderName {
    HeaderName::from_static(HEADERS[usize::from(n) % HEADERS.len()])
}

/// The rule as the manifest would give it, or `None` where validation would refuse it.
fn matcher(rule: &Rule) -> Option<RouteMatcher> {
    let host = match &rule.host {
        Some(h) => Some(HostPattern::parse(h).ok()?),
        None => None,
    };
    let path = if rule.prefix {
        PathPattern::prefix(&rule.path).ok()?
    } else {
        PathPattern::parse(&rule.path).ok()?
    };
    let mut methods: Vec<Method> = rule.methods.iter().take(3).map(|m| method(*m)).collect();
    methods.dedup();
    let mut headers = Vec::new();
    for (name, value) in rule.headers.iter().take(2) {
        let want = match value {
            Some(v) => HeaderValueMatch::Exact(HeaderValue::from_str(v).ok()?),
            None => HeaderValueMatch::Present,
        };
        headers.push((header(*name), want));
    }
    Some(RouteMatcher {
        host,
        path,
        methods,
        headers,
    })
}

fuzz_target!(|input: Input| {
    let matchers: Vec<(usize, RouteMatcher)> = input
        .rules
        .iter()
        .take(16)
        .filter_map(matcher)
        .enumerate()
        .collect();
    let Ok(router) = Router::new(matchers.clone()) else {
        // Conflicting rules are refused, as `check` does; nothing to match.
        return;
    };
    for request in input.requests.iter().take(16) {
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(header(*name), value);
            }
        }
        let method = method(request.method);
        let host = request.host.as_deref();
        let found = router.find(host, &request.path, &method, &headers);
        let accepting: Vec<usize> = matchers
            .iter()
            .filter(|(_, m)| reference::accepts(m, host, &request.path, &method, &headers))
            .map(|(id, _)| *id)
            .collect();
        match found {
            Some(found) => assert!(
                accepting.contains(&found.route),
                "route {} was chosen for {request:?} but does not accept it (accepting: {accepting:?})",
                found.route
            ),
            None => assert!(
                accepting.is_empty(),
                "routes {accepting:?} accept {request:?} but none was found"
            ),
        }
    }
});

/// What a route accepts, written plainly from `docs/manifest.md`, independent of the router's
/// indexes and precedence.
mod reference {
    use super::*;

    pub(super) fn accepts(
        m: &RouteMatcher,
        host: Option<&str>,
        path: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> bool {
        host_ok(m.host.as_ref(), host)
            && path_ok(&m.path, path)
            && (m.methods.is_empty() || m.methods.contains(method))
            && m.headers.iter().all(|(name, want)| match want {
                HeaderValueMatch::Present => headers.contains_key(name),
                HeaderValueMatch::Exact(v) => headers.get_all(name).iter().any(|h| h == v),
            })
    }

    fn host_ok(pattern: Option<&HostPattern>, host: Option<&str>) -> bool {
        let Some(pattern) = pattern else { return true };
        let Some(host) = host else { return false };
        // The port is ignored (`host:digits`, not an IPv6 literal), then one trailing dot.
        let name = match host.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => host,
        };
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        if name.len() > 253 {
            return false;
        }
        match pattern {
            HostPattern::Exact(exact) => name == *exact,
            HostPattern::Wildcard(suffix) => {
                name.len() > suffix.len() && name.ends_with(suffix.as_str())
            }
        }
    }

    fn path_ok(pattern: &PathPattern, path: &str) -> bool {
        match pattern {
            PathPattern::Exact(exact) => path == exact,
            PathPattern::Prefix(prefix) if prefix == "/" => path.starts_with('/'),
            PathPattern::Prefix(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            PathPattern::Template(_) => template_ok(pattern.as_str(), path),
        }
    }

    /// `/a/{x}/b/{rest..}`: literals equal, a parameter is one non-empty segment, a catch-all
    /// takes whatever is left (possibly nothing).
    fn template_ok(template: &str, path: &str) -> bool {
        let Some(path) = path.strip_prefix('/') else {
            return false;
        };
        let mut segments = path.split('/');
        for part in template[1..].split('/') {
            if part.starts_with('{') && part.ends_with("..}") {
                return true;
            }
            let Some(segment) = segments.next() else {
                return false;
            };
            if part.starts_with('{') {
                if segment.is_empty() {
                    return false;
                }
            } else if segment != part {
                return false;
            }
        }
        segments.next().is_none()
    }
}
