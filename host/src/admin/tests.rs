//! The admin API's access rules as specifications: which `Host` names it answers to without a
//! token, the bearer token, and the refusal of cross-origin requests that change the gateway.

use super::*;

fn access(token: Option<&str>, hosts: &[&str]) -> Access {
    Access {
        token: token.map(Arc::from),
        address: SocketAddr::from(([127, 0, 0, 1], 9901)),
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
    }
}

fn request(method: Method, headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::builder().method(method).uri("/reload");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).expect("a valid request")
}

#[test]
fn own_hosts_are_localhost_loopback_the_bound_address_and_listed_names() {
    let access = access(None, &["admin.internal"]);
    for host in [
        "localhost",
        "localhost:9901",
        "LOCALHOST.:9901",
        "app.localhost:9901",
        "127.0.0.1:9901",
        "127.0.0.2",
        "[::1]:9901",
        "admin.internal:9901",
        "Admin.Internal",
    ] {
        assert!(access.is_own_host(host), "{host}");
    }
    for host in [
        "evil.example:9901",
        "localhost.evil.example",
        "10.0.0.1:9901",
        "admin.internal.evil.example",
        "",
        "bad host",
    ] {
        assert!(!access.is_own_host(host), "{host}");
    }
}

#[test]
fn without_a_token_a_foreign_host_is_forbidden() {
    let refused = access(None, &[]).refuse(&request(Method::GET, &[("host", "evil.example")]));
    assert_eq!(refused.map(|r| r.status()), Some(StatusCode::FORBIDDEN));
    let own = access(None, &[]).refuse(&request(Method::GET, &[("host", "127.0.0.1:9901")]));
    assert!(own.is_none());
    // With a token, the token decides.
    let with_token = access(Some("0123456789abcdef"), &[]);
    let authorized = request(
        Method::GET,
        &[
            ("host", "admin.example.com"),
            ("authorization", "Bearer 0123456789abcdef"),
        ],
    );
    assert!(with_token.refuse(&authorized).is_none());
}

#[test]
fn state_changing_requests_from_other_origins_are_refused() {
    let host = Some("127.0.0.1:9901");
    let cross =
        |method: Method, headers: &[(&str, &str)]| cross_origin(&request(method, headers), host);
    assert_eq!(
        cross(Method::POST, &[("origin", "http://evil.example")]).as_deref(),
        Some("Origin: http://evil.example")
    );
    assert!(cross(Method::POST, &[("origin", "null")]).is_some());
    assert!(cross(Method::POST, &[("origin", "https://127.0.0.1:9901")]).is_some());
    assert!(cross(Method::DELETE, &[("sec-fetch-site", "same-site")]).is_some());
    assert!(cross(Method::POST, &[("origin", "http://127.0.0.1:9901")]).is_none());
    assert!(cross(Method::POST, &[("sec-fetch-site", "same-origin")]).is_none());
    assert!(cross(Method::POST, &[("sec-fetch-site", "none")]).is_none());
    assert!(
        cross(Method::POST, &[]).is_none(),
        "curl sends neither header"
    );
    assert!(cross(Method::GET, &[("origin", "http://evil.example")]).is_none());
}
