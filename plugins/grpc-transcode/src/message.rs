//! Messages both ways: HTTP parameters and JSON body to a request message (the proto3 JSON
//! mapping, by prost-reflect), gRPC length-prefixed frames, and reply messages to JSON.

use prost::Message;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions,
};
use serde_json::{Map, Value};

use crate::config::BodyBinding;

/// The fields of a dotted path (`a.b.c`), each by its proto name or JSON name; every field but
/// the last must be a singular message.
pub(crate) fn field_path(
    message: &MessageDescriptor,
    path: &str,
) -> Result<Vec<FieldDescriptor>, String> {
    let mut current = message.clone();
    let mut fields = Vec::new();
    let names: Vec<&str> = path.split('.').collect();
    for (i, name) in names.iter().enumerate() {
        let field = current
            .get_field_by_name(name)
            .or_else(|| current.get_field_by_json_name(name))
            .ok_or_else(|| format!("unknown field `{path}` in `{}`", current.full_name()))?;
        if i + 1 < names.len() {
            match field.kind() {
                Kind::Message(inner) if !field.is_list() && !field.is_map() => current = inner,
                _ => return Err(format!("`{path}`: `{name}` is not a message field")),
            }
        }
        fields.push(field);
    }
    Ok(fields)
}

/// Builds the request message: the body as bound, then query parameters, then path parameters
/// (which win). An error is a client's mistake and names the field.
pub(crate) fn build_request(
    input: &MessageDescriptor,
    body_binding: &BodyBinding,
    body: &[u8],
    params: &[(String, String)],
    query: &[(String, String)],
) -> Result<DynamicMessage, String> {
    let mut root = Value::Object(Map::new());
    match body_binding {
        BodyBinding::None => {}
        BodyBinding::Whole | BodyBinding::Field(_) if body.iter().all(u8::is_ascii_whitespace) => {}
        BodyBinding::Whole => {
            root =
                serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
            if !root.is_object() {
                return Err("the body must be a JSON object".into());
            }
        }
        BodyBinding::Field(path) => {
            let value: Value =
                serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
            let fields = field_path(input, path)?;
            insert(&mut root, &fields, value, false);
        }
    }
    for (name, value) in query {
        let fields =
            field_path(input, name).map_err(|e| format!("query parameter `{name}`: {e}"))?;
        let value = scalar(fields.last().expect("a path has a field"), value)
            .map_err(|e| format!("query parameter `{name}`: {e}"))?;
        insert(&mut root, &fields, value, true);
    }
    for (name, value) in params {
        let fields = field_path(input, name)?;
        let value = scalar(fields.last().expect("a path has a field"), value)
            .map_err(|e| format!("path parameter `{name}`: {e}"))?;
        insert(&mut root, &fields, value, false);
    }
    decode_json(input, &root)
}

/// A parameter's text as the JSON value the field's type takes.
fn scalar(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    if field.is_map() {
        return Err("a map field cannot be set from a parameter".into());
    }
    Ok(match field.kind() {
        Kind::Bool => match text {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(format!("`{text}` is not a boolean")),
        },
        Kind::Double | Kind::Float => match text.parse::<f64>() {
            Ok(n) => serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(text.to_owned())),
            Err(_) => Value::String(text.to_owned()),
        },
        // Integers as strings (the JSON mapping accepts them, and 64-bit ones need them), enums
        // by name, well-known types (Timestamp, Duration, wrappers) in their string forms.
        _ => Value::String(text.to_owned()),
    })
}

