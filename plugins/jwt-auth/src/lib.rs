//! `jwt-auth`: verifies JSON Web Tokens (JWS, compact form) inside the guest.
//!
//! Keys come from the config (HMAC secrets, PEM public keys, JWKs, or a JWKS) and are parsed once,
//! when the manifest loads; each key is bound to the algorithms its type allows, so `alg: none`
//! and algorithm confusion (an RSA public key used as an HMAC secret) cannot happen. A valid
//! token's consumer, groups and chosen claims go into the request context and to the upstream;
//! anything else gets 401 with an RFC 6750 `WWW-Authenticate: Bearer error="invalid_token"`.

mod claims;
mod config;
mod keys;
mod token;

use portcullis_sdk::query;
use portcullis_sdk::{Action, Error, Needs, Plugin, Reply, Request, context, export_plugin};

pub use config::{Config, Jwks, KeyConfig};
pub use token::Alg;

use keys::Key;

/// The context key naming the authenticated consumer (shared by every authentication plugin).
pub const CONSUMER_KEY: &str = "consumer";
/// The context key listing the consumer's groups, comma-separated.
pub const GROUPS_KEY: &str = "consumer.groups";

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The RFC 6750 error code (`invalid_token`, `invalid_request`), or none when no token came.
    pub error: Option<&'static str>,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for the client.
    pub message: String,
}

impl Rejection {
    /// 401 `invalid_token`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            error: Some("invalid_token"),
            status: 401,
            message: message.into(),
        }
    }

    fn missing() -> Self {
        Self {
            error: None,
            status: 401,
            message: "no bearer token found in the request".into(),
        }
    }
}

/// What a valid token says about the caller.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The consumer (from `consumer-claim`), if the token names one.
    pub consumer: Option<String>,
    /// The groups (from `groups-claim`), comma-separated.
    pub groups: Option<String>,
    /// Context key and value, for `claims-to-context`.
    pub context: Vec<(String, String)>,
    /// Header name and value (`None`: the claim is absent, remove the header), for
    /// `claims-to-headers`.
    pub headers: Vec<(String, Option<String>)>,
}

/// The verification logic, free of host calls (tested natively).
pub struct Verifier {
    config: Config,
    keys: Vec<Key>,
    algorithms: Vec<Alg>,
}

impl Verifier {
    /// Checks `config` and parses its keys.
    pub fn new(config: Config) -> Result<Self, Error> {
        let checked = config.validate()?;
        Ok(Self {
            config,
            keys: checked.keys,
            algorithms: checked.algorithms,
        })
    }

    /// The algorithms accepted.
    pub fn algorithms(&self) -> &[Alg] {
        &self.algorithms
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now: f64) -> Result<Identity, Rejection> {
        let token = token::decode(token)?;
        let alg = match keys::parse_alg(&token.header.alg) {
            Ok(alg) => alg,
            Err(_) if token.header.alg.eq_ignore_ascii_case("none") => {
                return Err(Rejection::invalid(
                    "unsigned tokens (alg none) are not accepted",
                ));
            }
            Err(_) => return Err(Rejection::invalid("the token's algorithm is not supported")),
        };
        if !self.algorithms.contains(&alg) {
            return Err(Rejection::invalid(format!(
                "the algorithm {} is not accepted here",
                alg.name()
            )));
        }
        if token.header.crit.is_some() {
            return Err(Rejection::invalid(
                "the token has critical header extensions (crit) this gateway does not understand",
            ));
        }
        // A token's `kid` picks the keys with that `kid`; when none has it, the keys without a
        // `kid` (a config may give bare keys while the issuer labels its tokens).
        let kid = token.header.kid.as_deref();
        let labelled =
            kid.is_some_and(|kid| self.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
        let mut candidates = self
            .keys
            .iter()
            .filter(|key| match kid {
                Some(_) if labelled => key.kid.as_deref() == kid,
                Some(_) => key.kid.is_none(),
                None => true,
            })
            .peekable();
        if candidates.peek().is_none() {
            return Err(Rejection::invalid(
                "no key matches the token's key id (kid)",
            ));
        }
        let mut usable = candidates
            .filter(|key| key.algorithms.contains(&alg))
            .peekable();
        if usable.peek().is_none() {
            return Err(Rejection::invalid(format!(
                "no key for the algorithm {} matches the token",
                alg.name()
            )));
        }
        let input = token.signing_input.as_bytes();
        if !usable.any(|key| key.verify(alg, input, &token.signature)) {
            return Err(Rejection::invalid("the token's signature is not valid"));
        }
        let claims = token::claims(token.payload)?;
        self.check_claims(&claims, now)?;
        Ok(self.identity(&claims))
    }

    fn identity(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Identity {
        let config = &self.config;
        Identity {
            consumer: Some(&config.consumer_claim)
                .filter(|claim| !claim.is_empty())
                .and_then(|claim| claims::text(claims.get(claim.as_str())))
                .filter(|consumer| !consumer.is_empty()),
            groups: config
                .groups_claim
                .as_ref()
                .and_then(|claim| claims::groups(claims.get(claim))),
            context: config
                .claims_to_context
                .iter()
                .filter_map(|(claim, key)| Some((key.clone(), claims::text(claims.get(claim))?)))
                .collect(),
            headers: config
                .claims_to_headers
                .iter()
                .map(|(claim, header)| (header.clone(), claims::text(claims.get(claim))))
                .collect(),
        }
    }
}

/// The plugin.
pub struct JwtAuth(Verifier);

impl Plugin for JwtAuth {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        Verifier::new(config).map(Self)
    }

    fn needs(&self) -> Needs {
        Needs::ON_REQUEST
    }

    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let Some(token) = self.find_token(req) else {
            return Ok(Action::Respond(self.reply(&Rejection::missing())));
        };
        let identity = match self.0.verify(&token, now()) {
            Ok(identity) => identity,
            Err(rejection) => return Ok(Action::Respond(self.reply(&rejection))),
        };
        let config = &self.0.config;
        let mut headers: Vec<(&str, Option<&str>)> = Vec::new();
        if !config.consumer_header.is_empty() {
            headers.push((&config.consumer_header, identity.consumer.as_deref()));
        }
        headers.extend(
            identity
                .headers
                .iter()
                .map(|(h, v)| (h.as_str(), v.as_deref())),
        );
        // Checked before any edit, so a refused token leaves the request as it came.
        if headers
            .iter()
            .any(|(_, value)| value.is_some_and(|v| !header_safe(v)))
        {
            return Ok(Action::Respond(self.reply(&Rejection::invalid(
                "a claim of the token cannot be sent upstream as a header value",
            ))));
        }
        if config.hide_credentials {
            self.hide_credentials(req)?;
        }
        // An absent claim removes the header: a client must not be able to send it itself.
        for (name, value) in headers {
            match value {
                Some(value) => req.set_header(name, value)?,
                None => req.remove_header(name)?,
            }
        }
        if let Some(consumer) = &identity.consumer {
            context::set(CONSUMER_KEY, consumer);
        }
        if let Some(groups) = &identity.groups {
            context::set(GROUPS_KEY, groups);
        }
        for (key, value) in &identity.context {
            context::set(key, value);
        }
        Ok(Action::Continue)
    }
}

