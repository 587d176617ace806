//! Native tests of the transcoding core: templates, request building, frames, statuses and the
//! config checks, on a descriptor set built in code.

use base64::Engine;
use prost::Message;
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto, ServiceDescriptorProto,
    field_descriptor_proto::{Label, Type},
};
use serde_json::json;

use super::*;
use crate::config::BodyBinding;
use crate::template::Template;

fn field(name: &str, json_name: &str, number: i32, ty: Type, label: Label) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        json_name: Some(json_name.into()),
        number: Some(number),
        r#type: Some(ty as i32),
        label: Some(label as i32),
        ..Default::default()
    }
}

/// A field of a message or enum type (`.test.Book`).
fn typed_field(
    name: &str,
    number: i32,
    ty: Type,
    type_name: &str,
    label: Label,
) -> FieldDescriptorProto {
    FieldDescriptorProto {
        type_name: Some(type_name.into()),
        ..field(name, name, number, ty, label)
    }
}

/// `Book { title, genre: Genre, authors: [Author { name }] }`, the sub-message `Req.book`.
fn book_types() -> (Vec<DescriptorProto>, EnumDescriptorProto) {
    let author = DescriptorProto {
        name: Some("Author".into()),
        field: vec![field("name", "name", 1, Type::String, Label::Optional)],
        ..Default::default()
    };
    let book = DescriptorProto {
        name: Some("Book".into()),
        field: vec![
            field("title", "title", 1, Type::String, Label::Optional),
            typed_field("genre", 2, Type::Enum, ".test.Genre", Label::Optional),
            typed_field("authors", 3, Type::Message, ".test.Author", Label::Repeated),
        ],
        ..Default::default()
    };
    let value = |name: &str, number| EnumValueDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        ..Default::default()
    };
    let genre = EnumDescriptorProto {
        name: Some("Genre".into()),
        value: vec![value("GENRE_UNSPECIFIED", 0), value("POETRY", 1)],
        ..Default::default()
    };
    (vec![author, book], genre)
}

