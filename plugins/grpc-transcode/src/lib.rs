//! `grpc-transcode`: REST/JSON in front of a gRPC service. An HTTP method and path template
//! (from the config, or from `google.api.http` annotations) select a gRPC method; path and query
//! parameters and the JSON body become its request message (the proto3 JSON mapping), sent as a
//! gRPC call; the reply messages and status come back as JSON and an HTTP status.

mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod message;
mod status;
mod template;

use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, Response, export_plugin};
use serde_json::{Value, json};

use config::{Compiled, Rule};
pub use config::{Config, RuleConfig, StreamFormat};

/// The plugin: the descriptors and rules, compiled once at init.
pub struct GrpcTranscode(Compiled);

/// Response headers that belong to gRPC and not to the JSON answer.
const GRPC_FIELDS: &[&str] = &[
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-encoding",
    "grpc-accept-encoding",
];

impl Plugin for GrpcTranscode {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        Compiled::new(&config).map(Self).map_err(Error::from)
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST | Needs::ON_RESPONSE | Needs::REQUEST_BODY | Needs::RESPONSE_BODY
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let method = req.method();
        let path = req.path();
        let Some((rule, params)) = self.find(&method, &path) else {
            // Not a transcoded path: the request goes on as it is.
            return Ok(Action::Continue);
        };
        let query = match rule.body {
            config::BodyBinding::Whole => Vec::new(),
            _ => match req.query().map(|q| template::query_pairs(&q)) {
                Some(Ok(pairs)) => pairs,
                Some(Err(reason)) => return Ok(Action::Respond(bad_request(&reason))),
                None => Vec::new(),
            },
        };
        let body = req.body().unwrap_or_default();
        let message =
            match message::build_request(&rule.call.input(), &rule.body, &body, &params, &query) {
                Ok(message) => message,
                Err(reason) => return Ok(Action::Respond(bad_request(&reason))),
            };
        // Only the chosen headers go on, as metadata.
        for header in req.headers() {
            let framing = matches!(
                header.name.as_str(),
                // The gateway's own (it refuses edits to the framing fields).
                "host"
                    | "content-length"
                    | "transfer-encoding"
                    | "connection"
                    | "keep-alive"
                    | "proxy-connection"
                    | "te"
                    | "upgrade"
            );
            if !framing && !self.0.forwards(&header.name) {
                req.remove_header(&header.name)?;
            }
        }
        req.set_method("POST")?;
        req.set_path(&config::grpc_path(&rule.call))?;
        req.set_query(None)?;
        req.set_body(&message::frame(&message))?;
        req.set_header("content-type", "application/grpc")?;
        req.set_header("te", "trailers")?;
        if let Some(timeout) = &self.0.timeout {
            req.set_header("grpc-timeout", timeout)?;
        }
        Ok(Action::Continue)
    }

    fn on_response(&self, req: &Request, resp: &Response) -> Result<(), Error> {
        let Some(call) = self.0.calls.get(&req.path()) else {
            return Ok(());
        };
        let trailers = resp.trailers();
        let from_trailers = |name: &str| {
            trailers
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.value.clone())
        };
        // A trailers-only answer (an error before any message) has its status in the headers.
        let code = from_trailers("grpc-status").or_else(|| resp.header("grpc-status"));
        let Some(code) = code else {
            // Not a gRPC answer: the gateway's own error (502, 504) goes to the client as it is.
            return Ok(());
        };
        let message = from_trailers("grpc-message")
            .or_else(|| resp.header("grpc-message"))
            .map(|m| template::percent_decode(&m).unwrap_or(m))
            .unwrap_or_default();
        for name in GRPC_FIELDS {
            resp.remove_header(name)?;
        }
        for trailer in &trailers {
            resp.remove_trailer(&trailer.name)?;
        }
        let code: u32 = code.trim().parse().unwrap_or(2);
        let (status, content_type, body) = if code == 0 {
            match self.render(call, &resp.body().unwrap_or_default()) {
                Ok((content_type, body)) => (200, content_type, body),
                Err(reason) => {
                    let body = json!({ "code": 13, "status": "INTERNAL", "message": reason });
                    (502, "application/json", body.to_string().into_bytes())
                }
            }
        } else {
            let body = json!({ "code": code, "status": status::name(code), "message": message });
            (
                status::http_status(code),
                "application/json",
                body.to_string().into_bytes(),
            )
        };
        resp.set_status(status)?;
        resp.set_header("content-type", content_type)?;
        resp.set_body(&body)?;
        Ok(())
    }
}

impl GrpcTranscode {
    /// The first rule matching the request, with its path parameters.
    fn find(&self, method: &str, path: &str) -> Option<(&Rule, Vec<(String, String)>)> {
        self.0.rules.iter().find_map(|rule| {
            if !rule.method.eq_ignore_ascii_case(method) {
                return None;
            }
            rule.template.matches(path).map(|params| (rule, params))
        })
    }

    /// The reply messages as the client's body: one object for a unary call; NDJSON or an
    /// array for server streaming.
    fn render(
        &self,
        call: &prost_reflect::MethodDescriptor,
        body: &[u8],
    ) -> Result<(&'static str, Vec<u8>), String> {
        let output = call.output();
        let messages = message::unframe(body)?
            .into_iter()
            .map(|bytes| message::to_json(&output, bytes))
            .collect::<Result<Vec<Value>, String>>()?;
        if !call.is_server_streaming() {
            let one = messages
                .into_iter()
                .next()
                .ok_or("the server sent no message")?;
            return Ok(("application/json", one.to_string().into_bytes()));
        }
        Ok(match self.0.stream_format {
            StreamFormat::Array => (
                "application/json",
                Value::Array(messages).to_string().into_bytes(),
            ),
            StreamFormat::Ndjson => {
                let mut out = Vec::new();
                for message in messages {
                    out.extend_from_slice(message.to_string().as_bytes());
                    out.push(b'\n');
                }
                ("application/x-ndjson", out)
            }
        })
    }
}

fn bad_request(reason: &str) -> Reply {
    Reply::json(400, &json!({ "error": "bad_request", "message": reason }))
}

export_plugin!(GrpcTranscode);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
