//! The host side of the WIT imports: `http` (the request and response resources), `context`,
//! `log`, `state` and `metrics`. Each function reads or edits the exchange lent to the store for the current
//! call, or (`state`) the plugin's namespace of the shared state.

use std::str::FromStr;

use http::header::{HeaderName, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http::{HeaderMap, Method, StatusCode};
use wasmtime::component::Resource;

use super::exchange::Exchange;
use super::store::InstanceState;
use crate::contract::Header;
use crate::contract::portcullis::plugin::{context, http as wit_http, log, metrics, state, types};
use crate::contract::{Phase, RequestHandle, ResponseHandle};
use crate::observe::metrics::plugin::Sample;

type EditResult = Result<(), String>;

const NO_EXCHANGE: &str = "no request is in progress (called from init?)";

impl InstanceState {
    fn exchange(&self) -> Option<&Exchange> {
        self.exchange.as_deref()
    }

    /// The request, if it may still be edited.
    fn request_mut(&mut self) -> Result<&mut Exchange, String> {
        let ex = self.exchange.as_deref_mut().ok_or(NO_EXCHANGE)?;
        if ex.phase != Phase::Request {
            return Err(
                "the request was already sent upstream; it is read only in on-response".into(),
            );
        }
        Ok(ex)
    }

    fn response_mut(&mut self) -> Result<&mut super::exchange::ResponseState, String> {
        let ex = self.exchange.as_deref_mut().ok_or(NO_EXCHANGE)?;
        ex.response
            .as_mut()
            .ok_or_else(|| "there is no response yet; edit it in on-response".into())
    }

    fn response_headers(&self) -> Option<&HeaderMap> {
        self.exchange()?.response.as_ref().map(|r| &r.parts.headers)
    }
}

impl types::Host for InstanceState {}
impl wit_http::Host for InstanceState {}

impl wit_http::HostRequest for InstanceState {
    fn method(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.request.method.to_string())
            .unwrap_or_default()
    }

    fn set_method(&mut self, _: Resource<RequestHandle>, method: String) -> EditResult {
        let method = Method::from_str(&method)
            .map_err(|_| format!("`{method}` is not a valid HTTP method"))?;
        self.request_mut()?.request.method = method;
        Ok(())
    }

    fn path(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.request.uri.path().to_string())
            .unwrap_or_default()
    }

    fn set_path(&mut self, _: Resource<RequestHandle>, path: String) -> EditResult {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(format!(
                "`{path}` is not a valid path: it must start with `/` and contain no `?` or `#`"
            ));
        }
        let ex = self.request_mut()?;
        let query = ex.request.uri.query().map(str::to_owned);
        set_path_and_query(&mut ex.request.uri, &path, query.as_deref())
    }

    fn query(&mut self, _: Resource<RequestHandle>) -> Option<String> {
        self.exchange()?.request.uri.query().map(str::to_owned)
    }

    fn set_query(&mut self, _: Resource<RequestHandle>, query: Option<String>) -> EditResult {
        let ex = self.request_mut()?;
        let path = ex.request.uri.path().to_owned();
        set_path_and_query(&mut ex.request.uri, &path, query.as_deref())
    }

    fn authority(&mut self, _: Resource<RequestHandle>) -> Option<String> {
        let request = &self.exchange()?.request;
        request
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                request
                    .headers
                    .get(http::header::HOST)?
                    .to_str()
                    .ok()
                    .map(str::to_owned)
            })
    }

    fn header(&mut self, _: Resource<RequestHandle>, name: String) -> Option<String> {
        first_value(&self.exchange()?.request.headers, &name)
    }

    fn header_values(&mut self, _: Resource<RequestHandle>, name: String) -> Vec<String> {
        self.exchange()
            .map(|ex| all_values(&ex.request.headers, &name))
            .unwrap_or_default()
    }

    fn headers(&mut self, _: Resource<RequestHandle>) -> Vec<Header> {
        self.exchange()
            .map(|ex| to_list(&ex.request.headers))
            .unwrap_or_default()
    }

    fn set_header(
        &mut self,
        _: Resource<RequestHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let (name, value) = parse_field(&name, &value)?;
        self.request_mut()?.request.headers.insert(name, value);
        Ok(())
    }

    fn append_header(
        &mut self,
        _: Resource<RequestHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let (name, value) = parse_field(&name, &value)?;
        self.request_mut()?.request.headers.append(name, value);
        Ok(())
    }

    fn remove_header(&mut self, _: Resource<RequestHandle>, name: String) -> EditResult {
        let name = parse_name(&name)?;
        self.request_mut()?.request.headers.remove(name);
        Ok(())
    }

    fn body(&mut self, _: Resource<RequestHandle>) -> Option<Vec<u8>> {
        if !self.needs.contains(types::Needs::REQUEST_BODY) {
            return None;
        }
        self.exchange()?.request_body.as_ref().map(|b| b.to_vec())
    }

    fn set_body(&mut self, _: Resource<RequestHandle>, body: Vec<u8>) -> EditResult {
        if !self.needs.contains(types::Needs::REQUEST_BODY) {
            return Err("set-body needs `request-body` in the needs returned by init".into());
        }
        check_body_size(&body)?;
        self.request_mut()?.request_body = Some(body.into());
        Ok(())
    }

    fn route(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.route.to_string())
            .unwrap_or_default()
    }

    fn route_param(&mut self, _: Resource<RequestHandle>, name: String) -> Option<String> {
        let ex = self.exchange()?;
        ex.params
            .iter()
            .find(|(k, _)| **k == *name)
            .map(|(_, v)| v.clone())
    }

    fn client_ip(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.client_ip.to_string())
            .unwrap_or_default()
    }

    fn id(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.id.to_string())
            .unwrap_or_default()
    }

    fn drop(&mut self, _: Resource<RequestHandle>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl wit_http::HostResponse for InstanceState {
    fn status(&mut self, _: Resource<ResponseHandle>) -> u16 {
        self.exchange()
            .and_then(|ex| ex.response.as_ref())
            .map_or(0, |r| r.parts.status.as_u16())
    }

    fn set_status(&mut self, _: Resource<ResponseHandle>, status: u16) -> EditResult {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| (200..600).contains(&s.as_u16()))
            .ok_or_else(|| format!("{status} is not a valid final status code (200 to 599)"))?;
        self.response_mut()?.parts.status = status;
        Ok(())
    }

    fn header(&mut self, _: Resource<ResponseHandle>, name: String) -> Option<String> {
        first_value(self.response_headers()?, &name)
    }

    fn header_values(&mut self, _: Resource<ResponseHandle>, name: String) -> Vec<String> {
        self.response_headers()
            .map(|h| all_values(h, &name))
            .unwrap_or_default()
    }

    fn headers(&mut self, _: Resource<ResponseHandle>) -> Vec<Header> {
        self.response_headers().map(to_list).unwrap_or_default()
    }

    fn set_header(
        &mut self,
        _: Resource<ResponseHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let (name, value) = parse_field(&name, &value)?;
        self.response_mut()?.parts.headers.insert(name, value);
        Ok(())
    }

    fn append_header(
        &mut self,
        _: Resource<ResponseHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let (name, value) = parse_field(&name, &value)?;
        self.response_mut()?.parts.headers.append(name, value);
        Ok(())
    }

    fn remove_header(&mut self, _: Resource<ResponseHandle>, name: String) -> EditResult {
        let name = parse_name(&name)?;
        self.response_mut()?.parts.headers.remove(name);
        Ok(())
    }

    fn body(&mut self, _: Resource<ResponseHandle>) -> Option<Vec<u8>> {
        if !self.needs.contains(types::Needs::RESPONSE_BODY) {
            return None;
        }
        let response = self.exchange()?.response.as_ref()?;
        response.body.as_ref().map(|b| b.to_vec())
    }

    fn set_body(&mut self, _: Resource<ResponseHandle>, body: Vec<u8>) -> EditResult {
        self.check_response_body("set-body")?;
        check_body_size(&body)?;
        self.response_mut()?.body = Some(body.into());
        Ok(())
    }

    fn trailers(&mut self, _: Resource<ResponseHandle>) -> Vec<Header> {
        if !self.needs.contains(types::Needs::RESPONSE_BODY) {
            return Vec::new();
        }
        self.exchange()
            .and_then(|ex| ex.response.as_ref()?.trailers.as_ref())
            .map(to_list)
            .unwrap_or_default()
    }

    fn set_trailer(
        &mut self,
        _: Resource<ResponseHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        self.check_response_body("set-trailer")?;
        let (name, value) = parse_field(&name, &value)?;
        self.response_mut()?
            .trailers
            .get_or_insert_with(HeaderMap::new)
            .insert(name, value);
        Ok(())
    }

    fn remove_trailer(&mut self, _: Resource<ResponseHandle>, name: String) -> EditResult {
        self.check_response_body("remove-trailer")?;
        let name = parse_name(&name)?;
        if let Some(trailers) = self.response_mut()?.trailers.as_mut() {
            trailers.remove(name);
        }
        Ok(())
    }

    fn drop(&mut self, _: Resource<ResponseHandle>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl InstanceState {
    fn check_response_body(&self, what: &str) -> EditResult {
        if self.needs.contains(types::Needs::RESPONSE_BODY) {
            Ok(())
        } else {
            Err(format!(
                "{what} needs `response-body` in the needs returned by init"
            ))
        }
    }
}

impl context::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        self.exchange()?.context.get(&key).map(str::to_owned)
    }

    fn set(&mut self, key: String, value: String) {
        let tag = self.tag.clone();
        let Some(ex) = self.exchange.as_deref_mut() else {
            return;
        };
        let fits = key.len() <= MAX_CONTEXT_KEY
            && value.len() <= MAX_CONTEXT_VALUE
            && (ex.context.len() < MAX_CONTEXT_KEYS || ex.context.get(&key).is_some());
        if fits {
            ex.context.set(key, value);
        } else {
            let key: String = key.chars().take(64).collect();
            tracing::warn!(
                target: "plugin", plugin = &*tag.plugin, route = &*ex.route, key,
                "context entry refused: at most {MAX_CONTEXT_KEYS} keys of {MAX_CONTEXT_KEY} bytes, values of {MAX_CONTEXT_VALUE} bytes"
            );
        }
    }

    fn remove(&mut self, key: String) {
        if let Some(ex) = self.exchange.as_deref_mut() {
            ex.context.remove(&key);
        }
    }
}

