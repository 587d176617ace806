//! A plugin's reply becomes the response it describes, or an error naming the plugin and the
//! fault; nothing a plugin returns makes the host panic.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::contract::Header;

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply {
        status,
        headers: headers
            .iter()
            .map(|(name, value)| Header {
                name: (*name).into(),
                value: (*value).into(),
            })
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn a_reply_becomes_the_response_it_describes_with_repeated_headers_kept_in_order() {
    let headers = [
        ("content-type", "application/json"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ];
    let response =
        to_response("auth", reply(401, &headers, r#"{"error":"unauthorized"}"#)).unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["content-type"], "application/json");
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(response.body(), r#"{"error":"unauthorized"}"#);
}

#[test]
fn informational_and_out_of_range_statuses_are_refused() {
    for status in [0, 101, 199, 600, 1000] {
        let error = to_response("auth", reply(status, &[], "")).unwrap_err();
        assert_eq!(error.plugin, "auth");
        assert_eq!(error.error, ReplyError::Status(status));
    }
}

#[test]
fn invalid_header_names_and_values_are_refused_naming_the_header() {
    let error = to_response("auth", reply(200, &[("bad name", "x")], "")).unwrap_err();
    assert_eq!(error.error, ReplyError::HeaderName("bad name".into()));

    let error = to_response("auth", reply(200, &[("x-note", "line\nbreak")], "")).unwrap_err();
    assert_eq!(
        error.error.to_string(),
        "the value of header `x-note` is not valid"
    );
    assert_eq!(
        error.to_string(),
        "plugin `auth` replied with an invalid response"
    );
}
