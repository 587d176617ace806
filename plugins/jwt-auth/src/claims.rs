//! The registered claims checked after the signature (RFC 7519 §4.1): times with leeway,
//! issuer, audience, and the claims a route requires.

use serde_json::{Map, Value};

use crate::{Rejection, Verifier};

impl Verifier {
    /// Checks the claims of a token whose signature is valid, at `now` (seconds since the epoch).
    pub(crate) fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: f64,
    ) -> Result<(), Rejection> {
        for name in &self.config.required_claims {
            if claims.get(name).is_none_or(Value::is_null) {
                return Err(Rejection::invalid(format!(
                    "the token lacks the required claim `{name}`"
                )));
            }
        }
        let leeway = self.config.leeway as f64;
        if let Some(exp) = time(claims, "exp")?
            && now > exp + leeway
        {
            return Err(Rejection::invalid("the token has expired"));
        }
        if let Some(nbf) = time(claims, "nbf")?
            && now + leeway < nbf
        {
            return Err(Rejection::invalid("the token is not valid yet (nbf)"));
        }
        if let Some(iat) = time(claims, "iat")?
            && now + leeway < iat
        {
            return Err(Rejection::invalid(
                "the token was issued in the future (iat)",
            ));
        }
        if !self.config.issuers.is_empty() {
            let issuer = claims.get("iss").and_then(Value::as_str);
            if !issuer.is_some_and(|iss| self.config.issuers.iter().any(|ok| ok == iss)) {
                return Err(Rejection::invalid(
                    "the token's issuer (iss) is not accepted",
                ));
            }
        }
        if !self.config.audiences.is_empty() {
            let accepted = |aud: &str| self.config.audiences.iter().any(|ok| ok == aud);
            let matches = match claims.get("aud") {
                Some(Value::String(aud)) => accepted(aud),
                Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(accepted),
                _ => false,
            };
            if !matches {
                return Err(Rejection::invalid(
                    "the token's audience (aud) is not accepted",
                ));
            }
        }
        Ok(())
    }
}

/// A NumericDate claim: absent, or a number of seconds (fractions allowed).
fn time(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Rejection> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| Rejection::invalid(format!("the token's `{name}` is not a number"))),
        Some(_) => Err(Rejection::invalid(format!(
            "the token's `{name}` is not a number of seconds"
        ))),
    }
}

/// A claim's value as header or context text: strings as they are, lists joined with `,`,
/// other values as JSON; `None` when absent or null.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|item| text(Some(item)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(other.to_string()),
    }
}

/// Group names from a claim: a list of strings, or one string separated by spaces or commas (as
/// `scope` is), joined with `,` for the `consumer.groups` context key.
pub(crate) fn groups(value: Option<&Value>) -> Option<String> {
    let names: Vec<&str> = match value? {
        Value::String(s) => s.split([' ', ',']).collect(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    let names: Vec<&str> = names
        .into_iter()
        .map(str::trim)
        .filter(|name| !name.is_empty() && !name.contains(','))
        .collect();
    Some(names.join(","))
}
