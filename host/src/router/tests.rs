//! The router's behaviour, one specification per test.

#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::*;

fn route(host: Option<&str>, path: &str) -> RouteMatcher {
    let path = match path.strip_suffix('*') {
        Some(prefix) => PathPattern::prefix(prefix).unwrap(),
        None => PathPattern::parse(path).unwrap(),
    };
    RouteMatcher {
        host: host.map(|h| HostPattern::parse(h).unwrap()),
        path,
        methods: Vec::new(),
        headers: Vec::new(),
    }
}

fn with_methods(mut m: RouteMatcher, methods: &[Method]) -> RouteMatcher {
    m.methods = methods.to_vec();
    m
}

fn with_header(
    mut m: RouteMatcher,
    name: &'static str,
    value: Option<&'static str>,
) -> RouteMatcher {
    let want = match value {
        Some(v) => HeaderValueMatch::Exact(HeaderValue::from_static(v)),
        None => HeaderValueMatch::Present,
    };
    m.headers.push((HeaderName::from_static(name), want));
    m
}

fn router(matchers: Vec<RouteMatcher>) -> Router {
    Router::new(matchers.into_iter().enumerate().collect()).unwrap()
}

fn get(router: &Router, host: Option<&str>, path: &str) -> Option<usize> {
    router
        .find(host, path, &Method::GET, &HeaderMap::new())
        .map(|m| m.route)
}

#[test]
fn an_exact_path_matches_only_itself_and_the_trailing_slash_counts() {
    let r = router(vec![route(None, "/a/b")]);
    assert_eq!(get(&r, None, "/a/b"), Some(0));
    assert_eq!(get(&r, None, "/a/b/"), None);
    assert_eq!(get(&r, None, "/a"), None);
}

#[test]
fn a_prefix_matches_whole_segments_only() {
    let r = router(vec![route(None, "/api*")]);
    for path in ["/api", "/api/", "/api/x", "/api/x/y"] {
        assert_eq!(get(&r, None, path), Some(0), "{path}");
    }
    assert_eq!(get(&r, None, "/apix"), None);
    assert_eq!(get(&r, None, "/"), None);
}

#[test]
fn a_prefix_with_a_trailing_slash_is_the_same_prefix() {
    assert_eq!(
        PathPattern::prefix("/api/").unwrap(),
        PathPattern::prefix("/api").unwrap()
    );
    let r = router(vec![route(None, "/api/*")]);
    assert_eq!(get(&r, None, "/api"), Some(0));
}

#[test]
fn the_root_prefix_matches_every_path() {
    let r = router(vec![route(None, "/*")]);
    assert_eq!(get(&r, None, "/"), Some(0));
    assert_eq!(get(&r, None, "/anything/at/all"), Some(0));
}

#[test]
fn template_parameters_capture_one_non_empty_segment_raw() {
    let r = router(vec![route(None, "/users/{id}/orders/{order}")]);
    let m = r
        .find(
            None,
            "/users/a%20b/orders/7",
            &Method::GET,
            &HeaderMap::new(),
        )
        .unwrap();
    assert_eq!(m.params.get("id"), Some("a%20b"));
    assert_eq!(m.params.get("order"), Some("7"));
    assert_eq!(
        m.params.iter().collect::<Vec<_>>(),
        [("id", "a%20b"), ("order", "7")]
    );
    assert_eq!(get(&r, None, "/users//orders/7"), None);
    assert_eq!(get(&r, None, "/users/1/orders/7/more"), None);
    assert_eq!(get(&r, None, "/users/1/orders"), None);
}

#[test]
fn a_catch_all_captures_the_rest_of_the_path_even_empty() {
    let r = router(vec![route(None, "/static/{file..}")]);
    let find = |path| r.find(None, path, &Method::GET, &HeaderMap::new()).unwrap();
    assert_eq!(
        find("/static/css/site.css").params.get("file"),
        Some("css/site.css")
    );
    assert_eq!(find("/static/").params.get("file"), Some(""));
    assert_eq!(find("/static").params.get("file"), Some(""));
    assert_eq!(get(&r, None, "/staticx"), None);
}

#[test]
fn paths_are_matched_without_percent_decoding() {
    let r = router(vec![route(None, "/users")]);
    assert_eq!(get(&r, None, "/%75sers"), None);
}

