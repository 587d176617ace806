//! REST-to-gRPC transcoding: plain HTTP/1.1 JSON requests reach the real tonic Echo server
//! through `grpc-transcode`, and its replies and statuses come back as JSON and HTTP statuses.

use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis_tests::grpc::{DESCRIPTOR_SET, GrpcUpstream};
use portcullis_tests::{TestGateway, TestResponse};
use serde_json::json;

/// The Echo service behind `/v1/...`, transcoded; `extra` adds keys to the plugin's config.
fn manifest(server: &GrpcUpstream, extra: &str) -> String {
    format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{addr}"]
protocol = "http2"

[routes.rest]
upstream = "echo"
match.path-prefix = "/v1/"

[[routes.rest.plugins]]
plugin = "grpc-transcode"
config-files-base64 = {{ descriptor-set = "{DESCRIPTOR_SET}" }}
[routes.rest.plugins.config]
timeout = "5s"
metadata = ["x-echo"]
rules = [
  {{ method = "POST", path = "/v1/echo", call = "portcullis.test.v1.Echo/Unary", body = "*" }},
  {{ method = "GET", path = "/v1/echo/{{message}}", call = "portcullis.test.v1.Echo/Unary" }},
  {{ method = "GET", path = "/v1/ticks/{{message}}", call = "portcullis.test.v1.Echo/ServerStream" }},
  {{ method = "POST", path = "/v1/shelves/{{shelf}}/books", call = "portcullis.test.v1.Echo/CreateBook", body = "book" }},
]
{extra}
"#,
        addr = server.addr()
    )
}

async fn start(extra: &str) -> (GrpcUpstream, TestGateway) {
    let server = GrpcUpstream::start().await.expect("the gRPC server starts");
    let gateway = TestGateway::start(&manifest(&server, extra)).await;
    (server, gateway)
}

async fn post(gateway: &TestGateway, path: &str, body: serde_json::Value) -> TestResponse {
    gateway
        .client()
        .send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            Bytes::from(body.to_string()),
        )
        .await
}

#[tokio::test]
async fn a_unary_call_from_a_json_body_answers_json() {
    let (_server, gateway) = start("").await;

    let response = post(&gateway, "/v1/echo", json!({ "message": "hello" })).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({ "message": "hello" }));
    for grpc in [
        "grpc-status",
        "grpc-message",
        "grpc-encoding",
        "grpc-accept-encoding",
    ] {
        assert_eq!(
            response.header(grpc),
            None,
            "{grpc} is not sent to a REST client"
        );
    }
}

#[tokio::test]
async fn path_and_query_parameters_fill_the_request_message() {
    let (_server, gateway) = start("").await;

    // `fail_with` by its original name, in the query; `message` from the path, decoded.
    let response = gateway
        .client()
        .get("/v1/echo/no%20such%20echo?fail_with=5")
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(
        response.json(),
        json!({ "code": 5, "status": "NOT_FOUND", "message": "no such echo" })
    );

    let response = gateway.client().get("/v1/echo/plain?failWith=0").await;
    assert_eq!(response.json(), json!({ "message": "plain" }));
}

#[tokio::test]
async fn chosen_request_headers_are_forwarded_as_metadata() {
    let (_server, gateway) = start("").await;

    let response = gateway
        .client()
        .get_with(
            "/v1/echo/hi",
            &[("x-echo", "from-rest"), ("x-other", "dropped")],
        )
        .await;

    assert_eq!(
        response.json(),
        json!({ "message": "hi", "echoMetadata": "from-rest" })
    );
}

