//! Path templates of the HTTP mapping (`/v1/echo/{message}`, `/v1/{name=shelves/*}`) and the
//! percent-decoding of what they capture.

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches itself.
    Literal(String),
    /// `{field}` or `{field=*}`: one segment, bound to a field path.
    Field(String),
    /// `{field=**}`: the rest of the path, bound to a field path (last segment only).
    Rest(String),
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `/a/{b}/c/{d.e=**}`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| format!("path `{text}` must start with `/`"))?;
        let mut segments = Vec::new();
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(inner) => {
                    let (field, pattern) = inner.split_once('=').unwrap_or((inner, "*"));
                    if field.is_empty()
                        || !field.split('.').all(|f| {
                            !f.is_empty()
                                && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        })
                    {
                        return Err(format!(
                            "path `{text}`: `{{{inner}}}` does not name a field"
                        ));
                    }
                    match pattern {
                        "*" => Segment::Field(field.to_owned()),
                        "**" if i + 1 == parts.len() => Segment::Rest(field.to_owned()),
                        _ => {
                            return Err(format!(
                                "path `{text}`: only `{{{field}}}`, `{{{field}=*}}` and a last `{{{field}=**}}` are supported"
                            ));
                        }
                    }
                }
                None if part.contains(['{', '}']) => {
                    return Err(format!(
                        "path `{text}`: `{part}` is not a whole `{{field}}` segment"
                    ));
                }
                None => Segment::Literal((*part).to_owned()),
            };
            segments.push(segment);
        }
        Ok(Self { segments })
    }

    /// The field paths the template binds, in order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field(f) | Segment::Rest(f) => Some(f.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Matches a percent-encoded request path; returns the bound fields, decoded.
    pub(crate) fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let rest = path.strip_prefix('/')?;
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut bound = Vec::new();
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    if parts.get(i)? != literal {
                        return None;
                    }
                }
                Segment::Field(field) => {
                    let part = parts.get(i)?;
                    if part.is_empty() {
                        return None;
                    }
                    bound.push((field.clone(), percent_decode(part)?));
                }
                Segment::Rest(field) => {
                    if i >= parts.len() {
                        return None;
                    }
                    bound.push((field.clone(), percent_decode(&parts[i..].join("/"))?));
                    i = parts.len();
                    continue;
                }
            }
            i += 1;
        }
        (i == parts.len()).then_some(bound)
    }
}

/// Decodes `%XX` escapes (and, with `plus`, `+` as a space, as in query strings); `None` when
/// the result is not UTF-8.
pub(crate) fn decode(text: &str, plus: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Decodes a path segment.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    decode(text, false)
}

/// Splits a query string into decoded pairs; a key without `=` has an empty value.
pub(crate) fn query_pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match (decode(k, true), decode(v, true)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(format!("query parameter `{k}` is not valid UTF-8")),
            }
        })
        .collect()
}
