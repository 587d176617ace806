//! The registry's HTTP API (the OCI distribution spec), as far as a gateway needs it: pull one
//! artifact's manifest and component, push a component as an artifact. Every request goes
//! through a [`Session`], which answers the registry's 401 with credentials or a token and
//! follows redirects (blobs are often served by a storage service on another host, which never
//! gets the registry's credentials).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use rustls::ClientConfig;

use super::auth::{self, Challenge, Credentials, TokenAnswer};
use super::http::{Answer, Failed, exchange};
use super::layout::{self, ACCEPT as MANIFEST_ACCEPT, MAX_COMPONENT, MAX_MANIFEST, digest_of};
use super::{OciError, RegistrySettings};
use crate::config::OciReference;

/// The most redirects one request follows.
const MAX_REDIRECTS: usize = 5;

/// The largest answer that is not a manifest or a blob (errors, tokens).
const MAX_SMALL: usize = 1 << 20;

/// What a pull brings: the manifest's bytes and digest, the layer's digest, the component.
pub(super) type PulledParts = (Vec<u8>, String, String, Vec<u8>);

/// Settings shared by every pull and push.
pub(super) struct Client {
    tls: Arc<ClientConfig>,
    plain_http: Vec<String>,
    auth_file: Option<PathBuf>,
}

impl Client {
    /// TLS with the system's roots and the CA file, if any.
    pub(super) fn new(settings: &RegistrySettings) -> Result<Self, OciError> {
        Ok(Self {
            tls: crate::tls::client::general(settings.ca.as_deref()).map_err(OciError::Tls)?,
            plain_http: settings.plain_http.clone(),
            auth_file: settings.auth_file.clone(),
        })
    }

    /// Pulls `reference`'s artifact, verifying the manifest against the reference's digest (when
    /// it has one) and the component against the layer's.
    pub(super) async fn pull(&self, reference: &OciReference) -> Result<PulledParts, OciError> {
        let mut session = Session::new(self, reference, "pull")?;
        let repository = &reference.repository;
        let path = format!(
            "/v2/{repository}/manifests/{}",
            reference.manifest_reference()
        );
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let answer = session
            .send(Method::GET, &path, &headers, Bytes::new(), MAX_MANIFEST)
            .await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(OciError::NotFound {
                    reference: reference.to_string(),
                });
            }
            _ => return Err(session.unexpected("GET", &path, &answer)),
        }
        let manifest = answer.body.to_vec();
        let digest = digest_of(&manifest);
        if let Some(expected) = &reference.digest
            && *expected != digest
        {
            return Err(OciError::DigestMismatch {
                what: format!("the manifest of {reference}"),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let layer = match layout::wasm_layer(&manifest) {
            Ok(Ok(layer)) => layer,
            Ok(Err(found)) => {
                return Err(OciError::NotWasm {
                    reference: reference.to_string(),
                    found: if found.is_empty() {
                        "none".into()
                    } else {
                        found
                    },
                });
            }
            Err(what) => return Err(session.protocol(format!("{reference}: {what}"))),
        };
        if layer.size > MAX_COMPONENT {
            return Err(session.protocol(format!(
                "{reference}: the component is {} MiB, more than the {} MiB a plugin may be",
                layer.size >> 20,
                MAX_COMPONENT >> 20
            )));
        }
        let path = format!("/v2/{repository}/blobs/{}", layer.digest);
        let limit = usize::try_from(layer.size).unwrap_or(usize::MAX);
        let answer = session
            .send(Method::GET, &path, &HeaderMap::new(), Bytes::new(), limit)
            .await?;
        if answer.status != StatusCode::OK {
            return Err(session.unexpected("GET", &path, &answer));
        }
        let actual = digest_of(&answer.body);
        if actual != layer.digest {
            return Err(OciError::DigestMismatch {
                what: format!("the component of {reference}"),
                expected: layer.digest,
                actual,
            });
        }
        Ok((manifest, digest, layer.digest, answer.body.to_vec()))
    }

    /// Pushes `component` as a Wasm artifact at `reference` (its tag, else its digest) and
    /// returns the manifest's digest.
    pub(super) async fn push(
        &self,
        reference: &OciReference,
        component: &[u8],
    ) -> Result<String, OciError> {
        let mut session = Session::new(self, reference, "pull,push")?;
        let layer_digest = digest_of(component);
        let title = format!(
            "{}.wasm",
            reference.repository.rsplit('/').next().unwrap_or("plugin")
        );
        let (config, manifest) = layout::artifact(&layer_digest, component.len(), &title);
        let digest = digest_of(&manifest);
        if let Some(expected) = &reference.digest
            && *expected != digest
        {
            return Err(OciError::DigestMismatch {
                what: format!("the artifact pushed to {reference}"),
                expected: expected.clone(),
                actual: digest,
            });
        }
        session.upload(&config, &digest_of(&config)).await?;
        session.upload(component, &layer_digest).await?;
        let target = reference.tag.as_deref().unwrap_or(&digest);
        let path = format!("/v2/{}/manifests/{target}", reference.repository);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(layout::MANIFEST));
        let answer = session
            .send(Method::PUT, &path, &headers, manifest.into(), MAX_SMALL)
            .await?;
        if !matches!(answer.status, StatusCode::CREATED | StatusCode::OK) {
            return Err(session.unexpected("PUT", &path, &answer));
        }
        Ok(digest)
    }

    fn base(&self, registry: &str) -> String {
        let scheme = if self.plain_http.iter().any(|r| r == registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", api_host(registry))
    }
}

/// Where a registry's API answers: its name, but for Docker Hub, whose references say
/// `docker.io` and whose API is `registry-1.docker.io` (as Docker's own client maps it).
fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// The requests of one pull or push, with the authorization the registry asked for.
struct Session<'a> {
    client: &'a Client,
    reference: &'a OciReference,
    /// `pull` or `pull,push`: the actions a token is asked for.
    actions: &'static str,
    credentials: Option<Credentials>,
    authorization: Option<HeaderValue>,
}

