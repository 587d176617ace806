//! `request-validator`: check JSON request bodies against a JSON Schema (drafts 4 to 2020-12,
//! with `boon`). The schema is compiled once, at load time, so a broken schema fails
//! `portcullis check`; a body that does not match gets 400 naming the first violations, each
//! with its instance path (a JSON pointer) and message.

use boon::{Compiler, SchemaIndex, Schemas, ValidationError};
use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, export_plugin};
use portcullis_transform::body::is_json;
use portcullis_transform::size::Size;
use portcullis_transform::{DEFAULT_MAX_BODY, body_too_large, too_large_reply};
use serde::Deserialize;
use serde_json::Value;

/// `request-validator`'s config (see docs/plugins/request-validator.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The JSON Schema: a table, or the schema as JSON text.
    pub schema: Value,
    /// The methods whose bodies are checked; other requests pass.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// How many violations the 400 names at most.
    #[serde(default = "default_max_violations")]
    pub max_violations: usize,
    /// The largest body checked; a larger one gets 413 (default 64 KiB).
    pub max_body: Option<Size>,
}

fn default_methods() -> Vec<String> {
    ["POST", "PUT", "PATCH"].map(str::to_owned).to_vec()
}

fn default_max_violations() -> usize {
    10
}

/// The location the schema is compiled under: only a name, nothing is loaded from it.
const SCHEMA_URL: &str = "urn:portcullis:request-validator:schema";

/// The plugin, with its schema compiled.
pub struct RequestValidator {
    schemas: Schemas,
    index: SchemaIndex,
    methods: Vec<String>,
    max_violations: usize,
    max_body: u64,
}

/// One way a body fails the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    /// A JSON pointer into the body (`""` is the whole body).
    path: String,
    message: String,
}

/// Loads nothing: a schema is self-contained (`$defs`), so compiling it never touches files or
/// the network, natively (tests) as in the sandbox.
struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("`{url}` is outside the schema: put shared definitions in `$defs`").into())
    }
}

/// What a request gets.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Valid,
    /// 415: the body is not declared JSON.
    NotJson(Option<String>),
    /// 400: the body does not parse.
    Unparsable(String),
    /// 400: the body does not match.
    Invalid(Vec<Violation>),
}

impl Plugin for RequestValidator {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let schema = match config.schema {
            Value::String(text) => serde_json::from_str(&text)
                .map_err(|e| Error::new(format!("`schema` is a string but not JSON text: {e}")))?,
            schema => schema,
        };
        let mut compiler = Compiler::new();
        compiler.use_loader(Box::new(NoLoader));
        compiler
            .add_resource(SCHEMA_URL, schema)
            .map_err(|e| Error::new(format!("`schema` is not a valid JSON Schema: {e}")))?;
        let mut schemas = Schemas::new();
        let index = compiler
            .compile(SCHEMA_URL, &mut schemas)
            .map_err(|e| Error::new(format!("`schema` is not a valid JSON Schema: {e:#}")))?;
        if config.methods.is_empty() {
            return Err(
                "`methods` is empty: list the methods whose bodies are checked, \
                 e.g. [\"POST\", \"PUT\", \"PATCH\"]"
                    .into(),
            );
        }
        if config.max_violations == 0 {
            return Err("`max-violations` is 0: the answer must name at least one".into());
        }
        Ok(Self {
            schemas,
            index,
            methods: config.methods,
            max_violations: config.max_violations,
            max_body: match &config.max_body {
                Some(size) => size.bytes("max-body")?,
                None => DEFAULT_MAX_BODY,
            },
        })
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST | Needs::REQUEST_BODY
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let method = req.method();
        if !self.methods.iter().any(|m| m.eq_ignore_ascii_case(&method)) {
            return Ok(Action::Continue);
        }
        // Checked before the body is copied in and parsed: a parsed document takes several times
        // the text's size, and a client must get 413, not exhaust the plugin's memory.
        let content_length = req.header("content-length");
        if body_too_large(content_length.as_deref(), None, self.max_body) {
            return Ok(Action::Respond(too_large_reply(self.max_body)));
        }
        let body = req.body().unwrap_or_default();
        if body_too_large(None, Some(body.len()), self.max_body) {
            return Ok(Action::Respond(too_large_reply(self.max_body)));
        }
        let reply = match self.check(req.header("content-type").as_deref(), &body) {
            Verdict::Valid => return Ok(Action::Continue),
            Verdict::NotJson(content_type) => Reply::json(
                415,
                &serde_json::json!({
                    "error": "unsupported_media_type",
                    "message": match content_type {
                        Some(t) => format!("the request body must be JSON (application/json), not `{t}`"),
                        None => "the request body must be JSON: send `Content-Type: application/json`".to_owned(),
                    },
                }),
            ),
            Verdict::Unparsable(why) => Reply::json(
                400,
                &serde_json::json!({
                    "error": "invalid_body",
                    "message": format!("the request body is not valid JSON: {why}"),
                }),
            ),
            Verdict::Invalid(violations) => Reply::json(
                400,
                &serde_json::json!({
                    "error": "invalid_body",
                    "message": "the request body does not match the schema",
                    "violations": violations
                        .iter()
                        .map(|v| serde_json::json!({ "path": v.path, "message": v.message }))
                        .collect::<Vec<_>>(),
                }),
            ),
        };
        Ok(Action::Respond(reply))
    }
}

impl RequestValidator {
    fn check(&self, content_type: Option<&str>, body: &[u8]) -> Verdict {
        if !content_type.is_some_and(is_json) {
            return Verdict::NotJson(content_type.map(str::to_owned));
        }
        let instance: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => return Verdict::Unparsable(e.to_string()),
        };
        match self.schemas.validate(&instance, self.index) {
            Ok(()) => Verdict::Valid,
            Err(error) => {
                let mut violations = Vec::new();
                leaves(&error, &mut violations, self.max_violations);
                Verdict::Invalid(violations)
            }
        }
    }
}

/// The innermost errors (those that say what is wrong, not "validation failed"), in document
/// order, at most `max`.
fn leaves(error: &ValidationError<'_, '_>, out: &mut Vec<Violation>, max: usize) {
    if out.len() >= max {
        return;
    }
    if error.causes.is_empty() {
        out.push(Violation {
            path: error.instance_location.to_string(),
            message: error.kind.to_string(),
        });
        return;
    }
    for cause in &error.causes {
        leaves(cause, out, max);
    }
}

export_plugin!(RequestValidator);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
