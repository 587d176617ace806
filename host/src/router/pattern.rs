//! Host and path patterns: how a route names the requests it wants, parsed once at load time
//! and matched against the raw request without allocating.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Longest host name DNS allows; longer request hosts can never match an exact pattern.
pub(super) const MAX_HOST_LEN: usize = 253;

/// Why a host or path pattern is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A path must be absolute.
    #[error("path `{0}` does not start with `/`")]
    NotAbsolute(String),
    /// Query strings, fragments, whitespace and control characters never reach the router.
    #[error("path `{0}` contains `{1}`, which cannot appear in a request path")]
    ForbiddenChar(String, char),
    /// A `{` or `}` that is not a whole `{name}` segment.
    #[error("segment `{0}` mixes text and a parameter; a parameter must be a whole segment")]
    PartialSegment(String),
    /// A parameter name must look like an identifier.
    #[error("parameter name `{0}` is invalid")]
    BadParamName(String),
    /// Two parameters with the same name.
    #[error("parameter `{0}` appears twice")]
    DuplicateParam(String),
    /// `{rest..}` anywhere but the last segment.
    #[error("catch-all `{{{0}..}}` is not the last segment")]
    CatchAllNotLast(String),
    /// A host pattern that is not a DNS name or `*.` followed by one.
    #[error("host `{0}` is not a valid host name or `*.domain` wildcard")]
    BadHost(String),
}

impl PatternError {
    /// One line saying how to fix the pattern, for diagnostics.
    pub fn help(&self) -> &'static str {
        match self {
            Self::NotAbsolute(_) => "write the path with a leading slash, e.g. \"/users\"",
            Self::ForbiddenChar(..) => {
                "remove it; routes match the path only (no query string, no spaces)"
            }
            Self::PartialSegment(_) => {
                "use a whole segment such as \"/files/{name}\", or `path-prefix` for literal text"
            }
            Self::BadParamName(_) => {
                "name parameters with letters, digits and `_`, e.g. \"/users/{user_id}\""
            }
            Self::DuplicateParam(_) => "give each parameter its own name",
            Self::CatchAllNotLast(_) => {
                "put `{name..}` last, e.g. \"/static/{file..}\", or use `{name}` for one segment"
            }
            Self::BadHost(_) => {
                "use a name such as \"api.example.com\" or a wildcard such as \"*.example.com\", without port"
            }
        }
    }
}

/// Which `Host` a route accepts. Compared case-insensitively; the request's port is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this name (stored lowercase).
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com` with at least one label before it
    /// (stored lowercase, as the suffix `.example.com`). Does not match `example.com` itself.
    Wildcard(String),
}

impl HostPattern {
    /// Parses `api.example.com` or `*.example.com`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let lower = text.to_ascii_lowercase();
        let bad = || PatternError::BadHost(text.to_owned());
        let (name, wildcard) = match lower.strip_prefix("*.") {
            Some(rest) => (rest, true),
            None => (lower.as_str(), false),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.is_empty() || lower.len() > MAX_HOST_LEN || !name.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(if wildcard {
            Self::Wildcard(format!(".{name}"))
        } else {
            Self::Exact(name.to_owned())
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Wildcard(suffix) => write!(f, "*{suffix}"),
        }
    }
}

/// Which paths a route accepts. Matching is on the raw (still percent-encoded) path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    /// Exactly this path; a trailing slash is significant.
    Exact(String),
    /// This path and everything below it, segment by segment: `/api` matches `/api`, `/api/`
    /// and `/api/x`, not `/apix`. Stored without trailing slash (except `/` itself).
    Prefix(String),
    /// Literal segments and `{name}` parameters, optionally ending in a `{name..}` catch-all.
    Template(Template),
}

/// A parsed `/users/{id}/files/{rest..}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
    catch_all: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(Arc<str>),
}