/// `test.Echo/Unary(Req) returns (Reply)` and a server-streaming `Ticks`.
fn descriptor_set() -> String {
    let req = DescriptorProto {
        name: Some("Req".into()),
        field: vec![
            field("message", "message", 1, Type::String, Label::Optional),
            field("fail_with", "failWith", 2, Type::Int32, Label::Optional),
            field("big", "big", 3, Type::Int64, Label::Optional),
            field("loud", "loud", 4, Type::Bool, Label::Optional),
            field("tags", "tags", 5, Type::String, Label::Repeated),
            typed_field("book", 6, Type::Message, ".test.Book", Label::Optional),
        ],
        ..Default::default()
    };
    let (mut message_type, genre) = book_types();
    message_type.push(req);
    let file = FileDescriptorProto {
        name: Some("test.proto".into()),
        package: Some("test".into()),
        syntax: Some("proto3".into()),
        message_type,
        enum_type: vec![genre],
        service: vec![ServiceDescriptorProto {
            name: Some("Echo".into()),
            method: vec![
                MethodDescriptorProto {
                    name: Some("Unary".into()),
                    input_type: Some(".test.Req".into()),
                    output_type: Some(".test.Req".into()),
                    ..Default::default()
                },
                MethodDescriptorProto {
                    name: Some("Ticks".into()),
                    input_type: Some(".test.Req".into()),
                    output_type: Some(".test.Req".into()),
                    server_streaming: Some(true),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let set = FileDescriptorSet { file: vec![file] };
    base64::engine::general_purpose::STANDARD.encode(set.encode_to_vec())
}

fn config(rules: serde_json::Value) -> Config {
    serde_json::from_value(json!({ "descriptor-set": descriptor_set(), "rules": rules })).unwrap()
}

fn compiled() -> Compiled {
    Compiled::new(&config(json!([
        { "method": "POST", "path": "/v1/echo", "call": "test.Echo/Unary", "body": "*" },
        { "method": "GET", "path": "/v1/echo/{message}", "call": "test.Echo/Unary" },
    ])))
    .unwrap()
}

#[test]
fn templates_bind_fields_and_decode_them() {
    let t = Template::parse("/v1/shelves/{shelf}/books/{name=**}").unwrap();
    assert_eq!(
        t.matches("/v1/shelves/a%20b/books/x/y"),
        Some(vec![
            ("shelf".into(), "a b".into()),
            ("name".into(), "x/y".into())
        ])
    );
    assert_eq!(t.matches("/v1/shelves/a/books"), None);
    assert_eq!(t.matches("/v1/shelves/a/cds/x"), None);
    assert!(Template::parse("/v1/{a=x/*}").is_err());
    assert!(Template::parse("v1").is_err());
}

#[test]
fn the_request_message_takes_body_query_and_path_by_the_json_mapping() {
    let c = compiled();
    let input = c.rules[0].call.input();
    let message = message::build_request(
        &input,
        &BodyBinding::Whole,
        br#"{"failWith": 3, "big": "9007199254740993", "tags": ["a"]}"#,
        &[("message".into(), "from the path".into())],
        &[],
    )
    .unwrap();
    let back = message::to_json(&input, &message.encode_to_vec()).unwrap();
    assert_eq!(
        back,
        json!({ "message": "from the path", "failWith": 3, "big": "9007199254740993", "tags": ["a"] })
    );

    let message = message::build_request(
        &input,
        &BodyBinding::None,
        b"",
        &[],
        &[
            ("loud".into(), "true".into()),
            ("tags".into(), "a".into()),
            ("tags".into(), "b".into()),
            ("fail_with".into(), "7".into()),
        ],
    )
    .unwrap();
    assert_eq!(
        message::to_json(&input, &message.encode_to_vec()).unwrap(),
        json!({ "failWith": 7, "loud": true, "tags": ["a", "b"] })
    );
}

#[test]
fn a_wrong_type_or_an_unknown_field_names_the_field() {
    let c = compiled();
    let input = c.rules[0].call.input();
    let build = |body: &[u8], query: &[(String, String)]| {
        message::build_request(&input, &BodyBinding::Whole, body, &[], query).unwrap_err()
    };
    assert!(build(br#"{"failWith": "x"}"#, &[]).contains("field `failWith`"));
    assert!(build(br#"{"nope": 1}"#, &[]).contains("nope"));
    assert!(build(b"[1]", &[]).contains("JSON object"));
    let err = message::build_request(
        &input,
        &BodyBinding::None,
        b"",
        &[],
        &[("loud".into(), "maybe".into())],
    )
    .unwrap_err();
    assert!(err.contains("query parameter `loud`"), "{err}");
}

#[test]
fn a_body_bound_to_a_sub_message_names_the_full_path_of_a_bad_field() {
    let c = compiled();
    let input = c.rules[0].call.input();
    let into_book = |body: &[u8]| {
        message::build_request(&input, &BodyBinding::Field("book".into()), body, &[], &[])
    };

    let wrong_type = into_book(br#"{"title": 5}"#).unwrap_err();
    assert!(
        wrong_type.starts_with("field `book.title`: invalid type"),
        "{wrong_type}"
    );
    let unknown_enum = into_book(br#"{"title": "Odes", "genre": "EPIC"}"#).unwrap_err();
    assert!(
        unknown_enum.starts_with("field `book.genre`: "),
        "{unknown_enum}"
    );
    assert!(unknown_enum.contains("EPIC"), "{unknown_enum}");
    let in_a_list = into_book(br#"{"authors": [{"name": "Keats"}, {"name": 3}]}"#).unwrap_err();
    assert!(
        in_a_list.starts_with("field `book.authors[1].name`: "),
        "{in_a_list}"
    );
    let unknown_field = into_book(br#"{"titel": "Odes"}"#).unwrap_err();
    assert!(
        unknown_field.starts_with("field `book.titel`: "),
        "{unknown_field}"
    );

    let good = into_book(br#"{"title": "Odes", "genre": "POETRY"}"#).unwrap();
    assert_eq!(
        message::to_json(&input, &good.encode_to_vec()).unwrap(),
        json!({ "book": { "title": "Odes", "genre": "POETRY" } })
    );
}

#[test]
fn a_whole_body_names_the_full_path_of_a_bad_nested_field() {
    let c = compiled();
    let input = c.rules[0].call.input();
    let err = message::build_request(
        &input,
        &BodyBinding::Whole,
        br#"{"message": "x", "book": {"title": ["not", "a", "string"]}}"#,
        &[],
        &[],
    )
    .unwrap_err();
    assert!(err.starts_with("field `book.title`: "), "{err}");
    let book_not_an_object =
        message::build_request(&input, &BodyBinding::Whole, br#"{"book": 5}"#, &[], &[])
            .unwrap_err();
    assert!(
        book_not_an_object.starts_with("field `book`: "),
        "{book_not_an_object}"
    );
}

#[test]
fn frames_round_trip_and_cut_frames_are_refused() {
    let c = compiled();
    let input = c.rules[0].call.input();
    let message = message::build_request(
        &input,
        &BodyBinding::None,
        b"",
        &[("message".into(), "hi".into())],
        &[],
    )
    .unwrap();
    let framed = message::frame(&message);
    assert_eq!(&framed[..5], &[0, 0, 0, 0, 4]);
    let twice = [framed.clone(), framed].concat();
    assert_eq!(message::unframe(&twice).unwrap().len(), 2);
    assert!(message::unframe(&twice[..7]).is_err());
    assert!(message::unframe(&[1, 0, 0, 0, 0]).is_err(), "compressed");
}

#[test]
fn grpc_statuses_map_to_http_statuses() {
    let pairs = [
        (0, 200),
        (3, 400),
        (4, 504),
        (5, 404),
        (7, 403),
        (8, 429),
        (12, 501),
        (14, 503),
        (16, 401),
        (2, 500),
        (13, 500),
        (99, 500),
    ];
    for (code, http) in pairs {
        assert_eq!(status::http_status(code), http, "gRPC code {code}");
    }
    assert_eq!(status::name(5), "NOT_FOUND");
}

#[test]
fn unknown_methods_and_fields_are_init_errors() {
    let err = |rules| Compiled::new(&config(rules)).unwrap_err();
    assert!(
        err(json!([{ "method": "GET", "path": "/x", "call": "test.Echo/Shout" }]))
            .contains("no method `Shout`")
    );
    assert!(
        err(json!([{ "method": "GET", "path": "/x", "call": "test.Nope/Unary" }]))
            .contains("unknown gRPC service `test.Nope`")
    );
    assert!(
        err(json!([{ "method": "GET", "path": "/x/{colour}", "call": "test.Echo/Unary" }]))
            .contains("colour")
    );
    assert!(err(json!([])).contains("no rule"));
    let bad =
        serde_json::from_value::<Config>(json!({ "descriptor-set": "!!", "rules": [] })).unwrap();
    assert!(Compiled::new(&bad).unwrap_err().contains("base64"));
}

#[test]
fn timeouts_become_grpc_timeout_values() {
    assert_eq!(config::grpc_timeout("500ms").unwrap(), "500m");
    assert_eq!(config::grpc_timeout("5s").unwrap(), "5000m");
    assert_eq!(config::grpc_timeout("2h").unwrap(), "7200000m");
    assert!(config::grpc_timeout("5 parsecs").is_err());
    assert!(config::grpc_timeout("0s").is_err());
}

#[test]
fn metadata_names_and_prefixes_choose_the_forwarded_headers() {
    let mut c = compiled();
    c.metadata = vec!["x-echo".into(), "x-user-*".into()];
    assert!(c.forwards("x-echo"));
    assert!(c.forwards("x-user-id"));
    assert!(!c.forwards("cookie"));
}

#[test]
fn a_plugin_finds_the_first_matching_rule() {
    let plugin = GrpcTranscode(compiled());
    let (rule, params) = plugin.find("GET", "/v1/echo/hi").unwrap();
    assert_eq!(rule.call.name(), "Unary");
    assert_eq!(params, [("message".to_owned(), "hi".to_owned())]);
    assert!(plugin.find("DELETE", "/v1/echo/hi").is_none());
}

#[test]
fn a_descriptor_set_of_an_unknown_syntax_is_a_config_error_not_a_panic() {
    // Found by the `plugins` fuzz target: prost-reflect panics on its own error for it.
    let engine = base64::engine::general_purpose::STANDARD;
    let mut set =
        FileDescriptorSet::decode(engine.decode(descriptor_set()).unwrap().as_slice()).unwrap();
    set.file[0].syntax = Some("editions".into());
    let config: Config = serde_json::from_value(json!({
        "descriptor-set": engine.encode(set.encode_to_vec()),
        "rules": [{ "method": "POST", "path": "/v1/echo", "call": "test.Echo/Unary", "body": "*" }],
    }))
    .unwrap();
    let error = Compiled::new(&config).unwrap_err();
    assert_eq!(
        error,
        "`descriptor-set`: file `test.proto` has syntax `editions`; grpc-transcode reads proto2 and proto3 descriptors (compile the .proto with `syntax = \"proto3\";`)"
    );
}
