//! The transcoding core, natively, for the fuzz target in `fuzz/` only (`--features fuzzing`):
//! the same steps as `on_request` and `on_response` without the host's `Request` and
//! `Response`. Not an API; it follows the plugin's modules wherever they go.

use serde_json::Value;

use crate::config::{self, BodyBinding, Compiled};
use crate::{Config, GrpcTranscode, message, template};

/// A compiled config.
pub struct Transcoder(GrpcTranscode);

/// A request transcoded into a gRPC call.
#[derive(Debug)]
pub struct Call {
    /// `/package.Service/Method`.
    pub path: String,
    /// The request message, as one length-prefixed gRPC frame.
    pub frame: Vec<u8>,
    /// The request message read back from its frame, as JSON.
    pub read_back: Result<Value, String>,
}

impl Transcoder {
    /// Compiles `config` as `init` does.
    pub fn new(config: &Config) -> Result<Self, String> {
        Compiled::new(config).map(|c| Self(GrpcTranscode(c)))
    }

    /// What `on_request` does with a request: `None` when no rule matches, `Err` with the 400's
    /// message, or the call.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Option<Result<Call, String>> {
        let (rule, params) = self.0.find(method, path)?;
        let query = match rule.body {
            BodyBinding::Whole => Vec::new(),
            _ => match query.map(template::query_pairs) {
                Some(Ok(pairs)) => pairs,
                Some(Err(reason)) => return Some(Err(reason)),
                None => Vec::new(),
            },
        };
        let input = rule.call.input();
        let built = message::build_request(&input, &rule.body, body, &params, &query);
        Some(built.map(|message| {
            let frame = message::frame(&message);
            let read_back = message::unframe(&frame).and_then(|frames| match frames.as_slice() {
                [one] => message::to_json(&input, one),
                _ => Err(format!("{} frames for one message", frames.len())),
            });
            Call {
                path: config::grpc_path(&rule.call),
                frame,
                read_back,
            }
        }))
    }

    /// What `on_response` makes of a successful reply's body to `grpc_path`: `None` for a path
    /// no rule calls, else the content type and body, or the 502's message.
    pub fn reply(
        &self,
        grpc_path: &str,
        body: &[u8],
    ) -> Option<Result<(&'static str, Vec<u8>), String>> {
        let call = self.0.0.calls.get(grpc_path)?;
        Some(self.0.render(call, body))
    }

    /// The gRPC paths the rules call, in order.
    pub fn calls(&self) -> Vec<String> {
        self.0.0.calls.keys().cloned().collect()
    }
}
