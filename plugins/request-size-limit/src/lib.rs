//! `request-size-limit`: refuse request bodies over a size limit with 413, from the
//! `Content-Length` header (free: no body is read), and optionally by reading bodies sent without
//! one (chunked HTTP/1.1, most HTTP/2), which makes the gateway buffer them.

use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, export_plugin};
use serde::Deserialize;

pub use portcullis_transform::size::{self, Size};

/// `request-size-limit`'s config (see docs/plugins/request-size-limit.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The largest body allowed: bytes, or a size such as `"1MiB"`.
    pub limit: Size,
    /// Also check bodies sent without `Content-Length`, by buffering them.
    #[serde(default)]
    pub read_body: bool,
}

/// The plugin.
#[derive(Debug)]
pub struct RequestSizeLimit {
    limit: u64,
    read_body: bool,
}

/// What a request gets.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    TooLarge,
    /// `Content-Length` is not one number.
    BadLength(String),
}

impl Plugin for RequestSizeLimit {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            limit: config.limit.bytes("limit")?,
            read_body: config.read_body,
        })
    }

    fn needs(&self) -> Needs {
        if self.read_body {
            Needs::ON_REQUEST | Needs::REQUEST_BODY
        } else {
            Needs::ON_REQUEST
        }
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let lengths = req.header_values("content-length");
        let mut verdict = self.by_length(&lengths);
        if verdict == Verdict::Pass && lengths.is_empty() && self.read_body {
            let length = req.body().map_or(0, |body| body.len() as u64);
            verdict = self.by_size(length);
        }
        Ok(match verdict {
            Verdict::Pass => Action::Continue,
            Verdict::TooLarge => Action::Respond(Reply::json(
                413,
                &serde_json::json!({
                    "error": "request_too_large",
                    "message": format!("the request body is larger than the limit of {} bytes", self.limit),
                    "limit": self.limit,
                }),
            )),
            Verdict::BadLength(value) => Action::Respond(Reply::json(
                400,
                &serde_json::json!({
                    "error": "bad_request",
                    "message": format!("Content-Length is not a single number: `{value}`"),
                }),
            )),
        })
    }
}

impl RequestSizeLimit {
    /// The verdict from the `Content-Length` values (none: pass, the body decides if read).
    fn by_length(&self, values: &[String]) -> Verdict {
        let mut length: Option<u64> = None;
        for value in values.iter().flat_map(|v| v.split(',')) {
            let Ok(parsed) = value.trim().parse::<u64>() else {
                return Verdict::BadLength(values.join(", "));
            };
            // Repeated equal values are allowed (RFC 9110, 8.6); differing ones are not.
            if length.is_some_and(|l| l != parsed) {
                return Verdict::BadLength(values.join(", "));
            }
            length = Some(parsed);
        }
        length.map_or(Verdict::Pass, |l| self.by_size(l))
    }

    fn by_size(&self, length: u64) -> Verdict {
        if length > self.limit {
            Verdict::TooLarge
        } else {
            Verdict::Pass
        }
    }
}

export_plugin!(RequestSizeLimit);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
