//! grpc-transcode's JSON <-> protobuf core, compiled natively: fuzzed requests (method, path,
//! query, JSON body) against rules binding the whole body, one sub-message, path and query
//! fields, fuzzed reply bytes and fuzzed descriptor sets. Never a panic; a request message
//! that was built reads back from its own frame.
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use grpc_transcode::fuzzing::Transcoder;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, FileDescriptorSet, MessageOptions, MethodDescriptorProto,
    ServiceDescriptorProto,
};
use serde_json::json;

fn field(
    name: &str,
    number: i32,
    ty: Type,
    label: Label,
    type_name: Option<&str>,
) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        json_name: Some(name.into()),
        number: Some(number),
        r#type: Some(ty as i32),
        label: Some(label as i32),
        type_name: type_name.map(Into::into),
        ..Default::default()
    }
}

/// `fuzz.Books`: unary calls taking `Req` (every scalar kind, an enum, a sub-message, a
/// repeated sub-message, a map) and a server-streaming one.
fn descriptor_set() -> String {
    use Label::{Optional, Repeated};
    let book = DescriptorProto {
        name: Some("Book".into()),
        field: vec![
            field("title", 1, Type::String, Optional, None),
            field("genre", 2, Type::Enum, Optional, Some(".fuzz.Genre")),
            field("tags", 3, Type::String, Repeated, None),
            field("pages", 4, Type::Int64, Optional, None),
        ],
        ..Default::default()
    };
    let counts = DescriptorProto {
        name: Some("CountsEntry".into()),
        field: vec![
            field("key", 1, Type::String, Optional, None),
            field("value", 2, Type::Int32, Optional, None),
        ],
        options: Some(MessageOptions {
            map_entry: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let req = DescriptorProto {
        name: Some("Req".into()),
        field: vec![
            field("name", 1, Type::String, Optional, None),
            field("i32", 2, Type::Int32, Optional, None),
            field("i64", 3, Type::Int64, Optional, None),
            field("u64", 4, Type::Uint64, Optional, None),
            field("flag", 5, Type::Bool, Optional, None),
            field("d", 6, Type::Double, Optional, None),
            field("data", 7, Type::Bytes, Optional, None),
            field("book", 8, Type::Message, Optional, Some(".fuzz.Book")),
            field("books", 9, Type::Message, Repeated, Some(".fuzz.Book")),
            field("genre", 10, Type::Enum, Optional, Some(".fuzz.Genre")),
            field("f", 11, Type::Float, Optional, None),
            field("s32", 12, Type::Sint32, Optional, None),
            field("f64", 13, Type::Fixed64, Optional, None),
            field(
                "counts",
                14,
                Type::Message,
                Repeated,
                Some(".fuzz.Req.CountsEntry"),
            ),
        ],
        nested_type: vec![counts],
        ..Default::default()
    };
    let genre = EnumDescriptorProto {
        name: Some("Genre".into()),
        value: ["GENRE_UNSPECIFIED", "FICTION", "POETRY"]
            .iter()
            .zip(0..)
            .map(|(name, number)| EnumValueDescriptorProto {
                name: Some((*name).into()),
                number: Some(number),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let method = |name: &str, streaming: bool| MethodDescriptorProto {
        name: Some(name.into()),
        input_type: Some(".fuzz.Req".into()),
        output_type: Some(".fuzz.Req".into()),
        server_streaming: Some(streaming),
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some("fuzz.proto".into()),
        package: Some("fuzz".into()),
        syntax: Some("proto3".into()),
        message_type: vec![book, req],
        enum_type: vec![genre],
        service: vec![ServiceDescriptorProto {
            name: Some("Books".into()),
            method: vec![
                method("Create", false),
                method("Update", false),
                method("Get", false),
                method("Watch", true),
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let set = FileDescriptorSet { file: vec![file] };
    base64::engine::general_purpose::STANDARD.encode(set.encode_to_vec())
}

fn transcoder() -> &'static Transcoder {
    static TRANSCODER: OnceLock<Transcoder> = OnceLock::new();
    TRANSCODER.get_or_init(|| {
        let config = json!({
            "descriptor-set": descriptor_set(),
            "rules": [
                { "method": "POST", "path": "/v1/books", "call": "fuzz.Books/Create", "body": "*" },
                { "method": "PUT", "path": "/v1/books/{name}", "call": "fuzz.Books/Update", "body": "book" },
                { "method": "GET", "path": "/v1/books/{book.title}/{i64}", "call": "fuzz.Books/Get" },
                { "method": "GET", "path": "/v1/watch/{name}", "call": "fuzz.Books/Watch" },
            ],
        });
        let config = serde_json::from_value(config).expect("the fuzz config");
        Transcoder::new(&config).expect("the fuzz config compiles")
    })
}

// The input: `0` then a request (`METHOD /path?query`, a newline, the body); `1`, a byte
// choosing the call, and the reply's body (gRPC frames); or `2` and a descriptor set to compile.
fuzz_target!(|data: &[u8]| {
    let transcoder = transcoder();
    match data {
        [b'0', rest @ ..] => {
            let (line, body) = match rest.iter().position(|b| *b == b'\n') {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &[][..]),
            };
            let Ok(line) = std::str::from_utf8(line) else {
                return;
            };
            let (method, target) = line.split_once(' ').unwrap_or((line, "/"));
            let (path, query) = match target.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (target, None),
            };
            if let Some(Ok(call)) = transcoder.request(method, path, query, body)
                && let Err(e) = &call.read_back
            {
                panic!(
                    "a request message built for {} does not read back: {e}",
                    call.path
                );
            }
        }
        [b'1', choice, reply @ ..] => {
            let calls = transcoder.calls();
            let path = &calls[usize::from(*choice) % calls.len()];
            let _ = transcoder.reply(path, reply);
        }
        // `2` then a descriptor set (protobuf bytes), as the config's `descriptor-set` gives it.
        [b'2', set @ ..] => {
            let config = json!({
                "descriptor-set": base64::engine::general_purpose::STANDARD.encode(set),
                "rules": [{ "method": "POST", "path": "/v1/books", "call": "fuzz.Books/Create", "body": "*" }],
            });
            if let Ok(config) = serde_json::from_value(config) {
                let _ = Transcoder::new(&config);
            }
        }
        _ => {}
    }
});
