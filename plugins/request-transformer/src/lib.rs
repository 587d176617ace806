//! `request-transformer`: edit the request before the upstream sees it: headers (remove,
//! rename, set, add), query parameters (remove, rename, add) and JSON body members by JSON
//! pointer (remove, rename, replace, add). The body is buffered only when body edits are
//! configured. Paths are `path-rewrite`'s job: chain the two.

mod query;

use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, export_plugin};
use portcullis_transform::body::{BodyConfig, BodyRules, Outcome};
use portcullis_transform::headers::{HeaderConfig, HeaderRules};
use portcullis_transform::size::Size;
use portcullis_transform::{DEFAULT_MAX_BODY, body_too_large, too_large_reply};
use serde::Deserialize;

pub use query::QueryConfig;
use query::QueryRules;

/// `request-transformer`'s config (see docs/plugins/request-transformer.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Header edits.
    #[serde(default)]
    pub headers: HeaderConfig,
    /// Query parameter edits.
    #[serde(default)]
    pub query: QueryConfig,
    /// JSON body edits.
    #[serde(default)]
    pub body: BodyConfig,
    /// The largest body edited; a larger one gets 413 (default 64 KiB).
    pub max_body: Option<Size>,
}

/// The plugin.
#[derive(Debug)]
pub struct RequestTransformer {
    headers: HeaderRules,
    query: QueryRules,
    body: BodyRules,
    max_body: u64,
}

impl Plugin for RequestTransformer {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let plugin = Self {
            headers: HeaderRules::new("headers", &config.headers)?,
            query: QueryRules::new(&config.query)?,
            body: BodyRules::new("body", &config.body)?,
            max_body: match &config.max_body {
                Some(size) => size.bytes("max-body")?,
                None => DEFAULT_MAX_BODY,
            },
        };
        if plugin.headers.is_empty() && plugin.query.is_empty() && plugin.body.is_empty() {
            return Err(
                "nothing to do: give `headers`, `query` or `body` edits, e.g. \
                 headers = { set = { x-env = \"prod\" } }"
                    .into(),
            );
        }
        Ok(plugin)
    }

    fn needs(&self) -> Needs {
        if self.body.is_empty() {
            Needs::ON_REQUEST
        } else {
            Needs::ON_REQUEST | Needs::REQUEST_BODY
        }
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        if !self.body.is_empty() {
            // Checked before the body is copied in and parsed: a parsed document takes several
            // times the text's size, and a client must get 413, not exhaust the plugin's memory.
            let content_length = req.header("content-length");
            if body_too_large(content_length.as_deref(), None, self.max_body) {
                return Ok(Action::Respond(too_large_reply(self.max_body)));
            }
            let body = req.body().unwrap_or_default();
            if body_too_large(None, Some(body.len()), self.max_body) {
                return Ok(Action::Respond(too_large_reply(self.max_body)));
            }
            let content_type = req.header("content-type");
            let encoding = req.header("content-encoding");
            match self
                .body
                .edit(content_type.as_deref(), encoding.as_deref(), &body)
            {
                Outcome::Unchanged => {}
                Outcome::Edited(edited) => req.set_body(&edited)?,
                Outcome::Invalid(why) => {
                    return Ok(Action::Respond(Reply::json(
                        400,
                        &serde_json::json!({
                            "error": "bad_request",
                            "message": format!("the request body is declared JSON but is not: {why}"),
                        }),
                    )));
                }
            }
        }
        if !self.query.is_empty() {
            let query = req.query();
            let edited = self.query.apply(query.as_deref());
            if edited != query {
                req.set_query(edited.as_deref())?;
            }
        }
        self.headers.apply(req)?;
        Ok(Action::Continue)
    }
}

export_plugin!(RequestTransformer);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
