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

/// [`one_route`] with the admin API on an ephemeral port too (for `TestGateway::admin_client`).
pub fn one_route_with_admin(upstream: &EchoUpstream, plugins: &str) -> String {
    one_route(
        upstream,
        &format!("\n[admin]\naddress = \"127.0.0.1:0\"\n{plugins}"),
    )
}

/// A manifest with a listener on an ephemeral port, an upstream `pool` of `targets`
/// (`host:port`) with `upstream` appended to its table, and one route `all` to it matching every
/// path with `route` appended to its table.
pub fn pool(targets: &[String], upstream: &str, route: &str) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.pool]
targets = [{}]
{upstream}

[routes.all]
upstream = "pool"
match.path-prefix = "/"
{route}
"#,
        targets.join(", ")
    )
}