impl log::Host for InstanceState {
    fn write(&mut self, level: log::Level, mut message: String, fields: Vec<(String, String)>) {
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("...");
        }
        let fields = &fields[..fields.len().min(32)];
        let (plugin, route) = (&*self.tag.plugin, &*self.tag.route);
        let request_id = self.exchange().map(|ex| ex.id.clone());
        let request_id = request_id.as_deref().unwrap_or("");
        let fields = FieldList(fields);
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(target: "plugin", plugin, route, request_id, fields = %fields, "{message}")
            };
        }
        match level {
            log::Level::Trace => emit!(trace),
            log::Level::Debug => emit!(debug),
            log::Level::Info => emit!(info),
            log::Level::Warn => emit!(warn),
            log::Level::Error => emit!(error),
        }
    }

    fn enabled(&mut self, level: log::Level) -> bool {
        match level {
            log::Level::Trace => tracing::enabled!(target: "plugin", tracing::Level::TRACE),
            log::Level::Debug => tracing::enabled!(target: "plugin", tracing::Level::DEBUG),
            log::Level::Info => tracing::enabled!(target: "plugin", tracing::Level::INFO),
            log::Level::Warn => tracing::enabled!(target: "plugin", tracing::Level::WARN),
            log::Level::Error => tracing::enabled!(target: "plugin", tracing::Level::ERROR),
        }
    }
}

