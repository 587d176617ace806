//! `response-transformer`: edit the response before the client sees it: headers (remove,
//! rename, set, add) and JSON body members by JSON pointer (remove, rename, replace, add). The
//! body is buffered only when body edits are configured; then the upstream is asked for an
//! uncompressed body (`Accept-Encoding` is removed from the request), since a compressed one
//! cannot be edited.

use portcullis_sdk::{Error, Needs, Plugin, Request, Response, export_plugin};
use portcullis_transform::body::{BodyConfig, BodyRules, Outcome};
use portcullis_transform::headers::{HeaderConfig, HeaderRules};
use serde::Deserialize;

/// `response-transformer`'s config (see docs/plugins/response-transformer.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Header edits.
    #[serde(default)]
    pub headers: HeaderConfig,
    /// JSON body edits.
    #[serde(default)]
    pub body: BodyConfig,
}

/// The plugin.
#[derive(Debug)]
pub struct ResponseTransformer {
    headers: HeaderRules,
    body: BodyRules,
}

impl Plugin for ResponseTransformer {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let plugin = Self {
            headers: HeaderRules::new("headers", &config.headers)?,
            body: BodyRules::new("body", &config.body)?,
        };
        if plugin.headers.is_empty() && plugin.body.is_empty() {
            return Err("nothing to do: give `headers` or `body` edits, e.g. \
                 body = { remove = [\"/internal\"] }"
                .into());
        }
        Ok(plugin)
    }

    fn needs(&self) -> Needs {
        if self.body.is_empty() {
            Needs::ON_RESPONSE
        } else {
            Needs::ON_REQUEST | Needs::ON_RESPONSE | Needs::RESPONSE_BODY
        }
    }

    fn on_request(&self, req: &Request) -> Result<portcullis_sdk::Action, Error> {
        // Called only with body edits: an uncompressed answer is one the plugin can edit.
        req.remove_header("accept-encoding")?;
        Ok(portcullis_sdk::Action::Continue)
    }

    fn on_response(&self, _req: &Request, resp: &Response) -> Result<(), Error> {
        if !self.body.is_empty() {
            let body = resp.body().unwrap_or_default();
            let content_type = resp.header("content-type");
            let encoding = resp.header("content-encoding");
            match self
                .body
                .edit(content_type.as_deref(), encoding.as_deref(), &body)
            {
                Outcome::Unchanged => {}
                Outcome::Edited(edited) => resp.set_body(&edited)?,
                Outcome::Invalid(why) => {
                    // The upstream said JSON and sent something else: its answer cannot be
                    // edited as configured, so it does not reach the client as if it had been.
                    portcullis_sdk::warn!("the upstream's body is declared JSON but is not: {why}");
                    let status = resp.status();
                    resp.set_status(502)?;
                    resp.set_header("content-type", "application/json")?;
                    resp.remove_header("content-encoding")?;
                    resp.set_body(
                        serde_json::json!({
                            "error": "bad_upstream_response",
                            "message": format!(
                                "the upstream answered {status} with a body declared JSON that is not JSON: {why}"
                            ),
                        })
                        .to_string()
                        .as_bytes(),
                    )?;
                }
            }
        }
        self.headers.apply(resp)
    }
}

export_plugin!(ResponseTransformer);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
