//! The request metrics' labels as specifications: methods outside the standard set fold into
//! `OTHER` and statuses into their class, so a client cannot grow the label space.

use std::time::Duration;

use http::Method;

use super::*;

#[test]
fn unknown_methods_are_folded_into_other_and_statuses_into_classes() {
    let metrics = Metrics::new();
    let route = metrics.unmatched();
    route.answered(&Method::GET, 200, Duration::from_millis(3));
    route.answered(&Method::GET, 204, Duration::from_millis(3));
    let purge = Method::from_bytes(b"PURGE").unwrap();
    route.answered(&purge, 503, Duration::from_millis(3));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry).unwrap();
    assert!(
        text.contains(r#"portcullis_requests_total{route="",method="GET",status_class="2xx"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"portcullis_requests_total{route="",method="OTHER",status_class="5xx"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("portcullis_request_duration_seconds_count{route=\"\"} 3"),
        "{text}"
    );
}
