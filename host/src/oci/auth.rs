//! Registry credentials and the two ways registries ask for them. Credentials come from a
//! Docker-style `config.json` (what `docker login`, `oras login`, `helm registry login` write and
//! what a Kubernetes pull secret holds), read at each pull so that rotated ones are used without
//! a restart. A registry answering 401 says how it wants them (`WWW-Authenticate`): `Basic`
//! takes them on every request; `Bearer` sends us to a token service, which takes them (or
//! none, for anonymous pulls) and gives a token for the repository and actions asked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::OciError;

/// What the credentials file holds for one registry.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Credentials {
    /// A user and password (or a personal access token as the password).
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A token the registry takes as it is (`registrytoken`).
    Bearer(String),
    /// An OAuth2 refresh token for the registry's token service (`identitytoken`).
    Identity(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { user, .. } => write!(f, "Basic({user}, <hidden>)"),
            Self::Bearer(_) => f.write_str("Bearer(<hidden>)"),
            Self::Identity(_) => f.write_str("Identity(<hidden>)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` value of Basic credentials.
    pub(super) fn basic_header(&self) -> Option<String> {
        match self {
            Self::Basic { user, password } => Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{user}:{password}"))
            )),
            _ => None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, DockerAuth>,
}

#[derive(Debug, Default, Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

/// The credentials file to read: the one given, else Docker's when it exists.
pub(super) fn auth_file(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(given) = given {
        return Some(given.to_owned());
    }
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|home| home.join(".docker")))?;
    Some(dir.join("config.json")).filter(|file| file.is_file())
}

/// The credentials for `registry` in `file`, if it has some. A file given but unreadable or
/// malformed is an error (credentials silently missing would look like a denied pull).
pub(super) fn credentials(
    file: Option<&Path>,
    registry: &str,
) -> Result<Option<Credentials>, OciError> {
    let Some(file) = file else {
        return Ok(None);
    };
    let error = |why: String| OciError::AuthFile {
        path: file.to_owned(),
        why,
    };
    let text = std::fs::read_to_string(file).map_err(|e| error(format!("cannot be read: {e}")))?;
    let config: DockerConfig =
        serde_json::from_str(&text).map_err(|e| error(format!("is not valid JSON: {e}")))?;
    let Some(entry) = config
        .auths
        .iter()
        .find(|(key, _)| canonical(registry_of(key)) == canonical(registry))
        .map(|(_, entry)| entry)
    else {
        return Ok(None);
    };
    if let Some(token) = &entry.registrytoken {
        return Ok(Some(Credentials::Bearer(token.clone())));
    }
    if let Some(token) = &entry.identitytoken {
        return Ok(Some(Credentials::Identity(token.clone())));
    }
    if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials::Basic {
            user: user.clone(),
            password: password.clone(),
        }));
    }
    if let Some(auth) = &entry.auth {
        let decoded = STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                error(format!(
                    "`auth` of `{registry}` is not base64 of user:password"
                ))
            })?;
        let (user, password) = decoded.split_once(':').ok_or_else(|| {
            error(format!(
                "`auth` of `{registry}` is not base64 of user:password"
            ))
        })?;
        return Ok(Some(Credentials::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        }));
    }
    Err(error(format!(
        "the entry of `{registry}` has no `auth`, `username`/`password`, `identitytoken` or \
         `registrytoken` (credential helpers are not run: write the credentials in the file)"
    )))
}

/// Docker Hub goes by three names; `docker login` files it under `https://index.docker.io/v1/`.
fn canonical(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

/// `https://reg:5000/v1/` and `reg:5000` are both the registry `reg:5000`.
fn registry_of(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// What a 401's `WWW-Authenticate` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    /// Credentials on every request.
    Basic,
    /// A token from `realm`, for `service` and `scope`.
    Bearer {
        /// The token service's URL.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The `scope` parameter to pass on.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value: a scheme, then `key="value"` pairs separated by commas
/// (values may hold commas inside their quotes: `scope="repository:a:pull,push"`).
pub(super) fn challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut parameters = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        parameters.insert(key, value.to_owned());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: parameters.remove("realm")?,
        service: parameters.remove("service"),
        scope: parameters.remove("scope"),
    })
}

/// A token service's answer (`token`, or OAuth2's `access_token`).
#[derive(Debug, Deserialize)]
pub(super) struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

impl TokenAnswer {
    /// The token.
    pub(super) fn into_token(self) -> Option<String> {
        self.token.or(self.access_token).filter(|t| !t.is_empty())
    }
}

/// `application/x-www-form-urlencoded` escaping of one value.
pub(super) fn form_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_keeps_commas_inside_quotes() {
        let value = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/auth:pull,push""#;
        assert_eq!(
            challenge(value),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:team/auth:pull,push".into()),
            })
        );
        assert_eq!(
            challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(challenge("Negotiate"), None);
        assert_eq!(
            challenge(r#"Bearer service="x""#),
            None,
            "a realm is required"
        );
    }

    #[test]
    fn credentials_are_found_by_registry_in_every_spelling_docker_writes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        let auth = STANDARD.encode("ci:s3cret");
        std::fs::write(
            &file,
            format!(
                r#"{{"auths":{{"https://reg.example:5000/v1/":{{"auth":"{auth}"}},
                "ghcr.io":{{"username":"bot","password":"pat"}},
                "token.example":{{"registrytoken":"abc"}}}}}}"#
            ),
        )
        .unwrap();
        let found = |registry| credentials(Some(&file), registry).unwrap();
        assert_eq!(
            found("reg.example:5000"),
            Some(Credentials::Basic {
                user: "ci".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(
            found("ghcr.io").and_then(|c| c.basic_header()),
            Some(format!("Basic {}", STANDARD.encode("bot:pat")))
        );
        assert_eq!(
            found("token.example"),
            Some(Credentials::Bearer("abc".into()))
        );
        assert_eq!(found("other.example"), None);
        std::fs::write(
            &file,
            format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
        assert!(
            found("docker.io").is_some(),
            "Docker Hub by the name docker login files"
        );
    }

    #[test]
    fn a_malformed_credentials_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, "{not json").unwrap();
        let error = credentials(Some(&file), "reg").unwrap_err().to_string();
        assert!(
            error.contains("config.json") && error.contains("not valid JSON"),
            "{error}"
        );
        std::fs::write(&file, r#"{"auths":{"reg":{"credsStore":"x"}}}"#).unwrap();
        let error = credentials(Some(&file), "reg").unwrap_err().to_string();
        assert!(error.contains("credential helpers are not run"), "{error}");
    }
}