#[test]
fn exact_beats_template_beats_prefix() {
    let r = router(vec![
        route(None, "/users*"),
        route(None, "/users/{id}"),
        route(None, "/users/me"),
    ]);
    assert_eq!(get(&r, None, "/users/me"), Some(2));
    assert_eq!(get(&r, None, "/users/42"), Some(1));
    assert_eq!(get(&r, None, "/users/42/x"), Some(0));
}

#[test]
fn the_longer_prefix_wins() {
    let r = router(vec![
        route(None, "/*"),
        route(None, "/api*"),
        route(None, "/api/v2*"),
    ]);
    assert_eq!(get(&r, None, "/api/v2/x"), Some(2));
    assert_eq!(get(&r, None, "/api/v1"), Some(1));
    assert_eq!(get(&r, None, "/other"), Some(0));
}

#[test]
fn templates_with_more_literals_win_and_literals_come_before_parameters() {
    let r = router(vec![
        route(None, "/{a}/{b}/c"),
        route(None, "/a/{b}/{c}"),
        route(None, "/{a}/b/c"),
        route(None, "/a/{b}/c"),
    ]);
    assert_eq!(get(&r, None, "/a/b/c"), Some(3)); // two literals, literal first
    assert_eq!(get(&r, None, "/x/b/c"), Some(2));
    assert_eq!(get(&r, None, "/a/x/y"), Some(1));
    assert_eq!(get(&r, None, "/x/y/c"), Some(0));
}

#[test]
fn a_parameter_beats_a_catch_all_at_the_same_position() {
    let r = router(vec![
        route(None, "/files/{rest..}"),
        route(None, "/files/{name}"),
    ]);
    assert_eq!(get(&r, None, "/files/a"), Some(1));
    assert_eq!(get(&r, None, "/files/a/b"), Some(0));
}

#[test]
fn hosts_match_case_insensitively_and_ignore_the_port() {
    let r = router(vec![route(Some("API.example.com"), "/*")]);
    assert_eq!(get(&r, Some("api.EXAMPLE.com:8443"), "/"), Some(0));
    assert_eq!(get(&r, Some("api.example.com."), "/"), Some(0));
    assert_eq!(get(&r, Some("other.example.com"), "/"), None);
    assert_eq!(get(&r, None, "/"), None);
}

#[test]
fn a_wildcard_host_matches_subdomains_but_not_the_domain_itself() {
    let r = router(vec![route(Some("*.example.com"), "/*")]);
    assert_eq!(get(&r, Some("a.example.com"), "/"), Some(0));
    assert_eq!(get(&r, Some("a.b.example.com"), "/"), Some(0));
    assert_eq!(get(&r, Some("example.com"), "/"), None);
    assert_eq!(get(&r, Some("badexample.com"), "/"), None);
}

#[test]
fn exact_host_beats_longer_wildcard_beats_shorter_wildcard_beats_no_host() {
    let r = router(vec![
        route(None, "/*"),
        route(Some("*.com"), "/*"),
        route(Some("*.example.com"), "/*"),
        route(Some("api.example.com"), "/*"),
    ]);
    assert_eq!(get(&r, Some("api.example.com"), "/x"), Some(3));
    assert_eq!(get(&r, Some("www.example.com"), "/x"), Some(2));
    assert_eq!(get(&r, Some("www.other.com"), "/x"), Some(1));
    assert_eq!(get(&r, Some("localhost"), "/x"), Some(0));
}

#[test]
fn host_precedence_comes_before_path_precedence_but_falls_through_when_nothing_matches() {
    let r = router(vec![
        route(None, "/users/me"),
        route(Some("api.example.com"), "/users*"),
    ]);
    assert_eq!(get(&r, Some("api.example.com"), "/users/me"), Some(1));
    assert_eq!(get(&r, Some("api.example.com"), "/orders"), None);
    let r = router(vec![
        route(None, "/orders"),
        route(Some("api.example.com"), "/users*"),
    ]);
    assert_eq!(get(&r, Some("api.example.com"), "/orders"), Some(0));
}

#[test]
fn routes_with_methods_come_before_any_method_routes() {
    let r = router(vec![
        route(None, "/a"),
        with_methods(route(None, "/a"), &[Method::POST]),
    ]);
    let find = |m: Method| r.find(None, "/a", &m, &HeaderMap::new()).map(|m| m.route);
    assert_eq!(find(Method::POST), Some(1));
    assert_eq!(find(Method::GET), Some(0));
}

