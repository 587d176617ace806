//! TLS to Redis: the `tls` table's PEM files read and checked when the store is built, so that
//! a missing or wrong file is a load error naming it (and where it is written), not a failure
//! of every state call. The handshake itself is rustls (ring) inside the redis crate; servers
//! are always verified, against `ca` or the system's roots.

use std::ops::Range;
use std::path::Path;

use redis::{ClientTlsConfig, TlsCertificates};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::RedisTls;
use crate::state::SetupError;

/// The certificates the redis crate takes; `None` when neither a CA nor a client certificate
/// is given (the system's roots, no client authentication).
pub(super) fn certificates(tls: &RedisTls) -> Result<Option<TlsCertificates>, SetupError> {
    if tls.ca.is_none() && tls.client.is_none() {
        return Ok(None);
    }
    let root_cert = match &tls.ca {
        Some(path) => {
            let pem = read(path, "CA file", &tls.spans.ca)?;
            certificate_count(&pem, path, "CA file", &tls.spans.ca)?;
            Some(pem)
        }
        None => None,
    };
    let client_tls = match &tls.client {
        Some((cert, key)) => {
            let client_cert = read(cert, "client certificate file", &tls.spans.cert)?;
            certificate_count(
                &client_cert,
                cert,
                "client certificate file",
                &tls.spans.cert,
            )?;
            let client_key = read(key, "client key file", &tls.spans.key)?;
            if let Err(e) = PrivateKeyDer::from_pem_slice(&client_key) {
                return Err(invalid(
                    key,
                    "client key file",
                    &tls.spans.key,
                    format!("holds no usable private key ({e})"),
                ));
            }
            Some(ClientTlsConfig {
                client_cert,
                client_key,
            })
        }
        None => None,
    };
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

fn read(path: &Path, what: &'static str, span: &Range<usize>) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|e| invalid(path, what, span, format!("cannot be read: {e}")))
}

/// Checks that `pem` holds at least one certificate, all of them well formed.
fn certificate_count(
    pem: &[u8],
    path: &Path,
    what: &'static str,
    span: &Range<usize>,
) -> Result<usize, SetupError> {
    let certificates: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certificates {
        Ok(list) if !list.is_empty() => Ok(list.len()),
        Ok(_) => Err(invalid(
            path,
            what,
            span,
            "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into(),
        )),
        Err(e) => Err(invalid(
            path,
            what,
            span,
            format!("holds a certificate that cannot be read: {e}"),
        )),
    }
}

fn invalid(path: &Path, what: &'static str, span: &Range<usize>, problem: String) -> SetupError {
    SetupError::TlsFile {
        what,
        path: path.display().to_string(),
        problem,
        span: span.clone(),
    }
}