#[tokio::test]
async fn grpc_statuses_become_http_statuses_with_the_message_in_a_json_body() {
    let (_server, gateway) = start("").await;
    let cases = [
        (3, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        (16, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        (7, StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        (8, StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED"),
        (12, StatusCode::NOT_IMPLEMENTED, "UNIMPLEMENTED"),
        (14, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
        (4, StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED"),
        (13, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
    ];
    for (code, http_status, name) in cases {
        let response = post(
            &gateway,
            "/v1/echo",
            json!({ "message": "why: ü", "failWith": code }),
        )
        .await;
        assert_eq!(response.status, http_status, "gRPC {name}");
        assert_eq!(
            response.json(),
            json!({ "code": code, "status": name, "message": "why: ü" })
        );
        assert_eq!(response.header("grpc-status"), None);
    }
}

#[tokio::test]
async fn server_streaming_answers_newline_delimited_json() {
    let (_server, gateway) = start("").await;

    let response = gateway.client().get("/v1/ticks/tick?count=3").await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    let text = response.text();
    assert!(
        text.ends_with('\n'),
        "every line ends with a newline: {text:?}"
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    assert_eq!(
        lines,
        [
            json!({ "message": "tick 0" }),
            json!({ "message": "tick 1", "index": 1 }),
            json!({ "message": "tick 2", "index": 2 }),
        ]
    );
}

#[tokio::test]
async fn server_streaming_answers_a_json_array_when_configured() {
    let (_server, gateway) = start(r#"stream-format = "array""#).await;

    let response = gateway.client().get("/v1/ticks/tick?count=2").await;

    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.json(),
        json!([{ "message": "tick 0" }, { "message": "tick 1", "index": 1 }])
    );

    // A stream that fails after its messages is answered by its status.
    let response = gateway
        .client()
        .get("/v1/ticks/tick?count=2&failWith=8")
        .await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_bad_body_is_a_400_naming_the_field() {
    let (_server, gateway) = start("").await;

    let unknown = post(&gateway, "/v1/echo", json!({ "mesage": "typo" })).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.json()["message"]
            .as_str()
            .unwrap()
            .contains("mesage"),
        "{}",
        unknown.text()
    );

    let wrong_type = post(
        &gateway,
        "/v1/echo",
        json!({ "message": "x", "count": "many" }),
    )
    .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong_type.json()["message"]
            .as_str()
            .unwrap()
            .contains("field `count`"),
        "{}",
        wrong_type.text()
    );

    let unknown_query = gateway.client().get("/v1/echo/x?colour=red").await;
    assert_eq!(unknown_query.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown_query.text().contains("colour"),
        "{}",
        unknown_query.text()
    );
}

#[tokio::test]
async fn a_body_bound_to_a_sub_message_fills_that_field() {
    let (_server, gateway) = start("").await;

    let response = post(
        &gateway,
        "/v1/shelves/poems/books",
        json!({ "title": "Odes", "genre": "POETRY" }),
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({ "title": "Odes", "genre": "POETRY", "shelf": "poems" })
    );
}

#[tokio::test]
async fn a_bad_field_in_a_body_bound_to_a_sub_message_is_named_by_its_full_path() {
    let (_server, gateway) = start("").await;
    let cases = [
        (json!({ "title": 5 }), "field `book.title`: invalid type"),
        (
            json!({ "title": "Odes", "genre": "EPIC" }),
            "field `book.genre`: ",
        ),
        (json!({ "titel": "Odes" }), "field `book.titel`: "),
    ];
    for (body, expected) in cases {
        let response = post(&gateway, "/v1/shelves/poems/books", body.clone()).await;

        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}");
        let message = response.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.starts_with(expected), "{body} -> {message}");
    }
}

#[tokio::test]
async fn a_rule_naming_an_unknown_method_is_a_load_error_naming_plugin_and_route() {
    let server = GrpcUpstream::start().await.expect("the gRPC server starts");
    let text = manifest(&server, "").replace("Echo/Unary\", body", "Echo/Shout\", body");

    let error = TestGateway::try_start(&text)
        .await
        .err()
        .expect("the manifest is refused");

    assert!(error.contains("grpc-transcode"), "{error}");
    assert!(error.contains("rest"), "{error}");
    assert!(error.contains("has no method `Shout`"), "{error}");
}

#[tokio::test]
async fn rules_come_from_the_google_api_http_annotations_when_the_config_has_none() {
    let server = GrpcUpstream::start().await.expect("the gRPC server starts");
    let manifest = format!(
        r#"
[listeners.public]
address = "127.0.0.1:0"

[upstreams.echo]
targets = ["{addr}"]
protocol = "http2"

[routes.annotated]
upstream = "echo"
match.path-prefix = "/v2/"

[[routes.annotated.plugins]]
plugin = "grpc-transcode"
config-files-base64 = {{ descriptor-set = "{DESCRIPTOR_SET}" }}
"#,
        addr = server.addr()
    );
    let gateway = TestGateway::start(&manifest).await;

    let by_path = gateway.client().get("/v2/echo/annotated").await;
    assert_eq!(by_path.status, StatusCode::OK, "{}", by_path.text());
    assert_eq!(by_path.json(), json!({ "message": "annotated" }));

    let by_body = post(&gateway, "/v2/echo", json!({ "message": "bound" })).await;
    assert_eq!(by_body.status, StatusCode::OK, "{}", by_body.text());
    assert_eq!(by_body.json(), json!({ "message": "bound" }));

    let stream = gateway.client().get("/v2/ticks/t?count=2").await;
    assert_eq!(stream.status, StatusCode::OK, "{}", stream.text());
    assert_eq!(stream.text().lines().count(), 2, "{}", stream.text());
}
