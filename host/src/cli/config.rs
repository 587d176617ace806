//! `portcullis config push` and `portcullis config get`: the manifest of a fleet, in etcd
//! (`docs/fleet.md`); and the etcd flags that `run` shares.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::config::{ConfigSource, EtcdSource, EtcdTls};
use crate::plugin::{Runtime, RuntimeOptions};
use crate::reload::cache::ManifestCache;
use crate::reload::etcd;

/// How to reach etcd, beyond its URL.
#[derive(Debug, Args)]
pub(super) struct EtcdArgs {
    /// The CA certificate (PEM) that signed etcd's server certificates; with it (or a client
    /// certificate), the connection to etcd uses TLS.
    #[arg(long, value_name = "PEM", env = "PORTCULLIS_ETCD_CA")]
    etcd_ca: Option<PathBuf>,
    /// A client certificate (PEM) for etcd, with --etcd-key.
    #[arg(long, value_name = "PEM", env = "PORTCULLIS_ETCD_CERT")]
    etcd_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "PEM", env = "PORTCULLIS_ETCD_KEY")]
    etcd_key: Option<PathBuf>,
    /// A user of etcd's authentication; its password comes from --etcd-password or, better
    /// (it stays out of process lists), PORTCULLIS_ETCD_PASSWORD.
    #[arg(long, env = "PORTCULLIS_ETCD_USER")]
    etcd_user: Option<String>,
    /// The password of --etcd-user.
    #[arg(long, env = "PORTCULLIS_ETCD_PASSWORD", hide_env_values = true)]
    etcd_password: Option<String>,
}

impl EtcdArgs {
    /// `url` with these settings; an error says what is missing.
    pub(super) fn source(&self, url: &str) -> Result<EtcdSource, String> {
        let mut source = EtcdSource::parse(url).map_err(|e| e.to_string())?;
        if self.etcd_ca.is_some() || self.etcd_cert.is_some() || self.etcd_key.is_some() {
            source.tls = Some(EtcdTls {
                ca: self.etcd_ca.clone(),
                cert: self.etcd_cert.clone(),
                key: self.etcd_key.clone(),
            });
        }
        source.user = match (&self.etcd_user, &self.etcd_password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            (Some(_), None) => {
                return Err("--etcd-user needs a password: set PORTCULLIS_ETCD_PASSWORD".into());
            }
            (None, Some(_)) => return Err("a password was given without --etcd-user".into()),
        };
        Ok(source)
    }

    /// Whether a flag was given, which only makes sense with an etcd source.
    pub(super) fn any(&self) -> bool {
        self.etcd_ca.is_some()
            || self.etcd_cert.is_some()
            || self.etcd_key.is_some()
            || self.etcd_user.is_some()
    }
}

/// Where `run` keeps the last good manifest from etcd.
pub(super) fn cache_dir(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(ManifestCache::default_dir)
}

/// `portcullis config ...`.
#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// Check a manifest exactly as `check` does (plugins compiled and initialized with their
    /// config), as a manifest from etcd (every path absolute), and write it to etcd only if it
    /// is valid. Prints the new revision; every gateway watching the key reloads it.
    Push {
        /// etcd://HOST:PORT[,HOST:PORT]/PREFIX; the manifest goes to the key PREFIX/manifest.
        url: String,
        /// The manifest (TOML).
        manifest: PathBuf,
        #[command(flatten)]
        etcd: EtcdArgs,
    },
    /// Print the manifest stored in etcd (its revision goes to standard error).
    Get {
        /// etcd://HOST:PORT[,HOST:PORT]/PREFIX.
        url: String,
        #[command(flatten)]
        etcd: EtcdArgs,
    },
}

impl ConfigCommand {
    pub(super) async fn run(self, options: RuntimeOptions) -> ExitCode {
        match self {
            Self::Push {
                url,
                manifest,
                etcd,
            } => {
                let source = match etcd.source(&url) {
                    Ok(source) => source,
                    Err(e) => return fail(e),
                };
                let runtime = match Runtime::new(&options) {
                    Ok(runtime) => runtime,
                    Err(e) => return fail(e),
                };
                match etcd::push(&runtime, &source, &manifest).await {
                    Ok(revision) => {
                        println!(
                            "{}: ok, written to {} at revision {revision}",
                            manifest.display(),
                            source.manifest_name()
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            }
            Self::Get { url, etcd } => {
                let source = match etcd.source(&url) {
                    Ok(source) => source,
                    Err(e) => return fail(e),
                };
                let fetched = async {
                    let mut client = etcd::connect(&source).await?;
                    etcd::fetch(&mut client, &source).await
                };
                match fetched.await {
                    Ok(etcd::Fetched {
                        manifest: Some(Ok(manifest)),
                        ..
                    }) => {
                        eprintln!("{} at revision {}", manifest.name, manifest.revision);
                        print!("{}", manifest.text);
                        ExitCode::SUCCESS
                    }
                    Ok(etcd::Fetched {
                        manifest: Some(Err((_, reason))),
                        ..
                    }) => fail(reason),
                    Ok(etcd::Fetched { manifest: None, .. }) => fail(format!(
                        "no manifest at {}; write one with `portcullis config push`",
                        source.manifest_name()
                    )),
                    Err(e) => fail(format!(
                        "cannot read from etcd at {}: {e}",
                        source.endpoints.join(",")
                    )),
                }
            }
        }
    }
}

/// Where `run` reads the manifest: MANIFEST or --config, a file or an etcd URL.
pub(super) fn run_source(
    manifest: Option<String>,
    config: Option<String>,
    etcd: &EtcdArgs,
) -> Result<ConfigSource, String> {
    let given = manifest
        .or(config)
        .ok_or("name the manifest: a file, or --config etcd://HOST:PORT/PREFIX")?;
    let source = ConfigSource::parse(&given).map_err(|e| e.to_string())?;
    match source {
        ConfigSource::Etcd(_) => Ok(ConfigSource::Etcd(etcd.source(&given)?)),
        ConfigSource::File(_) if etcd.any() => {
            Err("the --etcd-* flags need an etcd source: --config etcd://HOST:PORT/PREFIX".into())
        }
        file => Ok(file),
    }
}

fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}
