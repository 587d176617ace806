//! The forwarding rules as specifications: hop-by-hop fields, `X-Forwarded-*`, `Via`, and the
//! one host that routing and forwarding agree on.

use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

#[test]
fn hop_by_hop_fields_and_those_named_by_connection_are_removed() {
    let mut h = headers(&[
        ("connection", "keep-alive, x-secret-hop"),
        ("keep-alive", "timeout=5"),
        ("x-secret-hop", "1"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "h2c"),
        ("proxy-connection", "keep-alive"),
        ("x-end-to-end", "stays"),
    ]);
    strip_hop_by_hop(&mut h);
    let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["x-end-to-end"]);
}

#[test]
fn te_trailers_survives_but_other_te_values_do_not() {
    let mut h = headers(&[("te", "gzip, trailers")]);
    strip_hop_by_hop(&mut h);
    assert_eq!(h.get("te").unwrap(), "trailers");
    let mut h = headers(&[("te", "gzip")]);
    strip_hop_by_hop(&mut h);
    assert!(h.get("te").is_none());
}

#[test]
fn via_names_the_protocol_version_and_appends_to_earlier_hops() {
    let mut h = headers(&[("via", "1.0 edge")]);
    append_via(&mut h, Version::HTTP_2);
    let via: Vec<_> = h
        .get_all("via")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(via, ["1.0 edge", "2 portcullis"]);
}

#[test]
fn x_forwarded_for_appends_the_client_and_proto_host_are_replaced() {
    let mut h = headers(&[
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-proto", "https"),
    ]);
    set_forwarded(
        &mut h,
        "127.0.0.1".parse().unwrap(),
        &Scheme::HTTP,
        Some("api.example.com"),
    );
    assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.1, 127.0.0.1");
    assert_eq!(h.get("x-forwarded-proto").unwrap(), "http");
    assert_eq!(h.get("x-forwarded-host").unwrap(), "api.example.com");
}

#[test]
fn upstream_uri_keeps_path_and_query() {
    let target: Authority = "127.0.0.1:9000".parse().unwrap();
    let pq: PathAndQuery = "/a/b?x=1".parse().unwrap();
    assert_eq!(
        upstream_uri(&Scheme::HTTP, &target, Some(&pq)).unwrap(),
        "http://127.0.0.1:9000/a/b?x=1"
    );
    assert_eq!(
        upstream_uri(&Scheme::HTTP, &target, None).unwrap(),
        "http://127.0.0.1:9000/"
    );
}

#[test]
fn http1_upstreams_see_the_clients_host() {
    let mut h = headers(&[("host", "api.example.com")]);
    set_upstream_host(&mut h, UpstreamProtocol::Http1, Some("api.example.com"));
    assert_eq!(h.get("host").unwrap(), "api.example.com");
    // An HTTP/2 client's `:authority` becomes the HTTP/1.1 upstream's `Host`.
    let mut h = HeaderMap::new();
    set_upstream_host(&mut h, UpstreamProtocol::Http1, Some("api.example.com"));
    assert_eq!(h.get("host").unwrap(), "api.example.com");
}

#[test]
fn http2_upstreams_get_no_host_to_disagree_with_their_authority() {
    for protocol in [UpstreamProtocol::Http2, UpstreamProtocol::Auto] {
        let mut h = headers(&[("host", "api.example.com"), ("x-end-to-end", "stays")]);
        set_upstream_host(&mut h, protocol, Some("api.example.com"));
        assert!(h.get("host").is_none(), "{protocol:?}");
        assert_eq!(h.get("x-end-to-end").unwrap(), "stays");
    }
}

fn h2_parts(authority: &str, hosts: &[&str]) -> http::request::Parts {
    let mut builder =
        http::Request::get(format!("http://{authority}/")).version(http::Version::HTTP_2);
    for host in hosts {
        builder = builder.header(header::HOST, *host);
    }
    builder.body(()).unwrap().into_parts().0
}

#[test]
fn an_http2_request_whose_host_differs_from_its_authority_is_malformed() {
    let mut parts = h2_parts("shop.example", &["admin.internal"]);
    assert_eq!(
        normalize_host(&mut parts),
        Err(HostError::DiffersFromAuthority)
    );
    assert_eq!(
        HostError::DiffersFromAuthority.to_string(),
        "the request's Host header differs from its :authority",
        "the client reads this text in the 400 answer"
    );
    let mut twice = h2_parts("shop.example", &["shop.example", "shop.example"]);
    assert!(normalize_host(&mut twice).is_err());
}

#[test]
fn an_http2_request_whose_host_agrees_with_its_authority_or_has_none_passes() {
    for hosts in [&["SHOP.example"][..], &[]] {
        let mut parts = h2_parts("shop.example", hosts);
        assert_eq!(normalize_host(&mut parts), Ok(()), "{hosts:?}");
    }
}

#[test]
fn client_addresses_are_written_as_display_writes_them() {
    for ip in [
        "0.0.0.0",
        "1.2.3.4",
        "9.10.99.100",
        "255.255.255.255",
        "127.0.0.1",
        "::1",
        "2001:db8::8a2e:370:7334",
        "::ffff:192.0.2.128",
    ] {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        let mut h = HeaderMap::new();
        set_forwarded(&mut h, ip, &Scheme::HTTP, None);
        assert_eq!(h.get("x-forwarded-for").unwrap(), ip.to_string().as_str());
        set_forwarded(&mut h, ip, &Scheme::HTTP, None);
        assert_eq!(
            h.get("x-forwarded-for").unwrap(),
            format!("{ip}, {ip}").as_str()
        );
    }
}

#[test]
fn the_quick_hop_by_hop_check_knows_every_hop_by_hop_field_and_nothing_else() {
    assert!(HOP_BY_HOP.iter().all(is_hop_by_hop));
    for end_to_end in [
        "host",
        "content-length",
        "x-forwarded-for",
        "keep-alive-x",
        "tea",
    ] {
        let name = HeaderName::from_static(end_to_end);
        assert!(!is_hop_by_hop(&name), "{end_to_end}");
    }
}
