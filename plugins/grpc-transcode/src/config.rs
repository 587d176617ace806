//! The plugin's config as written in the manifest, and what it compiles to at init: the
//! descriptor pool, the HTTP rules (from the config and from `google.api.http` annotations) and
//! the gRPC methods they call.

use std::collections::BTreeMap;

use base64::Engine;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};
use serde::Deserialize;

use crate::template::Template;

/// `grpc-transcode`'s config (see docs/plugins/grpc-transcode.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// A `FileDescriptorSet` (`protoc --descriptor_set_out --include_imports`), base64; usually
    /// from a file with the plugin entry's `config-files-base64`.
    pub descriptor_set: String,
    /// HTTP rules, tried in order before those of the annotations.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Whether to read `google.api.http` annotations from the descriptor set.
    #[serde(default = "yes")]
    pub annotations: bool,
    /// The deadline sent as `grpc-timeout`: `"500ms"`, `"5s"`, `"1m"`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Request headers forwarded to the server as metadata; a name ending in `*` is a prefix.
    /// Every other request header is removed.
    #[serde(default)]
    pub metadata: Vec<String>,
    /// How server-streaming replies are written: `"ndjson"` (one JSON object a line) or
    /// `"array"` (one JSON array).
    #[serde(default)]
    pub stream_format: StreamFormat,
}

fn yes() -> bool {
    true
}

/// One HTTP rule: an HTTP method and path template mapped to a gRPC method.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleConfig {
    /// `GET`, `POST`, ...
    pub method: String,
    /// A path template: `/v1/echo/{message}`.
    pub path: String,
    /// `package.Service/Method`.
    pub call: String,
    /// `"*"`: the JSON body is the request message; `"field"`: the body is that field; none:
    /// no body.
    #[serde(default)]
    pub body: Option<String>,
}

/// How server-streaming replies are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamFormat {
    /// Newline-delimited JSON, `application/x-ndjson`.
    #[default]
    Ndjson,
    /// One JSON array, `application/json`.
    Array,
}

/// Where the body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyBinding {
    /// No body.
    None,
    /// The whole message.
    Whole,
    /// One field (a field path).
    Field(String),
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) method: String,
    pub(crate) template: Template,
    pub(crate) call: MethodDescriptor,
    pub(crate) body: BodyBinding,
}

/// Everything `init` builds, once.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) rules: Vec<Rule>,
    /// gRPC path (`/package.Service/Method`) to method, for the responses.
    pub(crate) calls: BTreeMap<String, MethodDescriptor>,
    pub(crate) timeout: Option<String>,
    pub(crate) metadata: Vec<String>,
    pub(crate) stream_format: StreamFormat,
}

/// Refuses files whose `syntax` is neither proto2 nor proto3 (e.g. `editions`) before
/// prost-reflect sees them: its error for an unknown syntax panics (prost-reflect 0.16.5,
/// `Label::new` indexes a file not yet added), which would trap the plugin's init. Found by the
/// `plugins` fuzz target.
fn check_syntax(bytes: &[u8]) -> Result<(), String> {
    use prost::Message;
    let set = prost_reflect::prost_types::FileDescriptorSet::decode(bytes)
        .map_err(|e| format!("`descriptor-set` is not a valid FileDescriptorSet: {e}"))?;
    for file in &set.file {
        if let Some(syntax) = file.syntax.as_deref()
            && !matches!(syntax, "proto2" | "proto3")
        {
            return Err(format!(
                "`descriptor-set`: file `{}` has syntax `{syntax}`; grpc-transcode reads proto2 and proto3 descriptors (compile the .proto with `syntax = \"proto3\";`)",
                file.name()
            ));
        }
    }
    Ok(())
}

impl Compiled {
    pub(crate) fn new(config: &Config) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(config.descriptor_set.trim())
            .map_err(|e| format!("`descriptor-set` is not base64: {e}"))?;
        check_syntax(&bytes)?;
        let pool = DescriptorPool::decode(bytes.as_slice())
            .map_err(|e| format!("`descriptor-set` is not a valid FileDescriptorSet: {e}"))?;
        let mut rules = Vec::new();
        for (i, rule) in config.rules.iter().enumerate() {
            let compiled = compile_rule(
                &pool,
                &rule.method,
                &rule.path,
                &rule.call,
                rule.body.as_deref(),
            )
            .map_err(|e| format!("`rules[{i}]` ({} {}): {e}", rule.method, rule.path))?;
            rules.push(compiled);
        }
        if config.annotations {
            rules.extend(annotated_rules(&pool)?);
        }
        if rules.is_empty() {
            return Err(
                "no rule: give `rules`, or a descriptor set with `google.api.http` annotations"
                    .into(),
            );
        }
        let calls = rules
            .iter()
            .map(|r| (grpc_path(&r.call), r.call.clone()))
            .collect();
        let timeout = config.timeout.as_deref().map(grpc_timeout).transpose()?;
        let metadata = config
            .metadata
            .iter()
            .map(|m| m.to_ascii_lowercase())
            .collect();
        Ok(Self {
            rules,
            calls,
            timeout,
            metadata,
            stream_format: config.stream_format,
        })
    }

    /// Whether `name` (lower case) is forwarded as metadata.
    pub(crate) fn forwards(&self, name: &str) -> bool {
        self.metadata.iter().any(|m| match m.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == m,
        })
    }
}

