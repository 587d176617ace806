//! `headers`: add, set and remove request and response headers. Values are templates that may
//! use the request context (`${consumer}`) and a few built-ins, parsed once at load time.

mod template;

use std::collections::BTreeMap;

use portcullis_sdk::{Action, Error, Needs, Plugin, Request, Response, export_plugin};
use serde::Deserialize;

use template::{Template, Vars};

/// `headers`' config (see docs/plugins/headers.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Edits to the request, before the upstream sees it.
    #[serde(default)]
    pub request: Edits,
    /// Edits to the response, before the client sees it.
    #[serde(default)]
    pub response: Edits,
}

/// Edits to one side's headers, applied in this order: remove, set, add.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Edits {
    /// Headers to remove.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Headers to set, replacing any values they had.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Values to append, keeping existing ones.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
}

/// Edits parsed and checked.
#[derive(Debug, Default)]
struct Compiled {
    remove: Vec<String>,
    set: Vec<(String, Template)>,
    add: Vec<(String, Template)>,
}

impl Compiled {
    fn new(side: &str, edits: &Edits) -> Result<Self, Error> {
        let name = |n: &String| -> Result<String, Error> {
            if is_token(n) {
                Ok(n.to_ascii_lowercase())
            } else {
                Err(Error::new(format!(
                    "`{side}`: `{n}` is not a valid header name"
                )))
            }
        };
        let templates = |map: &BTreeMap<String, String>| -> Result<Vec<(String, Template)>, Error> {
            map.iter()
                .map(|(n, v)| {
                    let template = Template::parse(v)
                        .map_err(|e| Error::new(format!("`{side}`: header `{n}`: {e}")))?;
                    Ok((name(n)?, template))
                })
                .collect()
        };
        Ok(Self {
            remove: edits.remove.iter().map(name).collect::<Result<_, _>>()?,
            set: templates(&edits.set)?,
            add: templates(&edits.add)?,
        })
    }

    fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }

    /// Whether every value renders the same in `on_request` as it would in `on_response`.
    fn is_fixed_per_request(&self) -> bool {
        self.set
            .iter()
            .chain(&self.add)
            .all(|(_, template)| template.is_fixed_per_request())
    }

    /// Applies the edits through `remove`, `set` and `append`.
    fn apply(
        &self,
        vars: &Vars<'_>,
        remove: impl Fn(&str) -> Result<(), Error>,
        set: impl Fn(&str, &str) -> Result<(), Error>,
        append: impl Fn(&str, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for name in &self.remove {
            remove(name)?;
        }
        for (name, value) in &self.set {
            set(name, &value.render(vars))?;
        }
        for (name, value) in &self.add {
            append(name, &value.render(vars))?;
        }
        Ok(())
    }
}

/// The plugin.
pub struct Headers {
    request: Compiled,
    response: Compiled,
    /// The response edits are decided in `on_request` and made by the gateway at this plugin's
    /// place in the response phase (contract 0.1.3): the same edits, without an `on_response`
    /// call. Only when no value depends on what a later plugin may change.
    response_early: bool,
}

impl Plugin for Headers {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let response = Compiled::new("response", &config.response)?;
        let plugin = Self {
            request: Compiled::new("request", &config.request)?,
            response_early: !response.is_empty() && response.is_fixed_per_request(),
            response,
        };
        if plugin.request.is_empty() && plugin.response.is_empty() {
            return Err(
                "no edit configured: give `request` or `response` with `set`, `add` or `remove`"
                    .into(),
            );
        }
        Ok(plugin)
    }

    fn needs(&self) -> Needs {
        let mut needs = Needs::empty();
        if !self.request.is_empty() || self.response_early {
            needs = needs | Needs::ON_REQUEST;
        }
        if !self.response.is_empty() && !self.response_early {
            needs = needs | Needs::ON_RESPONSE;
        }
        needs
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let vars = Vars::new(req);
        self.request.apply(
            &vars,
            |n| req.remove_header(n),
            |n, v| req.set_header(n, v),
            |n, v| req.append_header(n, v),
        )?;
        if self.response_early {
            self.response.apply(
                &vars,
                |n| req.remove_response_header(n),
                |n, v| req.set_response_header(n, v),
                |n, v| req.append_response_header(n, v),
            )?;
        }
        Ok(Action::Continue)
    }

    fn on_response(&self, req: &Request, resp: &Response) -> Result<(), Error> {
        let vars = Vars::new(req);
        self.response.apply(
            &vars,
            |n| resp.remove_header(n),
            |n, v| resp.set_header(n, v),
            |n, v| resp.append_header(n, v),
        )
    }
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

export_plugin!(Headers);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
