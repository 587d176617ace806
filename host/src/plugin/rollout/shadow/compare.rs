//! How a shadow's run differs from the live plugin's: by kind (the verdict, the status of a
//! reply, the headers or body left on the request or the response, a failure), each with a
//! short description of both sides for the admin API.

use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderMap;

use super::{Message, Verdict};

/// The kinds of divergence, counted apart.
pub const DIVERGENCE_KINDS: [&str; 7] = [
    "action",
    "status",
    "request-headers",
    "request-body",
    "response-headers",
    "response-body",
    "failure",
];

const ACTION: usize = 0;
const STATUS: usize = 1;
const REQUEST_HEADERS: usize = 2;
const REQUEST_BODY: usize = 3;
const RESPONSE_HEADERS: usize = 4;
const RESPONSE_BODY: usize = 5;
const FAILURE: usize = 6;

/// One difference between a shadow's run and the live plugin's.
#[derive(Debug, Clone)]
pub struct Divergence {
    /// When it was found.
    pub at: SystemTime,
    /// The request's id.
    pub request_id: Arc<str>,
    /// Its place in [`DIVERGENCE_KINDS`].
    pub kind: usize,
    /// What the live plugin did.
    pub live: String,
    /// What the shadow did.
    pub shadow: String,
}

impl Divergence {
    /// Its kind's name.
    pub fn kind_name(&self) -> &'static str {
        DIVERGENCE_KINDS[self.kind]
    }
}

fn divergence(id: &Arc<str>, kind: usize, live: String, shadow: String) -> Divergence {
    Divergence {
        at: SystemTime::now(),
        request_id: id.clone(),
        kind,
        live,
        shadow,
    }
}

fn verdict_text(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Continue => "continue".into(),
        Verdict::Respond(status) => format!("respond {status}"),
        Verdict::Failed(kind) => format!("failed ({kind})"),
    }
}

/// The verdicts' difference, if any: a failure on one side, another action, or another status.
fn verdicts(id: &Arc<str>, live: &Verdict, shadow: &Verdict) -> Option<Divergence> {
    let kind = match (live, shadow) {
        _ if live == shadow => return None,
        (Verdict::Failed(_), _) | (_, Verdict::Failed(_)) => FAILURE,
        (Verdict::Respond(_), Verdict::Respond(_)) => STATUS,
        _ => ACTION,
    };
    Some(divergence(
        id,
        kind,
        verdict_text(live),
        verdict_text(shadow),
    ))
}

/// `on-request`'s differences: its verdict, then (when both let the request through) the
/// headers and body they left.
pub(super) fn request(
    id: &Arc<str>,
    live: &Verdict,
    live_after: &Message,
    shadow: &Verdict,
    shadow_after: &Message,
) -> Vec<Divergence> {
    if let Some(d) = verdicts(id, live, shadow) {
        return vec![d];
    }
    if *live != Verdict::Continue {
        return Vec::new();
    }
    edits(id, live_after, shadow_after, REQUEST_HEADERS, REQUEST_BODY)
}

/// `on-response`'s differences: its verdict, then the headers and body they left.
pub(super) fn response(
    id: &Arc<str>,
    live: &Verdict,
    live_after: &Message,
    shadow: &Verdict,
    shadow_after: Option<&Message>,
) -> Vec<Divergence> {
    if let Some(d) = verdicts(id, live, shadow) {
        return vec![d];
    }
    match shadow_after {
        Some(after) => edits(id, live_after, after, RESPONSE_HEADERS, RESPONSE_BODY),
        None => Vec::new(),
    }
}

fn edits(
    id: &Arc<str>,
    live: &Message,
    shadow: &Message,
    headers_kind: usize,
    body_kind: usize,
) -> Vec<Divergence> {
    let mut found = Vec::new();
    if let Some((l, s)) = header_difference(&live.headers, &shadow.headers) {
        found.push(divergence(id, headers_kind, l, s));
    }
    if live.body != shadow.body {
        let text = |b: &Option<bytes::Bytes>| match b {
            Some(b) => format!("{} bytes", b.len()),
            None => "no body".into(),
        };
        found.push(divergence(
            id,
            body_kind,
            text(&live.body),
            text(&shadow.body),
        ));
    }
    found
}

/// The first header that differs, as each side has it.
fn header_difference(live: &HeaderMap, shadow: &HeaderMap) -> Option<(String, String)> {
    let show = |map: &HeaderMap, name: &http::HeaderName| {
        let values: Vec<_> = map
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if values.is_empty() {
            format!("{name}: (absent)")
        } else {
            format!("{name}: {}", values.join(", "))
        }
    };
    let names = live.keys().chain(shadow.keys());
    for name in names {
        let (l, s) = (live.get_all(name), shadow.get_all(name));
        if !l.iter().eq(s.iter()) {
            return Some((show(live, name), show(shadow, name)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: &[(&'static str, &'static str)], body: Option<&'static str>) -> Message {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, http::HeaderValue::from_static(value));
        }
        Message {
            headers: map,
            body: body.map(|b| bytes::Bytes::from_static(b.as_bytes())),
        }
    }

    fn kinds(found: &[Divergence]) -> Vec<&'static str> {
        found.iter().map(|d| d.kind_name()).collect()
    }

    #[test]
    fn the_same_verdict_and_edits_are_no_divergence() {
        let id: Arc<str> = "r1".into();
        let m = message(&[("x-a", "1")], Some("body"));
        assert!(request(&id, &Verdict::Continue, &m, &Verdict::Continue, &m.clone()).is_empty());
    }

    #[test]
    fn an_answer_where_the_live_plugin_passed_is_an_action_divergence() {
        let id: Arc<str> = "r1".into();
        let m = message(&[], None);
        let found = request(&id, &Verdict::Continue, &m, &Verdict::Respond(403), &m);
        assert_eq!(kinds(&found), ["action"]);
        assert_eq!(
            (found[0].live.as_str(), found[0].shadow.as_str()),
            ("continue", "respond 403")
        );
        let found = request(&id, &Verdict::Respond(401), &m, &Verdict::Respond(403), &m);
        assert_eq!(kinds(&found), ["status"]);
        let found = request(&id, &Verdict::Continue, &m, &Verdict::Failed("trap"), &m);
        assert_eq!(kinds(&found), ["failure"]);
    }

    #[test]
    fn header_and_body_edits_are_compared_on_each_side() {
        let id: Arc<str> = "r1".into();
        let live = message(&[("x-a", "1")], Some("one"));
        let shadow = message(&[("x-a", "2")], Some("two"));
        let found = request(&id, &Verdict::Continue, &live, &Verdict::Continue, &shadow);
        assert_eq!(kinds(&found), ["request-headers", "request-body"]);
        assert_eq!(found[0].live, "x-a: 1");
        assert_eq!(found[0].shadow, "x-a: 2");
        let missing = message(&[], Some("one"));
        let found = response(
            &id,
            &Verdict::Continue,
            &live,
            &Verdict::Continue,
            Some(&missing),
        );
        assert_eq!(kinds(&found), ["response-headers"]);
        assert_eq!(found[0].shadow, "x-a: (absent)");
    }
}
