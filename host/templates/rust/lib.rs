//! The {{name}} plugin. Each phase below does what the gateway does without it: replace the
//! bodies with your policy. See the SDK's documentation (`docs/sdk.md`) for the request, the
//! context, the log and shared state.

use portcullis_sdk::{Action, Error, Needs, Plugin, Request, Response, export_plugin};
use serde::Deserialize;

/// The plugin's config: the manifest's `config` table. Unknown keys are refused when the
/// gateway loads the manifest, so a typo never reaches a request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

struct Handler {
    #[allow(dead_code)]
    config: Config,
}

impl Plugin for Handler {
    type Config = Config;

    /// Called once per instance with the config; an error refuses the manifest.
    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self { config })
    }

    /// The phases the gateway calls (and the bodies it buffers for you). Each phase is a call
    /// into the plugin per request: drop `ON_RESPONSE` if the plugin needs nothing of the
    /// response (a response header known in `on_request` is `req.set_response_header`).
    fn needs(&self) -> Needs {
        Needs::ON_REQUEST | Needs::ON_RESPONSE
    }

    /// Sees the request before the upstream: change it, or answer with `Action::Respond`.
    fn on_request(&self, _req: &Request) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// Sees the response before the client.
    fn on_response(&self, _req: &Request, _resp: &Response) -> Result<(), Error> {
        Ok(())
    }
}

export_plugin!(Handler);
