//! Header value templates: literal text with `${name}` placeholders, parsed once at load time.
//!
//! A placeholder names a request context key (`${consumer}`) or a built-in: `${route}`,
//! `${request_id}`, `${client_ip}`, `${method}`, `${path}`, `${param.<name>}` (a route template
//! parameter). An unset key expands to nothing. `$${` writes a literal `${`.

use portcullis_sdk::{Request, context};

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// What a placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    Context(String),
    Route,
    RequestId,
    ClientIp,
    Method,
    Path,
    Param(String),
}

/// Where placeholders get their values: the request being handled.
pub(crate) struct Vars<'a> {
    req: Option<&'a Request<'a>>,
}

impl<'a> Vars<'a> {
    pub(crate) fn new(req: &'a Request<'a>) -> Self {
        Self { req: Some(req) }
    }

    fn get(&self, var: &Var) -> Option<String> {
        let req = self.req?;
        match var {
            Var::Context(key) => context::get(key),
            Var::Route => Some(req.route()),
            Var::RequestId => Some(req.id()),
            Var::ClientIp => Some(req.client_ip()),
            Var::Method => Some(req.method()),
            Var::Path => Some(req.path()),
            Var::Param(name) => req.route_param(name),
        }
    }
}

impl Template {
    /// Parses `text`; an unclosed `${`, an empty or invalid name, or a control character is an
    /// error.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Err(format!(
                "{text:?} contains a control character (a line break, NUL...), which no header value may hold"
            ));
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("$${") {
                literal.push_str("${");
                rest = after;
            } else if let Some(after) = rest.strip_prefix("${") {
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("`{text}` has a `${{` without its closing `}}`"))?;
                let name = &after[..end];
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(
                    parse_var(name).map_err(|e| format!("`{text}`: {e}"))?,
                ));
                rest = &after[end + 1..];
            } else {
                literal.push('$');
                rest = &rest[1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self(parts))
    }

    /// The template with every placeholder replaced.
    pub(crate) fn render(&self, vars: &Vars<'_>) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(var) => out.push_str(&vars.get(var).unwrap_or_default()),
            }
        }
        out
    }

    /// Whether the template renders the same in `on_request` as in `on_response`: literal
    /// text and placeholders no later plugin can change (route, request id, client address,
    /// route parameters). The method, path and context may be changed by the plugins after
    /// this one.
    pub(crate) fn is_fixed_per_request(&self) -> bool {
        self.0.iter().all(|p| match p {
            Part::Text(_) => true,
            Part::Var(var) => matches!(
                var,
                Var::Route | Var::RequestId | Var::ClientIp | Var::Param(_)
            ),
        })
    }

    /// Whether the template has no placeholder.
    #[cfg(test)]
    pub(crate) fn is_literal(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Text(_)))
    }
}

/// The meaning of the placeholder `${name}`.
pub(crate) fn parse_var(name: &str) -> Result<Var, String> {
    let valid = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !valid(name) {
        return Err(format!(
            "`${{{name}}}` is not a valid placeholder (letters, digits, `-`, `_`, `.`)"
        ));
    }
    Ok(match name {
        "route" => Var::Route,
        "request_id" => Var::RequestId,
        "client_ip" => Var::ClientIp,
        "method" => Var::Method,
        "path" => Var::Path,
        _ => match name.strip_prefix("param.") {
            Some(param) if !param.is_empty() => Var::Param(param.to_owned()),
            _ => Var::Context(name.to_owned()),
        },
    })
}

#[cfg(test)]
impl<'a> Vars<'a> {
    pub(crate) fn none() -> Self {
        Self { req: None }
    }
}
