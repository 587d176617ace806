//! Manifests for tests: most tests need one listener, one echo upstream and one catch-all route,
//! and differ only in the route's plugins.

use crate::EchoUpstream;

/// A manifest with a listener on an ephemeral port, `upstream` as `echo`, and one route `api`
/// matching every path; `plugins` is appended as written (`[[routes.api.plugins]]` entries).
pub fn one_route(upstream: &EchoUpstream, plugins: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/"
{plugins}"#,
        upstream.authority()
    )
}