impl JwtAuth {
    /// The token: from the header, then the query parameter, then the cookie.
    fn find_token(&self, req: &Request) -> Option<String> {
        let config = &self.0.config;
        if let Some(value) = req.header(&config.header)
            && let Some(token) = bearer(&value, config.header.eq_ignore_ascii_case("authorization"))
        {
            return Some(token.to_owned());
        }
        if let Some(name) = &config.query_param
            && let Some(query) = req.query()
            && let Some(token) = query::get(&query, name).filter(|t| !t.is_empty())
        {
            return Some(token);
        }
        if let Some(name) = &config.cookie
            && let Some(token) = req
                .header_values("cookie")
                .iter()
                .find_map(|cookies| cookie(cookies, name).map(str::to_owned))
        {
            return Some(token);
        }
        None
    }

    /// Removes every place the token may come in, so the upstream never sees it.
    fn hide_credentials(&self, req: &Request) -> Result<(), Error> {
        let config = &self.0.config;
        req.remove_header(&config.header)?;
        if let Some(name) = &config.query_param
            && let Some(query) = req.query()
        {
            let rest = query::without(&query, name);
            if rest != query {
                req.set_query(Some(&rest).filter(|q| !q.is_empty()).map(String::as_str))?;
            }
        }
        if let Some(name) = &config.cookie {
            let cookies = req.header_values("cookie");
            if cookies.iter().any(|c| cookie(c, name).is_some()) {
                let rest = cookies
                    .iter()
                    .flat_map(|c| c.split(';'))
                    .map(str::trim)
                    .filter(|pair| {
                        !pair.is_empty() && pair.split_once('=').is_none_or(|(k, _)| k != name)
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                if rest.is_empty() {
                    req.remove_header("cookie")?;
                } else {
                    req.set_header("cookie", &rest)?;
                }
            }
        }
        Ok(())
    }

    fn reply(&self, rejection: &Rejection) -> Reply {
        let realm = &self.0.config.realm;
        let challenge = match rejection.error {
            Some(error) => format!(
                "Bearer realm=\"{realm}\", error=\"{error}\", error_description=\"{}\"",
                description(&rejection.message)
            ),
            None => format!("Bearer realm=\"{realm}\""),
        };
        Reply::json(
            rejection.status,
            &serde_json::json!({ "error": "unauthorized", "message": rejection.message }),
        )
        .header("www-authenticate", challenge)
    }
}

/// The token in a header value: after `Bearer ` (scheme case-insensitive); for a header other
/// than `authorization`, the bare value is accepted too.
pub fn bearer(value: &str, scheme_required: bool) -> Option<&str> {
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None if scheme_required => return None,
        None => value,
    };
    Some(token).filter(|token| !token.is_empty())
}

/// The value of cookie `name` in a `cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// `message` made safe for an RFC 6750 `error_description` (printable ASCII without `"` and `\`).
pub fn description(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '\'',
        })
        .collect()
}

/// Whether `value` can be sent as a header value.
fn header_safe(value: &str) -> bool {
    !value.chars().any(|c| c.is_control() && c != '\t')
}

/// Seconds since the Unix epoch, from the host's wall clock.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

export_plugin!(JwtAuth);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