impl state::Host for InstanceState {
    async fn increment(
        &mut self,
        key: String,
        delta: i64,
        window_ms: u64,
    ) -> Result<i64, state::StateError> {
        let result = self.state.increment(&key, delta, window_ms).await;
        result.map_err(wit_state_error)
    }

    async fn rate_limit(
        &mut self,
        key: String,
        algorithm: state::Algorithm,
        limit: u32,
        period_ms: u64,
        cost: u32,
    ) -> Result<state::RateDecision, state::StateError> {
        let algorithm = match algorithm {
            state::Algorithm::TokenBucket => crate::state::Algorithm::TokenBucket,
            state::Algorithm::SlidingWindow => crate::state::Algorithm::SlidingWindow,
        };
        let decision = self
            .state
            .rate_limit(&key, algorithm, limit, period_ms, cost)
            .await
            .map_err(wit_state_error)?;
        Ok(state::RateDecision {
            allowed: decision.allowed,
            limit: decision.limit,
            remaining: decision.remaining,
            reset_ms: decision.reset_ms,
            retry_after_ms: decision.retry_after_ms,
        })
    }

    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, state::StateError> {
        self.state.get(&key).await.map_err(wit_state_error)
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), state::StateError> {
        let result = self.state.set(&key, value, ttl_ms).await;
        result.map_err(wit_state_error)
    }

    async fn delete(&mut self, key: String) -> Result<(), state::StateError> {
        self.state.delete(&key).await.map_err(wit_state_error)
    }
}