/// `/package.Service/Method`.
pub(crate) fn grpc_path(method: &MethodDescriptor) -> String {
    format!("/{}/{}", method.parent_service().full_name(), method.name())
}

fn compile_rule(
    pool: &DescriptorPool,
    method: &str,
    path: &str,
    call: &str,
    body: Option<&str>,
) -> Result<Rule, String> {
    let (service, name) = call
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| format!("`{call}` is not `package.Service/Method`"))?;
    let service_desc = pool
        .get_service_by_name(service)
        .ok_or_else(|| format!("unknown gRPC service `{service}` in the descriptor set"))?;
    let call_desc = service_desc
        .methods()
        .find(|m| m.name() == name)
        .ok_or_else(|| format!("service `{service}` has no method `{name}`"))?;
    if call_desc.is_client_streaming() {
        return Err(format!(
            "`{call}` is client-streaming, which cannot be transcoded"
        ));
    }
    let template = Template::parse(path)?;
    let input = call_desc.input();
    for field in template.fields() {
        crate::message::field_path(&input, field)
            .map_err(|e| format!("path parameter `{field}`: {e}"))?;
    }
    let body = match body {
        None | Some("") => BodyBinding::None,
        Some("*") => BodyBinding::Whole,
        Some(field) => {
            crate::message::field_path(&input, field).map_err(|e| format!("`body`: {e}"))?;
            BodyBinding::Field(field.to_owned())
        }
    };
    let method = method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("`{method}` is not an HTTP method"));
    }
    Ok(Rule {
        method,
        template,
        call: call_desc,
        body,
    })
}

/// The rules of every `option (google.api.http)` in the pool, with their additional bindings.
fn annotated_rules(pool: &DescriptorPool) -> Result<Vec<Rule>, String> {
    let Some(http) = pool.get_extension_by_name("google.api.http") else {
        return Ok(Vec::new());
    };
    let mut rules = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue;
            }
            let value = options.get_extension(&http);
            let Some(rule) = value.as_message() else {
                continue;
            };
            let call = format!("{}/{}", service.full_name(), method.name());
            let mut bindings = vec![rule.clone()];
            if let Some(Value::List(more)) = rule
                .get_field_by_name("additional_bindings")
                .map(|v| v.into_owned())
            {
                bindings.extend(more.iter().filter_map(|v| v.as_message().cloned()));
            }
            for binding in bindings {
                let Some((verb, path)) = http_pattern(&binding) else {
                    continue;
                };
                let body = string_field(&binding, "body");
                let compiled = compile_rule(pool, &verb, &path, &call, body.as_deref())
                    .map_err(|e| format!("`google.api.http` of `{call}` ({verb} {path}): {e}"))?;
                rules.push(compiled);
            }
        }
    }
    Ok(rules)
}

fn string_field(message: &DynamicMessage, name: &str) -> Option<String> {
    let value = message.get_field_by_name(name)?;
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The verb and path of an `HttpRule` (its `pattern` oneof).
fn http_pattern(rule: &DynamicMessage) -> Option<(String, String)> {
    for verb in ["get", "put", "post", "delete", "patch"] {
        if let Some(path) = string_field(rule, verb) {
            return Some((verb.to_ascii_uppercase(), path));
        }
    }
    let custom = rule.get_field_by_name("custom")?;
    let custom = custom.as_message()?;
    Some((string_field(custom, "kind")?, string_field(custom, "path")?))
}

/// `"500ms"`, `"5s"`, `"2m"`, `"1h"` as a `grpc-timeout` value (milliseconds, at most 8 digits).
pub(crate) fn grpc_timeout(text: &str) -> Result<String, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`timeout` `{text}` is not a duration such as \"5s\""))?;
    let ms = match unit {
        "ms" => number,
        "s" => number.saturating_mul(1000),
        "m" => number.saturating_mul(60_000),
        "h" => number.saturating_mul(3_600_000),
        _ => {
            return Err(format!(
                "`timeout` `{text}`: the unit must be ms, s, m or h"
            ));
        }
    };
    if ms == 0 {
        return Err("`timeout` must be more than 0".into());
    }
    Ok(if ms < 100_000_000 {
        format!("{ms}m")
    } else {
        format!("{}S", (ms / 1000).min(99_999_999))
    })
}
