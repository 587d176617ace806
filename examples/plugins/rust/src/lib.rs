//! `screen`: refuses a request whose configured header has a denied value, and tags the others
//! in the context and with an `x-screen` response header. Both are decided in `on_request`, so
//! the plugin needs no `on_response`: each request enters it once.

use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, context, export_plugin};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The request header to screen, such as `user-agent`.
    header: String,
    /// Values refused, compared whole and without regard to ASCII case.
    deny: Vec<String>,
}

struct Screen(Config);

impl Plugin for Screen {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        if config.header.is_empty() {
            return Err("`header` must name a request header, such as \"user-agent\"".into());
        }
        Ok(Self(config))
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let Config { header, deny } = &self.0;
        if let Some(value) = req.header(header)
            && deny.iter().any(|denied| denied.eq_ignore_ascii_case(&value))
        {
            let body = format!(r#"{{"error":"forbidden","message":"{header} is denied"}}"#);
            let reply = Reply::new(403)
                .header("content-type", "application/json")
                .body(body);
            return Ok(Action::Respond(reply));
        }
        context::set("screen", "allowed");
        req.set_response_header("x-screen", "allowed")?;
        Ok(Action::Continue)
    }
}

export_plugin!(Screen);