impl metrics::Host for InstanceState {
    fn counter_add(
        &mut self,
        name: String,
        labels: Vec<(String, String)>,
        value: u64,
    ) -> Result<(), metrics::MetricError> {
        self.record_metric(&name, labels, Sample::Counter(value))
    }

    fn histogram_record(
        &mut self,
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
    ) -> Result<(), metrics::MetricError> {
        self.record_metric(&name, labels, Sample::Histogram(value))
    }
}

impl InstanceState {
    /// Records a plugin's sample under its name and the request's route (a global plugin's
    /// samples go under each route it serves, as its call durations do).
    fn record_metric(
        &self,
        name: &str,
        labels: Vec<(String, String)>,
        sample: Sample,
    ) -> Result<(), String> {
        let ex = self
            .exchange()
            .ok_or("metrics are recorded during a request, not in init")?;
        ex.metrics
            .record(&self.tag.plugin, &ex.route, name, labels, sample)
            .map_err(|e| e.to_string())
    }
}

fn wit_state_error(error: crate::state::StateError) -> state::StateError {
    match error {
        crate::state::StateError::Unavailable(reason) => state::StateError::Unavailable(reason),
        crate::state::StateError::Invalid(reason) => state::StateError::Invalid(reason),
    }
}

/// Shows a plugin's log fields as `key=value key=value`.
struct FieldList<'a>(&'a [(String, String)]);

impl std::fmt::Display for FieldList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        Ok(())
    }
}

fn check_body_size(body: &[u8]) -> EditResult {
    let limit = crate::message::body::MAX_BUFFERED_BODY;
    if body.len() > limit {
        return Err(format!(
            "a body of {} bytes is larger than the {limit} bytes the gateway buffers",
            body.len()
        ));
    }
    Ok(())
}

fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(value_text)
}

fn all_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers.get_all(name).iter().map(value_text).collect()
}

fn to_list(headers: &HeaderMap) -> Vec<Header> {
    headers
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: value_text(value),
        })
        .collect()
}

fn value_text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// Fields that frame the message or describe the connection: the gateway sets them itself. A
/// plugin that could change `content-length` on a streamed body would desynchronise a
/// keep-alive connection (the next request or response would start inside this one's body).
const MANAGED: [&str; 7] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];

/// Most key/values a plugin may keep in one request's context, and their sizes.
const MAX_CONTEXT_KEYS: usize = 64;
const MAX_CONTEXT_KEY: usize = 256;
const MAX_CONTEXT_VALUE: usize = 4096;
/// Longest log message kept from a plugin.
const MAX_LOG_MESSAGE: usize = 4096;

fn parse_name(name: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    if MANAGED.contains(&name.as_str()) {
        return Err(format!(
            "`{name}` is managed by the gateway (it frames the message); plugins may not change it"
        ));
    }
    Ok(name)
}

fn parse_field(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    // `te: trailers` is the one `TE` value a proxy forwards (gRPC needs it), so a plugin that
    // turns a request into a gRPC call may set it; any other `TE` stays the gateway's.
    if name.eq_ignore_ascii_case("te") && value.eq_ignore_ascii_case("trailers") {
        return Ok((http::header::TE, HeaderValue::from_static("trailers")));
    }
    let name = parse_name(name)?;
    let value = HeaderValue::from_str(value).map_err(|_| {
        format!("the value given for header `{name}` contains a control character (CR, LF or NUL)")
    })?;
    Ok((name, value))
}

fn set_path_and_query(uri: &mut Uri, path: &str, query: Option<&str>) -> EditResult {
    if query.is_some_and(|q| q.contains('#')) {
        return Err("a query may not contain `#`".into());
    }
    let text = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let pq = PathAndQuery::from_str(&text)
        .map_err(|e| format!("`{text}` is not a valid path and query: {e}"))?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    *uri = Uri::from_parts(parts).map_err(|e| format!("cannot rebuild the URI: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_fields_are_the_gateways_but_te_trailers_may_be_set() {
        for name in MANAGED {
            assert!(parse_field(name, "x").is_err(), "{name} is refused");
        }
        assert!(parse_field("Content-Length", "0").is_err());
        assert!(parse_field("te", "gzip").is_err());
        let (name, value) = parse_field("TE", "Trailers").expect("te: trailers is allowed");
        assert_eq!(
            (name.as_str(), value.to_str().ok()),
            ("te", Some("trailers"))
        );
    }

    #[test]
    fn control_characters_in_values_are_refused() {
        assert!(parse_field("x-a", "one\r\nx-b: two").is_err());
        assert!(parse_field("x-a", "fine").is_ok());
    }
}