impl PathPattern {
    /// Parses a `path` value: a template if it contains `{`, else an exact path.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        check_chars(text)?;
        if !text.contains(['{', '}']) {
            return Ok(Self::Exact(text.to_owned()));
        }
        let mut segments = Vec::new();
        let mut catch_all = None;
        let parts: Vec<&str> = text[1..].split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            if !part.contains(['{', '}']) {
                segments.push(Segment::Literal((*part).to_owned()));
                continue;
            }
            let inner = part
                .strip_prefix('{')
                .and_then(|p| p.strip_suffix('}'))
                .filter(|p| !p.contains(['{', '}']))
                .ok_or_else(|| PatternError::PartialSegment((*part).to_owned()))?;
            let (name, rest) = match inner.strip_suffix("..") {
                Some(name) => (name, true),
                None => (inner, false),
            };
            let ident = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident {
                return Err(PatternError::BadParamName(name.to_owned()));
            }
            let taken = segments
                .iter()
                .any(|s| matches!(s, Segment::Param(p) if &**p == name));
            if taken {
                return Err(PatternError::DuplicateParam(name.to_owned()));
            }
            if rest {
                if i + 1 != parts.len() {
                    return Err(PatternError::CatchAllNotLast(name.to_owned()));
                }
                catch_all = Some(Arc::from(name));
            } else {
                segments.push(Segment::Param(Arc::from(name)));
            }
        }
        Ok(Self::Template(Template {
            text: text.to_owned(),
            segments,
            catch_all,
        }))
    }

    /// Parses a `path-prefix` value; a trailing slash is dropped (`/api/` is `/api`).
    pub fn prefix(text: &str) -> Result<Self, PatternError> {
        check_chars(text)?;
        let trimmed = text.trim_end_matches('/');
        Ok(Self::Prefix(
            if trimmed.is_empty() { "/" } else { trimmed }.to_owned(),
        ))
    }

    /// The pattern as written (prefixes normalised).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Exact(p) | Self::Prefix(p) => p,
            Self::Template(t) => &t.text,
        }
    }

    /// Whether `path` matches, without capturing anything.
    pub(super) fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => p == path,
            Self::Prefix(p) if p == "/" => path.starts_with('/'),
            Self::Prefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            Self::Template(t) => t.walk(path, |_, _| {}),
        }
    }

    /// The template's parameters in `path`, raw. Call only after [`Self::matches`].
    pub(super) fn captures(&self, path: &str) -> Vec<(Arc<str>, String)> {
        let mut params = Vec::new();
        if let Self::Template(t) = self {
            t.walk(path, |name, range| {
                params.push((name.clone(), path[range].to_owned()))
            });
        }
        params
    }

    /// Orders patterns most specific first: exact, then templates, then prefixes (longer first).
    pub(super) fn specificity(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Exact(_), Self::Exact(_)) => Ordering::Equal,
            (Self::Template(a), Self::Template(b)) => a.specificity(b),
            (Self::Prefix(a), Self::Prefix(b)) => b.len().cmp(&a.len()),
            _ => self.class().cmp(&other.class()),
        }
    }

    /// Whether both match exactly the same paths (templates equal up to parameter names).
    pub(super) fn equivalent(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Template(a), Self::Template(b)) => {
                a.kinds().eq(b.kinds())
                    && a.segments.iter().zip(&b.segments).all(|pair| match pair {
                        (Segment::Literal(x), Segment::Literal(y)) => x == y,
                        _ => true,
                    })
            }
            _ => self == other,
        }
    }

    /// A key that two patterns share exactly when they are [`equivalent`](Self::equivalent),
    /// so that equivalent routes can be found by hashing rather than by comparing all pairs.
    pub(super) fn equivalence_key(&self) -> (u8, String) {
        let text = match self {
            Self::Exact(path) | Self::Prefix(path) => path.clone(),
            Self::Template(template) => {
                let mut key = String::new();
                for segment in &template.segments {
                    key.push('/');
                    match segment {
                        Segment::Literal(text) => key.push_str(text),
                        Segment::Param(_) => key.push_str("{}"),
                    }
                }
                if template.catch_all.is_some() {
                    key.push_str("/{..}");
                }
                key
            }
        };
        (self.class(), text)
    }

    fn class(&self) -> u8 {
        match self {
            Self::Exact(_) => 0,
            Self::Template(_) => 1,
            Self::Prefix(_) => 2,
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Template {
    /// Parameter names in order, the catch-all last.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        let params = self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(&**name),
            Segment::Literal(_) => None,
        });
        params.chain(self.catch_all.as_deref())
    }

    /// Literal 0, parameter 1, catch-all 2, position by position.
    fn kinds(&self) -> impl Iterator<Item = u8> + '_ {
        let kinds = self.segments.iter().map(|s| match s {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
        });
        kinds.chain(self.catch_all.as_ref().map(|_| 2))
    }

    /// More literal segments first; then literals before parameters before a catch-all,
    /// position by position; a pattern that ends earlier comes first.
    fn specificity(&self, other: &Self) -> Ordering {
        let literals = |t: &Self| t.kinds().filter(|k| *k == 0).count();
        literals(other)
            .cmp(&literals(self))
            .then_with(|| self.kinds().cmp(other.kinds()))
    }

    /// Walks `path` segment by segment, reporting each parameter's byte range.
    fn walk(&self, path: &str, mut param: impl FnMut(&Arc<str>, Range<usize>)) -> bool {
        if !path.starts_with('/') {
            return false;
        }
        let mut pos = 1;
        for segment in &self.segments {
            if pos > path.len() {
                return false;
            }
            let end = path[pos..].find('/').map_or(path.len(), |e| pos + e);
            match segment {
                Segment::Literal(text) if path[pos..end] != **text => return false,
                Segment::Param(_) if pos == end => return false,
                Segment::Param(name) => param(name, pos..end),
                Segment::Literal(_) => {}
            }
            pos = end + 1;
        }
        match &self.catch_all {
            None => pos == path.len() + 1,
            Some(name) => {
                param(name, pos.min(path.len())..path.len());
                true
            }
        }
    }
}

fn check_chars(text: &str) -> Result<(), PatternError> {
    if !text.starts_with('/') {
        return Err(PatternError::NotAbsolute(text.to_owned()));
    }
    match text
        .chars()
        .find(|c| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control())
    {
        Some(c) => Err(PatternError::ForbiddenChar(text.to_owned(), c)),
        None => Ok(()),
    }
}