/// Sets `value` at the field path in `root`; for a repeated field, `append` adds to the list.
fn insert(root: &mut Value, fields: &[FieldDescriptor], value: Value, append: bool) {
    let mut current = root;
    for field in &fields[..fields.len() - 1] {
        let map = current.as_object_mut().expect("objects all the way down");
        let entry = map
            .entry(field.name().to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = entry;
    }
    let last = fields.last().expect("a path has a field");
    let Some(map) = current.as_object_mut() else {
        return;
    };
    // The body may have used the JSON name: keep one key per field.
    if last.json_name() != last.name()
        && let Some(existing) = map.remove(last.json_name())
    {
        map.insert(last.name().to_owned(), existing);
    }
    if last.is_list() && append {
        let entry = map
            .entry(last.name().to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        match entry {
            Value::Array(items) => items.push(value),
            other => *other = Value::Array(vec![value]),
        }
    } else if last.is_list() && !value.is_array() {
        map.insert(last.name().to_owned(), Value::Array(vec![value]));
    } else {
        map.insert(last.name().to_owned(), value);
    }
}

/// The JSON object as a message by the proto3 JSON mapping; an error names the field by its
/// full path (`book.title`, `book.authors[1].name`).
fn decode_json(input: &MessageDescriptor, root: &Value) -> Result<DynamicMessage, String> {
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    DynamicMessage::deserialize_with_options(input.clone(), root, &options).map_err(|error| {
        match culprit(input, root, &options) {
            Some((path, reason)) => format!("field `{path}`: {reason}"),
            None => error.to_string(),
        }
    })
}

/// The path of the first field of `value` that `message` refuses, and why: each key is tried
/// alone, and a refused key whose field is a message (or a list of them) is searched in turn,
/// so that the path ends at the innermost field at fault.
fn culprit(
    message: &MessageDescriptor,
    value: &Value,
    options: &DeserializeOptions,
) -> Option<(String, String)> {
    let Value::Object(map) = value else {
        return None;
    };
    map.iter().find_map(|(key, item)| {
        let alone = Value::Object(Map::from_iter([(key.clone(), item.clone())]));
        let error =
            DynamicMessage::deserialize_with_options(message.clone(), &alone, options).err()?;
        let field = message
            .get_field_by_name(key)
            .or_else(|| message.get_field_by_json_name(key));
        let inner = field.and_then(|field| inner_culprit(&field, item, options));
        Some(match inner {
            Some((path, reason)) => (format!("{key}{path}"), reason),
            None => (key.clone(), error.to_string()),
        })
    })
}

/// Within one field's value: the rest of the culprit's path (`.title`, `[1].name`), when the
/// field is a message or a list of messages with their own JSON objects.
fn inner_culprit(
    field: &FieldDescriptor,
    value: &Value,
    options: &DeserializeOptions,
) -> Option<(String, String)> {
    let Kind::Message(inner) = field.kind() else {
        return None;
    };
    // Well-known types (Timestamp, Struct, Any...) have JSON forms of their own: the field is
    // the most precise name.
    if field.is_map() || inner.full_name().starts_with("google.protobuf.") {
        return None;
    }
    match value {
        Value::Array(items) if field.is_list() => items.iter().enumerate().find_map(|(i, item)| {
            culprit(&inner, item, options).map(|(path, reason)| (format!("[{i}].{path}"), reason))
        }),
        Value::Object(_) if !field.is_list() => {
            culprit(&inner, value, options).map(|(path, reason)| (format!(".{path}"), reason))
        }
        _ => None,
    }
}

/// A message in one gRPC frame: flag 0 (not compressed), length (big-endian), bytes.
pub(crate) fn frame(message: &DynamicMessage) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut out = Vec::with_capacity(5 + bytes.len());
    out.push(0);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// Splits a body into the messages of its frames.
pub(crate) fn unframe(mut body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut messages = Vec::new();
    while !body.is_empty() {
        if body.len() < 5 {
            return Err("a gRPC frame is cut short".into());
        }
        if body[0] != 0 {
            return Err("the server sent a compressed message, which is not supported".into());
        }
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let end = 5usize
            .checked_add(len)
            .filter(|end| *end <= body.len())
            .ok_or("a gRPC frame is cut short")?;
        messages.push(&body[5..end]);
        body = &body[end..];
    }
    Ok(messages)
}

/// A reply message as JSON (lowerCamelCase names, 64-bit integers as strings, enums by name).
pub(crate) fn to_json(output: &MessageDescriptor, bytes: &[u8]) -> Result<Value, String> {
    let message = DynamicMessage::decode(output.clone(), bytes)
        .map_err(|e| format!("the server's `{}` does not decode: {e}", output.full_name()))?;
    message
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .map_err(|e| e.to_string())
}
