//! Span export over OTLP/HTTP (`[tracing]`): a real receiver on 127.0.0.1 gets, for a traced
//! request, the request's server span (continuing the caller's trace), one span per plugin call
//! and the upstream call's client span, whose id is the parent id the upstream received. New
//! traces follow `sample-ratio`; a collector that is down fails no request.

use portcullis_tests::otlp::{OtlpReceiver, Received};
use portcullis_tests::{EchoUpstream, TestGateway};

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn manifest(upstream: &EchoUpstream, tracing: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[tracing]
{tracing}

[upstreams.echo]
targets = ["{}"]

[routes.api]
upstream = "echo"
match.path-prefix = "/"

[[routes.api.plugins]]
wasm = "@MISBEHAVE@"
name = "tagger"
config = {{ mode = "context" }}
"#,
        upstream.authority()
    )
}

fn named<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    spans
        .iter()
        .find(|s| s.span.name == name)
        .unwrap_or_else(|| panic!("no span `{name}` in {spans:#?}"))
}

#[tokio::test]
async fn a_traced_request_exports_its_span_its_plugin_calls_and_its_upstream_call() {
    let receiver = OtlpReceiver::start().await;
    let upstream = EchoUpstream::start("echo").await;
    let tracing = format!(
        "service-name = \"edge\"\notlp = {{ endpoint = \"{}\" }}",
        receiver.endpoint()
    );
    let gateway = TestGateway::start(&manifest(&upstream, &tracing)).await;
    let response = gateway
        .client()
        .get_with(
            "/orders",
            &[("traceparent", INCOMING), ("x-request-id", "t-1")],
        )
        .await;
    assert_eq!(response.status, 200);
    let sent = response.upstream_saw_header("traceparent");
    let upstream_parent = sent[0].split('-').nth(2).expect("a parent id").to_owned();

    let spans = receiver.wait_for_trace(TRACE_ID, 4).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let server = named(&spans, "GET api");
    assert_eq!(server.span.kind, 2, "server");
    assert_eq!(server.parent_id(), CALLER_SPAN);
    assert_eq!(
        server.attribute("http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(server.attribute("url.path").as_deref(), Some("/orders"));
    assert_eq!(
        server.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(server.attribute("portcullis.route").as_deref(), Some("api"));
    assert_eq!(
        server.attribute("portcullis.request_id").as_deref(),
        Some("t-1")
    );
    assert_eq!(
        server.resource_attribute("service.name").as_deref(),
        Some("edge")
    );
    assert!(server.span.start_time_unix_nano <= server.span.end_time_unix_nano);

    for (phase, outcome) in [("on-request", "continue"), ("on-response", "ok")] {
        let call = named(&spans, &format!("plugin tagger {phase}"));
        assert_eq!(call.span.kind, 1, "internal");
        assert_eq!(call.parent_id(), server.span_id());
        assert_eq!(
            call.attribute("portcullis.plugin").as_deref(),
            Some("tagger")
        );
        assert_eq!(call.attribute("portcullis.route").as_deref(), Some("api"));
        assert_eq!(call.attribute("portcullis.phase").as_deref(), Some(phase));
        assert_eq!(
            call.attribute("portcullis.outcome").as_deref(),
            Some(outcome)
        );
    }

    let client = named(&spans, "upstream echo");
    assert_eq!(client.span.kind, 3, "client");
    assert_eq!(client.parent_id(), server.span_id());
    // The upstream's own spans will hang under this one.
    assert_eq!(client.span_id(), upstream_parent);
    assert_eq!(
        client.attribute("server.address"),
        Some(upstream.authority())
    );
    let ids: std::collections::HashSet<_> = spans.iter().map(Received::span_id).collect();
    assert_eq!(ids.len(), 4, "span ids are distinct");
}

#[tokio::test]
async fn new_traces_follow_the_sample_ratio_and_continued_ones_the_callers_flag() {
    let receiver = OtlpReceiver::start().await;
    let upstream = EchoUpstream::start("echo").await;
    let tracing = format!(
        "sample-ratio = 0\notlp = {{ endpoint = \"{}\" }}",
        receiver.endpoint()
    );
    let gateway = TestGateway::start(&manifest(&upstream, &tracing)).await;
    let client = gateway.client();
    // A trace that starts here is not sampled, and the upstream is told so.
    let unsampled = client.get("/first").await;
    let sent = unsampled.upstream_saw_header("traceparent");
    assert!(sent[0].ends_with("-00"), "{sent:?}");
    let unsampled_trace = sent[0].split('-').nth(1).expect("a trace id").to_owned();
    // A caller's sampled trace is exported whatever the ratio.
    client
        .get_with("/second", &[("traceparent", INCOMING)])
        .await;

    receiver.wait_for_trace(TRACE_ID, 4).await;
    // Spans leave in the order requests end: the first request's would have come first.
    assert!(
        receiver
            .spans()
            .iter()
            .all(|s| s.trace_id() != unsampled_trace),
        "{:#?}",
        receiver.spans()
    );
}

#[tokio::test]
async fn a_collector_that_is_down_fails_no_request() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = closed.local_addr().expect("an address");
    drop(closed);
    let upstream = EchoUpstream::start("echo").await;
    let tracing = format!("otlp = {{ endpoint = \"http://{address}\" }}");
    let gateway = TestGateway::start(&manifest(&upstream, &tracing)).await;
    for _ in 0..5 {
        let response = gateway
            .client()
            .get_with("/", &[("traceparent", INCOMING)])
            .await;
        assert_eq!(response.status, 200);
    }
}