impl<'a> Session<'a> {
    fn new(
        client: &'a Client,
        reference: &'a OciReference,
        actions: &'static str,
    ) -> Result<Self, OciError> {
        let file = auth::auth_file(client.auth_file.as_deref());
        let credentials = auth::credentials(file.as_deref(), &reference.registry)?;
        // A token given as it is goes on every request from the start.
        let authorization = match &credentials {
            Some(Credentials::Bearer(token)) => {
                HeaderValue::try_from(format!("Bearer {token}")).ok()
            }
            _ => None,
        };
        Ok(Self {
            client,
            reference,
            actions,
            credentials,
            authorization,
        })
    }

    /// Sends a request to the registry (`target` is a path on it, or a URL it gave), answering
    /// one 401 with authorization and following redirects. A server error counts as the
    /// registry being unreachable.
    async fn send(
        &mut self,
        method: Method,
        target: &str,
        headers: &HeaderMap,
        body: Bytes,
        limit: usize,
    ) -> Result<Answer, OciError> {
        let registry_base = self.client.base(&self.reference.registry);
        let mut url = self.url(&registry_base, target)?;
        let mut authorized = false;
        let mut redirects = 0;
        loop {
            let mut request_headers = headers.clone();
            let to_registry =
                url.authority().map(|a| a.as_str()) == Some(api_host(&self.reference.registry));
            if to_registry && let Some(value) = &self.authorization {
                request_headers.insert(AUTHORIZATION, value.clone());
            }
            let answer = exchange(
                &self.client.tls,
                method.clone(),
                &url,
                &request_headers,
                body.clone(),
                limit,
            )
            .await
            .map_err(|Failed(why)| self.unreachable(why))?;
            if answer.status == StatusCode::UNAUTHORIZED && to_registry && !authorized {
                authorized = true;
                self.authorize(&answer.headers).await?;
                continue;
            }
            if answer.status.is_redirection()
                && let Some(location) = answer.headers.get(LOCATION).and_then(|v| v.to_str().ok())
                && redirects < MAX_REDIRECTS
            {
                redirects += 1;
                url = self.url(&origin(&url), location)?;
                continue;
            }
            if answer.status.is_server_error() {
                return Err(self.unreachable(format!(
                    "{method} {} answered {}",
                    url.path(),
                    answer.status
                )));
            }
            if matches!(
                answer.status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) {
                return Err(self.denied(answer.status));
            }
            return Ok(answer);
        }
    }

    /// Uploads a blob unless the registry has it: a monolithic upload (POST, then PUT with the
    /// digest).
    async fn upload(&mut self, bytes: &[u8], digest: &str) -> Result<(), OciError> {
        let repository = &self.reference.repository;
        let path = format!("/v2/{repository}/blobs/{digest}");
        let answer = self
            .send(
                Method::HEAD,
                &path,
                &HeaderMap::new(),
                Bytes::new(),
                MAX_SMALL,
            )
            .await?;
        if answer.status == StatusCode::OK {
            return Ok(());
        }
        let path = format!("/v2/{repository}/blobs/uploads/");
        let answer = self
            .send(
                Method::POST,
                &path,
                &HeaderMap::new(),
                Bytes::new(),
                MAX_SMALL,
            )
            .await?;
        let location = answer
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|_| answer.status == StatusCode::ACCEPTED)
            .map(str::to_owned);
        let Some(location) = location else {
            return Err(self.unexpected("POST", &path, &answer));
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{separator}digest={}", auth::form_escape(digest));
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let answer = self
            .send(
                Method::PUT,
                &target,
                &headers,
                Bytes::copy_from_slice(bytes),
                MAX_SMALL,
            )
            .await?;
        if answer.status != StatusCode::CREATED {
            return Err(self.unexpected("PUT", "the upload", &answer));
        }
        Ok(())
    }

