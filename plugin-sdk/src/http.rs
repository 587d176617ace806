//! The request and response as a plugin sees them: thin wrappers over the host's resources. Each
//! method is one call into the host, which reads or edits its own copy in place; nothing is
//! copied into the plugin unless asked for.

use crate::Error;
use crate::bindings::portcullis::plugin::http as wit;

/// The request, as changed by the plugins before this one.
///
/// In `on_response` it shows the request as the plugins left it, and edits fail.
pub struct Request<'a>(&'a wit::Request);

/// The response on its way to the client.
pub struct Response<'a>(&'a wit::Response);

/// A header, lower-case name and value.
pub type Header = crate::bindings::portcullis::plugin::types::Header;

/// The header fields of a message: the WIT gives the request and the response resource the same
/// six functions (a resource cannot share another's), so they are wrapped once, here.
macro_rules! header_fields {
    ($message:ident) => {
        impl $message<'_> {
            /// The first value of header `name` (case-insensitive).
            pub fn header(&self, name: &str) -> Option<String> {
                self.0.header(name)
            }

            /// Every value of header `name`, in order.
            pub fn header_values(&self, name: &str) -> Vec<String> {
                self.0.header_values(name)
            }

            /// Every header, in order. Prefer `header` when you know the name.
            pub fn headers(&self) -> Vec<Header> {
                self.0.headers()
            }

            /// Replaces every value of header `name` with `value`.
            pub fn set_header(&self, name: &str, value: &str) -> Result<(), Error> {
                self.0.set_header(name, value).map_err(Error::from)
            }

            /// Adds a value to header `name`.
            pub fn append_header(&self, name: &str, value: &str) -> Result<(), Error> {
                self.0.append_header(name, value).map_err(Error::from)
            }

            /// Removes header `name`.
            pub fn remove_header(&self, name: &str) -> Result<(), Error> {
                self.0.remove_header(name).map_err(Error::from)
            }
        }
    };
}

header_fields!(Request);
header_fields!(Response);

impl<'a> Request<'a> {
    pub(crate) fn wrap(inner: &'a wit::Request) -> Self {
        Self(inner)
    }

    /// The method, such as `GET`.
    pub fn method(&self) -> String {
        self.0.method()
    }

    /// Replaces the method.
    pub fn set_method(&self, method: &str) -> Result<(), Error> {
        self.0.set_method(method).map_err(Error::from)
    }

    /// The path, percent-encoded as received, without the query.
    pub fn path(&self) -> String {
        self.0.path()
    }

    /// Replaces the path; it must start with `/`.
    pub fn set_path(&self, path: &str) -> Result<(), Error> {
        self.0.set_path(path).map_err(Error::from)
    }

    /// The query string without `?`, if any.
    pub fn query(&self) -> Option<String> {
        self.0.query()
    }

    /// Replaces the query string (`None` removes it).
    pub fn set_query(&self, query: Option<&str>) -> Result<(), Error> {
        self.0.set_query(query).map_err(Error::from)
    }

    /// The authority the client asked for (`Host` or `:authority`).
    pub fn authority(&self) -> Option<String> {
        self.0.authority()
    }

    /// The whole body, if this plugin's [`Needs`](crate::Needs) include `REQUEST_BODY`.
    pub fn body(&self) -> Option<Vec<u8>> {
        self.0.body()
    }

    /// Replaces the body (needs `REQUEST_BODY`).
    pub fn set_body(&self, body: &[u8]) -> Result<(), Error> {
        self.0.set_body(body).map_err(Error::from)
    }

    /// The id of the matched route.
    pub fn route(&self) -> String {
        self.0.route()
    }

    /// A parameter of the route's path template: `id` in `/users/{id}`.
    pub fn route_param(&self, name: &str) -> Option<String> {
        self.0.route_param(name)
    }

    /// The client's IP address.
    pub fn client_ip(&self) -> String {
        self.0.client_ip()
    }

    /// The request id.
    pub fn id(&self) -> String {
        self.0.id()
    }

    /// Replaces every value of header `name` on the response this request will get (the
    /// upstream's, a plugin's reply or the gateway's error), as [`Response::set_header`] would
    /// in this plugin's `on_response`: the gateway makes the edit at that place, so a plugin
    /// that knows its response headers in `on_request` needs no `on_response` (and no second
    /// call) for them. `on_request` only; not made when `on_request` fails. Contract 0.1.3.
    pub fn set_response_header(&self, name: &str, value: &str) -> Result<(), Error> {
        self.0.set_response_header(name, value).map_err(Error::from)
    }

    /// Adds a value to header `name` of the response this request will get, as
    /// [`Response::append_header`] would in `on_response` (see
    /// [`set_response_header`](Self::set_response_header)).
    pub fn append_response_header(&self, name: &str, value: &str) -> Result<(), Error> {
        self.0
            .append_response_header(name, value)
            .map_err(Error::from)
    }

    /// Removes header `name` from the response this request will get, as
    /// [`Response::remove_header`] would in `on_response` (see
    /// [`set_response_header`](Self::set_response_header)).
    pub fn remove_response_header(&self, name: &str) -> Result<(), Error> {
        self.0.remove_response_header(name).map_err(Error::from)
    }
}

impl<'a> Response<'a> {
    pub(crate) fn wrap(inner: &'a wit::Response) -> Self {
        Self(inner)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.0.status()
    }

    /// Replaces the status code.
    pub fn set_status(&self, status: u16) -> Result<(), Error> {
        self.0.set_status(status).map_err(Error::from)
    }

    /// The whole body, if this plugin's needs include `RESPONSE_BODY`.
    pub fn body(&self) -> Option<Vec<u8>> {
        self.0.body()
    }

    /// Replaces the body (needs `RESPONSE_BODY`).
    pub fn set_body(&self, body: &[u8]) -> Result<(), Error> {
        self.0.set_body(body).map_err(Error::from)
    }

    /// The trailers (needs `RESPONSE_BODY`).
    pub fn trailers(&self) -> Vec<Header> {
        self.0.trailers()
    }

    /// Replaces every value of trailer `name` (needs `RESPONSE_BODY`).
    pub fn set_trailer(&self, name: &str, value: &str) -> Result<(), Error> {
        self.0.set_trailer(name, value).map_err(Error::from)
    }

    /// Removes trailer `name` (needs `RESPONSE_BODY`).
    pub fn remove_trailer(&self, name: &str) -> Result<(), Error> {
        self.0.remove_trailer(name).map_err(Error::from)
    }
}