#[test]
fn a_method_list_rejects_other_methods() {
    let r = router(vec![with_methods(
        route(None, "/a"),
        &[Method::GET, Method::HEAD],
    )]);
    assert_eq!(
        r.find(None, "/a", &Method::HEAD, &HeaderMap::new())
            .map(|m| m.route),
        Some(0)
    );
    assert!(
        r.find(None, "/a", &Method::DELETE, &HeaderMap::new())
            .is_none()
    );
}

#[test]
fn more_header_conditions_win_and_values_compare_exactly() {
    let r = router(vec![
        route(None, "/a"),
        with_header(route(None, "/a"), "x-version", Some("2")),
        with_header(
            with_header(route(None, "/a"), "x-version", Some("2")),
            "x-beta",
            None,
        ),
    ]);
    let find = |pairs: &[(&'static str, &'static str)]| {
        let mut headers = HeaderMap::new();
        for (n, v) in pairs {
            headers.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        r.find(None, "/a", &Method::GET, &headers).map(|m| m.route)
    };
    assert_eq!(find(&[("x-version", "2"), ("x-beta", "")]), Some(2));
    assert_eq!(find(&[("x-version", "1"), ("x-version", "2")]), Some(1));
    assert_eq!(find(&[("x-version", "20")]), Some(0));
}

#[test]
fn identical_matchers_conflict_and_name_both_ids() {
    let routes = vec![
        (7, route(None, "/a")),
        (8, route(None, "/b")),
        (9, route(None, "/a")),
    ];
    assert_eq!(
        Router::new(routes).unwrap_err(),
        [Conflict {
            first: 7,
            second: 9
        }]
    );
}

#[test]
fn templates_that_differ_only_in_parameter_names_conflict() {
    let routes = vec![route(None, "/u/{id}/x"), route(None, "/u/{user}/x")];
    let err = Router::new(routes.into_iter().enumerate().collect()).unwrap_err();
    assert_eq!(
        err,
        [Conflict {
            first: 0,
            second: 1
        }]
    );
}

#[test]
fn overlapping_method_lists_conflict_but_disjoint_ones_do_not() {
    let a = with_methods(route(None, "/a"), &[Method::GET, Method::POST]);
    let b = with_methods(route(None, "/a"), &[Method::POST]);
    let c = with_methods(route(None, "/a"), &[Method::PUT]);
    assert!(Router::new(vec![(0, a.clone()), (1, b)]).is_err());
    assert!(Router::new(vec![(0, a), (1, c)]).is_ok());
}

#[test]
fn routes_that_differ_in_host_headers_or_specificity_do_not_conflict() {
    let routes = vec![
        route(None, "/a*"),
        route(Some("x.io"), "/a*"),
        with_header(route(None, "/a*"), "x-a", None),
        with_methods(route(None, "/a*"), &[Method::GET]),
        route(None, "/a/{x..}"),
    ];
    assert!(Router::new(routes.into_iter().enumerate().collect()).is_ok());
}

#[test]
fn invalid_paths_are_rejected_with_a_reason() {
    let err = |p: &str| PathPattern::parse(p).unwrap_err();
    assert!(matches!(err("users"), PatternError::NotAbsolute(_)));
    assert!(matches!(err("/a?b"), PatternError::ForbiddenChar(_, '?')));
    assert!(matches!(err("/a b"), PatternError::ForbiddenChar(_, ' ')));
    assert!(matches!(
        err("/files/{name}.json"),
        PatternError::PartialSegment(_)
    ));
    assert!(matches!(err("/a/{id"), PatternError::PartialSegment(_)));
    assert!(matches!(err("/a/{1x}"), PatternError::BadParamName(_)));
    assert!(matches!(err("/a/{}"), PatternError::BadParamName(_)));
    assert!(matches!(err("/{id}/{id}"), PatternError::DuplicateParam(_)));
    assert!(matches!(
        err("/{rest..}/x"),
        PatternError::CatchAllNotLast(_)
    ));
}

#[test]
fn invalid_hosts_are_rejected() {
    for host in [
        "",
        "*.",
        "a..b",
        "*example.com",
        "a.*.com",
        "api.example.com:80",
        "a b",
    ] {
        assert!(HostPattern::parse(host).is_err(), "{host:?}");
    }
    assert_eq!(
        HostPattern::parse("*.Example.COM").unwrap().to_string(),
        "*.example.com"
    );
}

#[test]
fn an_empty_router_matches_nothing() {
    let r = router(Vec::new());
    assert!(r.is_empty());
    assert_eq!(get(&r, Some("a"), "/"), None);
}
