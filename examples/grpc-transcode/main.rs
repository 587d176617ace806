//! REST in front of gRPC, runnable: the tests' tonic Echo service (tests/proto/echo.proto) on an
//! ephemeral port, and the gateway on 127.0.0.1:8081 transcoding JSON to it with
//! `grpc-transcode`. `cargo run -p portcullis-tests --example grpc-transcode`, then the `curl`
//! lines it prints (and examples/grpc-transcode/README.md explains).

use portcullis::gateway::Running;
use portcullis::observe::access_log::Overrides;
use portcullis::plugin::RuntimeOptions;
use portcullis_tests::grpc::{DESCRIPTOR_SET, GrpcUpstream};

const GATEWAY: &str = "127.0.0.1:8081";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let server = GrpcUpstream::start().await?;
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("portcullis.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[listeners.public]
address = "{GATEWAY}"

[upstreams.echo]
targets = ["{server}"]
protocol = "http2"                      # gRPC needs HTTP/2

[routes.rest]
upstream = "echo"
match.path-prefix = "/v1/"

[[routes.rest.plugins]]
plugin = "grpc-transcode"
# The descriptor set protoc wrote (`--descriptor_set_out --include_imports`), as base64.
config-files-base64 = {{ descriptor-set = "{DESCRIPTOR_SET}" }}
[routes.rest.plugins.config]
timeout = "5s"
metadata = ["x-echo"]
stream-format = "ndjson"
rules = [
  {{ method = "POST", path = "/v1/echo", call = "portcullis.test.v1.Echo/Unary", body = "*" }},
  {{ method = "GET", path = "/v1/echo/{{message}}", call = "portcullis.test.v1.Echo/Unary" }},
  {{ method = "GET", path = "/v1/ticks/{{message}}", call = "portcullis.test.v1.Echo/ServerStream" }},
]
"#,
            server = server.addr()
        ),
    )?;
    let running =
        Running::start(&manifest, &RuntimeOptions::default(), Overrides::default()).await?;
    println!(
        "\nThe Echo gRPC service is on {}, the gateway on {GATEWAY}. Try:\n\n\
         curl -s -X POST http://{GATEWAY}/v1/echo -H 'content-type: application/json' -d '{{\"message\": \"hello\"}}'\n\
         curl -s http://{GATEWAY}/v1/echo/hi -H 'x-echo: metadata'\n\
         curl -s 'http://{GATEWAY}/v1/ticks/tick?count=3'\n\
         curl -s -i 'http://{GATEWAY}/v1/echo/gone?failWith=5'        # NOT_FOUND -> 404\n\
         curl -s -i -X POST http://{GATEWAY}/v1/echo -H 'content-type: application/json' -d '{{\"count\": \"many\"}}'   # 400\n\n\
         Ctrl-C stops.",
        server.addr()
    );
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}
