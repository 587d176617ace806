//! `correlation-id`: give every request an id that follows it through the upstream and back.
//! A valid id sent by the client (or by a service upstream of the gateway) is kept; otherwise
//! one is generated, a random UUID v4 or the gateway's own request id. The id is set on the
//! request to the upstream, echoed on the response, and written to the request context as
//! `correlation-id`, so the access log shows it.

use portcullis_sdk::{Action, Error, Needs, Plugin, Request, context, export_plugin};
use serde::Deserialize;

/// The request context key holding the id (documented; the access log prints it).
pub const CONTEXT_KEY: &str = "correlation-id";

/// The longest id kept from a client; a longer one is replaced.
const MAX_LEN: usize = 200;

/// How new ids are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generator {
    /// A random UUID, version 4 (122 random bits from `wasi:random`).
    #[default]
    Uuid,
    /// The gateway's request id (the `x-request-id` the upstream also sees).
    RequestId,
}

/// `correlation-id`'s config (see docs/plugins/correlation-id.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The header carrying the id.
    #[serde(default = "default_header")]
    pub header: String,
    /// How to make an id when the request has none.
    #[serde(default)]
    pub generator: Generator,
    /// Keep a valid id sent by the client; `false` always makes a new one.
    #[serde(default = "yes")]
    pub trust_incoming: bool,
    /// Put the id on the response too.
    #[serde(default = "yes")]
    pub echo_downstream: bool,
}

fn default_header() -> String {
    "x-correlation-id".to_owned()
}

fn yes() -> bool {
    true
}

/// The plugin.
#[derive(Debug)]
pub struct CorrelationId {
    header: String,
    generator: Generator,
    trust_incoming: bool,
    echo_downstream: bool,
}

impl Plugin for CorrelationId {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        if !is_token(&config.header) {
            return Err(Error::new(format!(
                "`header` `{}` is not a valid header name",
                config.header
            )));
        }
        Ok(Self {
            header: config.header.to_ascii_lowercase(),
            generator: config.generator,
            trust_incoming: config.trust_incoming,
            echo_downstream: config.echo_downstream,
        })
    }

    /// `on-request` only: the echo is decided there too (`set_response_header`), so a request
    /// enters the plugin once.
    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let incoming = if self.trust_incoming {
            req.header(&self.header).filter(|id| is_valid_id(id))
        } else {
            None
        };
        let id = match incoming {
            Some(id) => id,
            None => match self.generator {
                Generator::Uuid => uuid_v4()?,
                Generator::RequestId => req.id(),
            },
        };
        req.set_header(&self.header, &id)?;
        if self.echo_downstream {
            // Made by the host where `on-response` would have made it, on whatever response
            // the request gets (the upstream's, a later plugin's reply, the gateway's error).
            req.set_response_header(&self.header, &id)?;
        }
        context::set(CONTEXT_KEY, &id);
        Ok(Action::Continue)
    }
}

/// Whether a client's id may be kept: 1 to 200 visible ASCII characters, so it cannot break a
/// header, a log line or a JSON document downstream.
fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A random UUID, version 4, variant RFC 9562, in lower-case hex.
fn uuid_v4() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::new(format!("no random source for a new id: {e}")))?;
    Ok(format_uuid_v4(bytes))
}

fn format_uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether `name` is an HTTP token (a valid header name).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

export_plugin!(CorrelationId);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
