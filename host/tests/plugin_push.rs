//! `portcullis plugin push` as a plugin author meets it, against a real registry (Debian's
//! `docker-registry`, plain HTTP on a free port): a component is checked against the contract
//! before anything is sent, the digest is printed with the line to pin it, and `check` loads
//! the pinned reference. The fleet's use of the registry is specified in `tests/e2e/fleet.rs`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// docker-registry on a free port, storage in a temporary directory, killed when dropped.
struct Registry {
    child: Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("a directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("write the config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start docker-registry ({e}): install it (`apt-get install \
                     docker-registry`; `.ci/run` does this)"
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            host: format!("127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn portcullis(registry: &Registry, store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
    cmd.arg("--cache-dir")
        .arg(cache)
        .arg("--registry-plain-http")
        .arg(&registry.host)
        .arg("--plugin-store")
        .arg(store);
    cmd
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_pushed_component_prints_its_digest_and_check_loads_it_pinned() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("a directory");
    let component = dir.path().join("headers.wasm");
    std::fs::write(
        &component,
        portcullis::plugin::catalog::get("headers").expect("embedded"),
    )
    .expect("write the component");
    let reference = format!("oci://{}/team/headers:1.0.0", registry.host);

    let output = portcullis(&registry, &dir.path().join("store"))
        .args(["plugin", "push"])
        .arg(&component)
        .arg(&reference)
        .output()
        .expect("run plugin push");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains(&format!("to {reference}")), "{stdout}");
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap_or_else(|| panic!("a digest line: {stdout}"))
        .to_owned();
    let pinned = format!("oci://{}/team/headers:1.0.0@{digest}", registry.host);
    assert!(stdout.contains(&format!("wasm = \"{pinned}\"")), "{stdout}");

    let manifest = dir.path().join("portcullis.toml");
    std::fs::write(
        &manifest,
        format!(
            "[listeners.public]\naddress = \"127.0.0.1:0\"\n\n[upstreams.backend]\n\
             targets = [\"127.0.0.1:9\"]\n\n[routes.api]\nupstream = \"backend\"\n\
             match.path-prefix = \"/\"\n\n[[routes.api.plugins]]\nwasm = \"{pinned}\"\n\
             config = {{ request = {{ set = {{ x-via-registry = \"1\" }} }} }}\n"
        ),
    )
    .expect("write the manifest");
    // A fresh store: `check` pulls it.
    let output = portcullis(&registry, &dir.path().join("other-store"))
        .arg("check")
        .arg(&manifest)
        .output()
        .expect("run check");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
}

#[test]
fn what_the_gateway_would_refuse_is_not_pushed() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("a directory");
    let not_wasm = dir.path().join("plugin.wasm");
    std::fs::write(&not_wasm, "#!/bin/sh\n").expect("write");
    let output = portcullis(&registry, &dir.path().join("store"))
        .args(["plugin", "push"])
        .arg(&not_wasm)
        .arg(format!("oci://{}/team/broken:1", registry.host))
        .output()
        .expect("run plugin push");
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("not WebAssembly"), "{stderr}");

    let output = portcullis(&registry, &dir.path().join("store"))
        .args(["plugin", "push"])
        .arg(&not_wasm)
        .arg(format!("oci://{}/team/broken", registry.host))
        .output()
        .expect("run plugin push");
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("has neither a tag nor a digest"),
        "{stderr}"
    );

    // The registry holds nothing under that name.
    let output = portcullis(&registry, &dir.path().join("store"))
        .arg("check")
        .arg({
            let manifest = dir.path().join("portcullis.toml");
            std::fs::write(
                &manifest,
                format!(
                    "[listeners.public]\naddress = \"127.0.0.1:0\"\n\n[upstreams.backend]\n\
                     targets = [\"127.0.0.1:9\"]\n\n[routes.api]\nupstream = \"backend\"\n\
                     match.path-prefix = \"/\"\n\n[[routes.api.plugins]]\n\
                     wasm = \"oci://{}/team/broken:1\"\n",
                    registry.host
                ),
            )
            .expect("write the manifest");
            manifest
        })
        .output()
        .expect("run check");
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        format!("{stdout}{stderr}").contains("was not found in the registry"),
        "{stdout}{stderr}"
    );
}
