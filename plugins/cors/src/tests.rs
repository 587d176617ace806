use super::*;
use origin::OriginRule;

fn plugin(json: &str) -> Result<Cors, Error> {
    Cors::new(serde_json::from_str(json).map_err(Error::from)?)
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers()
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn exact_origins_match_case_insensitively_and_only_whole() {
    let rule = OriginRule::parse("https://App.example.com").unwrap();
    assert!(rule.matches("https://app.example.com"));
    assert!(rule.matches("HTTPS://APP.EXAMPLE.COM"));
    assert!(!rule.matches("http://app.example.com"));
    assert!(!rule.matches("https://app.example.com:8443"));
    assert!(!rule.matches("https://app.example.com.evil.net"));
}

#[test]
fn a_pattern_matches_one_or_more_subdomain_labels_and_nothing_else() {
    let rule = OriginRule::parse("https://*.example.com").unwrap();
    assert!(rule.matches("https://a.example.com"));
    assert!(rule.matches("https://a.b.example.com"));
    assert!(
        !rule.matches("https://example.com"),
        "the apex is not a subdomain"
    );
    assert!(!rule.matches("https://.example.com"));
    assert!(!rule.matches("https://evil-example.com"));
    assert!(!rule.matches("https://a.example.com.evil.net"));
    assert!(!rule.matches("https://a.example.com:8443"));
    assert!(!rule.matches("http://a.example.com"));
    assert!(!rule.matches("https://a/b.example.com"));
    let with_port = OriginRule::parse("http://*.local.test:8080").unwrap();
    assert!(with_port.matches("http://x.local.test:8080"));
    assert!(!with_port.matches("http://x.local.test"));
}

#[test]
fn ipv6_origins_parse_with_and_without_ports() {
    assert!(
        OriginRule::parse("http://[::1]")
            .unwrap()
            .matches("http://[::1]")
    );
    assert!(
        OriginRule::parse("http://[::1]:3000")
            .unwrap()
            .matches("http://[::1]:3000")
    );
    assert!(OriginRule::parse("http://[::1]x").is_err());
}

#[test]
fn malformed_origins_are_config_errors_naming_the_entry() {
    for bad in [
        "example.com",
        "https://example.com/",
        "https://example.com/app",
        "https://ex*ample.com",
        "https://*",
        "https://*.example.com/x",
        "https://example.com:99999",
        "https://",
        "https://a..b",
    ] {
        let error = plugin(&format!(r#"{{"origins": ["{bad}"]}}"#))
            .err()
            .unwrap_or_else(|| panic!("`{bad}` should be refused"));
        assert!(error.message().contains(bad), "{error}");
    }
}

#[test]
fn a_star_origin_with_credentials_is_refused_as_the_fetch_standard_says() {
    let error = plugin(r#"{"origins": ["*"], "credentials": true}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("Fetch standard"), "{error}");
    let error = plugin(
        r#"{"origins": ["https://a.example"], "credentials": true, "exposed-headers": ["*"]}"#,
    )
    .err()
    .unwrap();
    assert!(error.message().contains("exposed-headers"), "{error}");
}

#[test]
fn other_config_mistakes_say_what_to_fix() {
    assert!(plugin(r#"{"origins": []}"#).is_err());
    assert!(plugin(r#"{"origins": ["*", "https://a.example"]}"#).is_err());
    assert!(plugin(r#"{"origins": ["*"], "methods": []}"#).is_err());
    let error = plugin(r#"{"origins": ["*"], "allowed-headers": ["bad header"]}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("`bad header`"), "{error}");
    let error = plugin(r#"{"origins": ["*"], "max_age": 5}"#).err().unwrap();
    assert!(
        error.message().contains("unknown field `max_age`"),
        "{error}"
    );
}

#[test]
fn a_preflight_from_an_allowed_origin_gets_204_with_the_allow_headers() {
    let cors = plugin(
        r#"{"origins": ["https://*.example.com"], "methods": ["GET", "PUT"],
            "allowed-headers": ["Content-Type", "X-Trace"], "credentials": true, "max-age": 600}"#,
    )
    .unwrap();
    let reply = cors.preflight(
        "https://app.example.com",
        "PUT",
        Some("content-type, x-trace"),
    );
    assert_eq!(reply.status(), 204);
    assert_eq!(
        header(&reply, ALLOW_ORIGIN),
        Some("https://app.example.com")
    );
    assert_eq!(header(&reply, ALLOW_CREDENTIALS), Some("true"));
    assert_eq!(header(&reply, ALLOW_METHODS), Some("GET, PUT"));
    assert_eq!(header(&reply, ALLOW_HEADERS), Some("content-type, x-trace"));
    assert_eq!(header(&reply, MAX_AGE), Some("600"));
    assert!(header(&reply, "vary").unwrap().starts_with("Origin"));
}

#[test]
fn a_preflight_is_refused_with_403_and_no_cors_headers_for_what_is_not_allowed() {
    let cors = plugin(r#"{"origins": ["https://app.example.com"], "methods": ["GET"]}"#).unwrap();
    for (origin, method, headers, word) in [
        ("https://evil.example", "GET", None, "origin"),
        ("https://app.example.com", "DELETE", None, "method `DELETE`"),
        (
            "https://app.example.com",
            "GET",
            Some("x-secret"),
            "header `x-secret`",
        ),
    ] {
        let reply = cors.preflight(origin, method, headers);
        assert_eq!(reply.status(), 403);
        assert_eq!(header(&reply, ALLOW_ORIGIN), None);
        let body: serde_json::Value = serde_json::from_slice(reply.body_bytes()).unwrap();
        assert!(body["message"].as_str().unwrap().contains(word), "{body}");
    }
}

#[test]
fn any_headers_reflect_what_the_preflight_asked_and_any_origin_answers_star() {
    let cors = plugin(r#"{"origins": ["*"], "methods": ["*"], "allowed-headers": ["*"]}"#).unwrap();
    let reply = cors.preflight("https://x.test", "PURGE", Some("Authorization,  X-A"));
    assert_eq!(reply.status(), 204);
    assert_eq!(header(&reply, ALLOW_ORIGIN), Some("*"));
    assert_eq!(header(&reply, ALLOW_CREDENTIALS), None);
    assert_eq!(header(&reply, ALLOW_METHODS), Some("PURGE"));
    assert_eq!(header(&reply, ALLOW_HEADERS), Some("authorization, x-a"));
    assert_eq!(header(&reply, MAX_AGE), None);
}

#[test]
fn actual_requests_from_allowed_origins_get_the_origin_back_and_vary() {
    let cors = plugin(
        r#"{"origins": ["https://app.example.com"], "credentials": true, "exposed-headers": ["X-Total"]}"#,
    )
    .unwrap();
    let edits = cors.actual(Some("https://app.example.com"));
    assert_eq!(
        edits,
        ActualEdits {
            vary: true,
            set: vec![
                (ALLOW_ORIGIN, "https://app.example.com".to_owned()),
                (ALLOW_CREDENTIALS, "true".to_owned()),
                (EXPOSE_HEADERS, "x-total".to_owned()),
            ],
        }
    );
    assert_eq!(
        cors.actual(Some("https://evil.example")),
        ActualEdits {
            vary: true,
            set: vec![]
        },
        "a disallowed origin gets no CORS header, but caches must still vary"
    );
    assert_eq!(cors.actual(None).set, vec![]);
}

#[test]
fn a_star_origin_without_credentials_answers_star_and_does_not_vary() {
    let cors = plugin(r#"{"origins": ["*"]}"#).unwrap();
    let edits = cors.actual(Some("https://anyone.test"));
    assert!(!edits.vary);
    assert_eq!(edits.set, vec![(ALLOW_ORIGIN, "*".to_owned())]);
}

#[test]
fn vary_is_appended_only_when_it_does_not_name_origin_already() {
    assert!(vary_lists_origin(&["Accept-Encoding, origin".to_owned()]));
    assert!(vary_lists_origin(&["*".to_owned()]));
    assert!(!vary_lists_origin(&["Accept-Encoding".to_owned()]));
    assert!(!vary_lists_origin(&[]));
}
