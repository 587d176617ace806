//! `wasm = "oci://REGISTRY/REPOSITORY:TAG"` or `...@sha256:DIGEST`: a plugin component kept in
//! an OCI registry, as Envoy, Istio and the wasm-pkg tools keep theirs (`docs/fleet.md`).
//!
//! Only the name is here, parsed and checked with the OCI distribution grammar so that a typo
//! fails `check` with the fix; pulling, verifying and caching is `oci`. A reference must say a
//! tag or a digest: an implicit `latest` would make what a gateway runs depend on when it last
//! reloaded, which is what pinning is for.

use std::fmt;

/// A component's place in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciReference {
    /// `HOST[:PORT]`, as written.
    pub registry: String,
    /// `path/to/repo`, lower case.
    pub repository: String,
    /// The tag, when one is given.
    pub tag: Option<String>,
    /// `sha256:<64 hex digits>`, when given; it wins over the tag (which is then a comment).
    pub digest: Option<String>,
}

/// Why a string is not an OCI reference; each says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciReferenceError {
    /// No `oci://`.
    #[error("an OCI reference starts with `oci://`")]
    Scheme,
    /// Nothing after the registry.
    #[error("`{0}` names a registry but no repository")]
    NoRepository(String),
    /// A host that cannot be one.
    #[error("`{0}` is not a registry host (HOST or HOST:PORT)")]
    Registry(String),
    /// A repository outside the distribution grammar.
    #[error(
        "`{0}` is not a repository name: lower-case letters, digits and `.`, `_`, `-` between \
         them, in `/`-separated parts"
    )]
    Repository(String),
    /// A tag outside the grammar.
    #[error(
        "`{0}` is not a tag: up to 128 letters, digits, `_`, `.`, `-`, not starting with `.` or `-`"
    )]
    Tag(String),
    /// A digest that is not sha256 and 64 lower-case hex digits.
    #[error("`{0}` is not a digest: write `sha256:` and 64 lower-case hex digits")]
    Digest(String),
    /// Neither tag nor digest.
    #[error("`{0}` has neither a tag nor a digest: add `:TAG` or `@sha256:DIGEST`")]
    Unpinned(String),
}

impl OciReference {
    /// Parses `oci://REGISTRY/REPOSITORY[:TAG][@sha256:HEX]`.
    pub fn parse(text: &str) -> Result<Self, OciReferenceError> {
        let rest = text
            .strip_prefix("oci://")
            .ok_or(OciReferenceError::Scheme)?;
        let (name, digest) = match rest.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (rest, None),
        };
        let (registry, path) = name
            .split_once('/')
            .ok_or_else(|| OciReferenceError::NoRepository(name.to_owned()))?;
        if !is_registry(registry) {
            return Err(OciReferenceError::Registry(registry.to_owned()));
        }
        // A `:` after the last `/` starts the tag (a port is only in the registry part).
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        };
        if repository.is_empty() {
            return Err(OciReferenceError::NoRepository(registry.to_owned()));
        }
        if !repository.split('/').all(is_path_component) {
            return Err(OciReferenceError::Repository(repository.to_owned()));
        }
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            return Err(OciReferenceError::Tag(tag.to_owned()));
        }
        if let Some(digest) = digest
            && !is_digest(digest)
        {
            return Err(OciReferenceError::Digest(digest.to_owned()));
        }
        if tag.is_none() && digest.is_none() {
            return Err(OciReferenceError::Unpinned(text.to_owned()));
        }
        Ok(Self {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// What the registry's API calls the manifest: the digest when given, else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or_default()
    }

    /// The same repository at `digest`: what a tag was resolved to.
    pub fn at_digest(&self, digest: &str) -> Self {
        Self {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether `digest` is `sha256:` and 64 lower-case hex digits (the only algorithm registries
/// are required to support, and the only one verified).
pub fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn is_registry(registry: &str) -> bool {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    host_ok && port.is_none_or(|port| port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.first().is_none_or(|b| !alnum(b)) || bytes.last().is_none_or(|b| !alnum(b)) {
        return false;
    }
    let mut separators = 0;
    for (i, b) in bytes.iter().enumerate() {
        if alnum(b) {
            separators = 0;
            continue;
        }
        separators += 1;
        let previous = bytes[i - 1];
        let ok = match b {
            b'-' => previous == b'-' || alnum(&previous),
            b'_' => separators <= 2 && (previous == b'_' || alnum(&previous)),
            b'.' => separators == 1,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    (1..=128).contains(&bytes.len())
        && bytes.first().is_some_and(word)
        && bytes.iter().all(|b| word(b) || *b == b'.' || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_tagged_reference_names_registry_repository_and_tag() {
        let reference = OciReference::parse("oci://registry.example:5000/team/auth:1.2.0").unwrap();
        assert_eq!(reference.registry, "registry.example:5000");
        assert_eq!(reference.repository, "team/auth");
        assert_eq!(reference.tag.as_deref(), Some("1.2.0"));
        assert_eq!(reference.digest, None);
        assert_eq!(reference.manifest_reference(), "1.2.0");
        assert_eq!(
            reference.to_string(),
            "oci://registry.example:5000/team/auth:1.2.0"
        );
    }

    #[test]
    fn a_digest_wins_over_a_tag_and_is_kept_in_the_name() {
        let text = format!("oci://127.0.0.1:5000/auth:v1@{DIGEST}");
        let reference = OciReference::parse(&text).unwrap();
        assert_eq!(reference.manifest_reference(), DIGEST);
        assert_eq!(reference.to_string(), text);
        let pinned = OciReference::parse(&format!("oci://ghcr.io/a/b@{DIGEST}")).unwrap();
        assert_eq!(pinned.tag, None);
    }

    #[test]
    fn every_mistake_is_named() {
        use OciReferenceError as E;
        type Expected = fn(&E) -> bool;
        let cases: &[(&str, Expected)] = &[
            ("http://reg/a:1", |e| matches!(e, E::Scheme)),
            ("oci://reg", |e| matches!(e, E::NoRepository(_))),
            ("oci://reg:99999/a:1", |e| matches!(e, E::Registry(_))),
            ("oci://reg/Auth:1", |e| matches!(e, E::Repository(_))),
            ("oci://reg/a..b:1", |e| matches!(e, E::Repository(_))),
            ("oci://reg/a:-x", |e| matches!(e, E::Tag(_))),
            ("oci://reg/a@sha256:abc", |e| matches!(e, E::Digest(_))),
            ("oci://reg/a@md5:abc", |e| matches!(e, E::Digest(_))),
            ("oci://reg/team/auth", |e| matches!(e, E::Unpinned(_))),
        ];
        for (text, expected) in cases {
            let error = OciReference::parse(text).unwrap_err();
            assert!(expected(&error), "{text}: {error:?}");
        }
    }

    #[test]
    fn repository_components_follow_the_distribution_grammar() {
        for good in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "x9/y_z/w-1"] {
            assert!(good.split('/').all(is_path_component), "{good}");
        }
        for bad in ["", "-a", "a-", "a___b", "a.-b", "A", "a/", "a b"] {
            assert!(!bad.split('/').all(is_path_component), "{bad}");
        }
    }
}
