//! `redirect-to-https`: a plain listener that answers every request with a redirect to the same
//! host, path and query over HTTPS, without calling an upstream. `GET` and `HEAD` get `301`;
//! other methods get `308`, which tells clients to repeat the method and body.

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::config::HttpsRedirect;
use crate::message::body::{self, ProxyBody};

/// The redirect for `request`, or `400` when it names no host.
pub fn respond<B>(request: &Request<B>, redirect: HttpsRedirect) -> Response<ProxyBody> {
    let location = location(request, redirect.port);
    let status = if matches!(*request.method(), Method::GET | Method::HEAD) {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let mut response = Response::new(body::empty());
    match location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        Some(location) => {
            *response.status_mut() = status;
            response.headers_mut().insert(header::LOCATION, location);
        }
        None => *response.status_mut() = StatusCode::BAD_REQUEST,
    }
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// `https://host[:port]/path?query`; the port is left out when it is 443.
fn location<B>(request: &Request<B>, port: u16) -> Option<String> {
    let authority = request.uri().authority().map(|a| a.as_str()).or_else(|| {
        request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    })?;
    let authority: http::uri::Authority = authority.parse().ok()?;
    let host = authority.host();
    if host.is_empty() {
        return None;
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(if port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{port}{path}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(method: Method, uri: &str, host: &str, port: u16) -> (u16, Option<String>) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", host)
            .body(())
            .expect("a request");
        let response = respond(&request, HttpsRedirect { port });
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        (response.status().as_u16(), location)
    }

    #[test]
    fn get_is_moved_permanently_to_the_same_host_path_and_query() {
        assert_eq!(
            redirect(Method::GET, "/a/b?q=1", "api.example.com:8080", 443),
            (301, Some("https://api.example.com/a/b?q=1".into()))
        );
    }

    #[test]
    fn post_gets_308_and_a_non_default_port_is_kept() {
        assert_eq!(
            redirect(Method::POST, "/x", "api.example.com", 8443),
            (308, Some("https://api.example.com:8443/x".into()))
        );
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        assert_eq!(
            redirect(Method::GET, "/", "[::1]:8080", 8443),
            (301, Some("https://[::1]:8443/".into()))
        );
    }

    #[test]
    fn a_request_without_host_is_a_bad_request() {
        let request = Request::builder().uri("/").body(()).expect("a request");
        assert_eq!(respond(&request, HttpsRedirect { port: 443 }).status(), 400);
    }
}