    /// Answers a 401: Basic credentials, or a token from the service the challenge names.
    async fn authorize(&mut self, headers: &HeaderMap) -> Result<(), OciError> {
        let challenge = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(auth::challenge);
        let value = match challenge {
            Some(Challenge::Basic) => self
                .credentials
                .as_ref()
                .and_then(Credentials::basic_header)
                .ok_or_else(|| self.denied(StatusCode::UNAUTHORIZED))?,
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope = scope.unwrap_or_else(|| {
                    format!("repository:{}:{}", self.reference.repository, self.actions)
                });
                format!(
                    "Bearer {}",
                    self.token(&realm, service.as_deref(), &scope).await?
                )
            }
            None => return Err(self.denied(StatusCode::UNAUTHORIZED)),
        };
        self.authorization = Some(
            HeaderValue::try_from(value)
                .map_err(|_| self.protocol("the credentials cannot go in a header".into()))?,
        );
        Ok(())
    }

    /// A token for `scope` from the token service at `realm`: anonymous, with Basic credentials,
    /// or (an identity token) by OAuth2's refresh-token grant.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, OciError> {
        let mut query = vec![("scope", scope)];
        if let Some(service) = service {
            query.push(("service", service));
        }
        let mut headers = HeaderMap::new();
        let (method, url, body) = match &self.credentials {
            Some(Credentials::Identity(refresh)) => {
                let mut form = query.clone();
                form.extend([
                    ("grant_type", "refresh_token"),
                    ("client_id", "portcullis"),
                    ("refresh_token", refresh.as_str()),
                ]);
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                (Method::POST, realm.to_owned(), Bytes::from(encode(&form)))
            }
            credentials => {
                if let Some(value) = credentials.as_ref().and_then(Credentials::basic_header)
                    && let Ok(value) = HeaderValue::try_from(value)
                {
                    headers.insert(AUTHORIZATION, value);
                }
                let separator = if realm.contains('?') { '&' } else { '?' };
                (
                    Method::GET,
                    format!("{realm}{separator}{}", encode(&query)),
                    Bytes::new(),
                )
            }
        };
        let url: Uri = url
            .parse()
            .map_err(|_| self.protocol(format!("the token service `{realm}` is not a URL")))?;
        let answer = exchange(&self.client.tls, method, &url, &headers, body, MAX_SMALL)
            .await
            .map_err(|Failed(why)| self.unreachable(format!("its token service {realm}: {why}")))?;
        if answer.status.is_server_error() {
            return Err(self.unreachable(format!("its token service answered {}", answer.status)));
        }
        if !answer.status.is_success() {
            return Err(self.denied(answer.status));
        }
        serde_json::from_slice::<TokenAnswer>(&answer.body)
            .ok()
            .and_then(TokenAnswer::into_token)
            .ok_or_else(|| self.protocol(format!("the token service {realm} gave no token")))
    }

    fn url(&self, base: &str, target: &str) -> Result<Uri, OciError> {
        let text = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_owned()
        } else {
            format!("{base}{target}")
        };
        text.parse()
            .map_err(|_| self.protocol(format!("`{text}` is not a URL")))
    }

    fn unreachable(&self, why: String) -> OciError {
        OciError::Unreachable {
            registry: self.reference.registry.clone(),
            why,
        }
    }

    fn protocol(&self, what: String) -> OciError {
        OciError::Protocol {
            registry: self.reference.registry.clone(),
            what,
        }
    }

    fn denied(&self, status: StatusCode) -> OciError {
        let file = auth::auth_file(self.client.auth_file.as_deref());
        let where_ = file.as_ref().map_or_else(
            || "--registry-auth FILE (a Docker config.json) or ~/.docker/config.json".to_owned(),
            |f| f.display().to_string(),
        );
        let hint = match &self.credentials {
            None => format!(
                "no credentials for {} in {where_}: `docker login {}` (or `oras login`) writes them",
                self.reference.registry, self.reference.registry
            ),
            Some(_) => format!(
                "check the credentials for {} in {where_} and their rights on the repository ({})",
                self.reference.registry, self.actions
            ),
        };
        OciError::Denied {
            registry: self.reference.registry.clone(),
            repository: self.reference.repository.clone(),
            status: status.as_u16(),
            hint,
        }
    }

    fn unexpected(&self, method: &str, what: &str, answer: &Answer) -> OciError {
        let text = String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)]).into_owned();
        self.protocol(format!(
            "{method} {what} answered {}: {}",
            answer.status,
            text.trim()
        ))
    }
}

/// `scheme://authority` of `url`, to resolve a relative `Location` against.
fn origin(url: &Uri) -> String {
    format!(
        "{}://{}",
        url.scheme_str().unwrap_or("https"),
        url.authority().map_or("", |a| a.as_str())
    )
}

fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", auth::form_escape(value)))
        .collect::<Vec<_>>()
        .join("&")
}
