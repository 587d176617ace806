//! `cors`: Cross-Origin Resource Sharing by the Fetch standard. The plugin answers preflights
//! itself (204 with the `Access-Control-Allow-*` headers, or 403 for an origin, method or header
//! that is not allowed) and adds `Access-Control-Allow-Origin` to the responses of actual
//! requests from allowed origins. It owns the CORS headers: those an upstream sets are replaced,
//! or removed for an origin that is not allowed.

mod config;
mod origin;

use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, Response, export_plugin};

pub use config::Config;
use config::{List, Policy};

const ALLOW_ORIGIN: &str = "access-control-allow-origin";
const ALLOW_CREDENTIALS: &str = "access-control-allow-credentials";
const ALLOW_METHODS: &str = "access-control-allow-methods";
const ALLOW_HEADERS: &str = "access-control-allow-headers";
const EXPOSE_HEADERS: &str = "access-control-expose-headers";
const MAX_AGE: &str = "access-control-max-age";
const REQUEST_METHOD: &str = "access-control-request-method";
const REQUEST_HEADERS: &str = "access-control-request-headers";

/// The plugin, built from a checked config.
pub struct Cors(Policy);

impl Plugin for Cors {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self(Policy::new(&config)?))
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST | Needs::ON_RESPONSE
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        match preflight_of(req) {
            Some((origin, method)) => Ok(Action::Respond(self.preflight(
                &origin,
                &method,
                req.header(REQUEST_HEADERS).as_deref(),
            ))),
            None => Ok(Action::Continue),
        }
    }

    fn on_response(&self, req: &Request, resp: &Response) -> Result<(), Error> {
        // The plugin's own preflight answer comes back here too: it is complete already.
        if preflight_of(req).is_some() {
            return Ok(());
        }
        let origin = req.header("origin");
        let edits = self.actual(origin.as_deref());
        if edits.vary && !vary_lists_origin(&resp.header_values("vary")) {
            resp.append_header("vary", "Origin")?;
        }
        for name in [ALLOW_ORIGIN, ALLOW_CREDENTIALS, EXPOSE_HEADERS] {
            resp.remove_header(name)?;
        }
        for (name, value) in &edits.set {
            resp.set_header(name, value)?;
        }
        Ok(())
    }
}

/// `(origin, requested method)` when `req` is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`. Any other `OPTIONS` goes to the upstream.
fn preflight_of(req: &Request) -> Option<(String, String)> {
    if req.method() != "OPTIONS" {
        return None;
    }
    Some((req.header("origin")?, req.header(REQUEST_METHOD)?))
}

/// What to do to the response of an actual (not preflight) request.
#[derive(Debug, Default, PartialEq, Eq)]
struct ActualEdits {
    /// Append `Vary: Origin`.
    vary: bool,
    /// Headers to set (after the CORS headers from upstream are removed).
    set: Vec<(&'static str, String)>,
}

impl Cors {
    /// The answer to a preflight.
    fn preflight(&self, origin: &str, method: &str, request_headers: Option<&str>) -> Reply {
        let policy = &self.0;
        let vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
        let forbidden = |message: String| {
            Reply::json(
                403,
                &serde_json::json!({ "error": "cors_forbidden", "message": message }),
            )
            .header("vary", vary)
        };
        if !policy.allows_origin(origin) {
            return forbidden(format!("origin `{origin}` is not allowed"));
        }
        if !policy.methods.allows(method) {
            return forbidden(format!(
                "method `{method}` is not allowed from origin `{origin}`"
            ));
        }
        let requested: Vec<String> = request_headers
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(refused) = requested.iter().find(|h| !policy.allowed_headers.allows(h)) {
            return forbidden(format!(
                "header `{refused}` is not allowed from origin `{origin}`"
            ));
        }
        let mut reply = Reply::new(204).header(ALLOW_ORIGIN, policy.allow_origin_value(origin));
        if policy.credentials {
            reply = reply.header(ALLOW_CREDENTIALS, "true");
        }
        // `*` would do for methods without credentials; naming the method works in every case.
        let methods = match &policy.methods {
            List::Any => Some(method.to_owned()),
            list => list.joined(),
        };
        if let Some(methods) = methods {
            reply = reply.header(ALLOW_METHODS, methods);
        }
        // `*` never covers `authorization`, and means nothing with credentials: for "any",
        // reflect what was asked.
        let headers = match &policy.allowed_headers {
            List::Any if requested.is_empty() => None,
            List::Any => Some(requested.join(", ")),
            list => list.joined(),
        };
        if let Some(headers) = headers {
            reply = reply.header(ALLOW_HEADERS, headers);
        }
        if let Some(max_age) = policy.max_age {
            reply = reply.header(MAX_AGE, max_age.to_string());
        }
        reply.header("vary", vary)
    }

    /// The CORS headers of an actual request's response.
    fn actual(&self, origin: Option<&str>) -> ActualEdits {
        let policy = &self.0;
        let mut edits = ActualEdits {
            vary: policy.varies_by_origin(),
            set: Vec::new(),
        };
        let Some(origin) = origin.filter(|o| policy.allows_origin(o)) else {
            return edits;
        };
        edits
            .set
            .push((ALLOW_ORIGIN, policy.allow_origin_value(origin).to_owned()));
        if policy.credentials {
            edits.set.push((ALLOW_CREDENTIALS, "true".to_owned()));
        }
        if let Some(exposed) = policy.exposed_headers.joined() {
            edits.set.push((EXPOSE_HEADERS, exposed));
        }
        edits
    }
}

/// Whether a response's `Vary` values already name `Origin` (or `*`).
fn vary_lists_origin(values: &[String]) -> bool {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|v| v == "*" || v.eq_ignore_ascii_case("origin"))
}

export_plugin!(Cors);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
