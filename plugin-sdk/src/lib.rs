//! Write [Portcullis](https://github.com/portcullis-gateway/portcullis) gateway plugins in Rust.
//!
//! A plugin is a WebAssembly component implementing the `portcullis:plugin@0.1.3` WIT world.
//! This crate generates the bindings once and hides them behind a [`Plugin`] trait with a default
//! for every phase and a typed config, so a plugin implements only what it needs:
//!
//! ```no_run
//! use portcullis_sdk::{export_plugin, Action, Error, Needs, Plugin, Request};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Config {
//!     name: String,
//!     value: String,
//! }
//!
//! struct SetHeader(Config);
//!
//! impl Plugin for SetHeader {
//!     type Config = Config;
//!
//!     fn new(config: Config) -> Result<Self, Error> {
//!         Ok(Self(config))
//!     }
//!
//!     fn needs(&self) -> Needs {
//!         Needs::ON_REQUEST
//!     }
//!
//!     fn on_request(&self, req: &Request) -> Result<Action, Error> {
//!         req.set_header(&self.0.name, &self.0.value)?;
//!         Ok(Action::Continue)
//!     }
//! }
//!
//! export_plugin!(SetHeader);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` file is the component.
//!
//! Besides the request ([`Request`], [`Response`]), a plugin may use the request [`context`],
//! its own [`scratch`] values kept between its two calls of a request, the gateway's
//! [`log`](mod@log), shared [`state`] that outlives the request (counters, rate
//! limits, key/values, in process or in Redis), and [`metrics`] of its own on the gateway's
//! `/metrics`.
//!
//! Why the config is typed: `init` deserializes the manifest's `config` table into
//! [`Plugin::Config`] once, when the gateway loads the manifest, so a typo fails
//! `portcullis check` with serde's message instead of failing the first request.

#![deny(missing_docs)]

pub mod context;
mod http;
pub mod log;
pub mod metrics;
pub mod query;
mod reply;
pub mod scratch;
pub mod state;

/// The bindings generated from `wit/` by wit-bindgen. Plugins use the wrappers instead.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, unreachable_pub, clippy::all)]
pub mod bindings {
    // The generated canonical-ABI glue is wit-bindgen's own code, which needs `unsafe` for the
    // raw pointers of the ABI.
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_portcullis_world",
        default_bindings_module: "portcullis_sdk::bindings",
    });
}

pub use http::{Header, Request, Response};
pub use reply::Reply;

/// What a plugin wants from the host: the phases to call and the bodies to buffer.
///
/// Combine with `|`: `Needs::ON_REQUEST | Needs::REQUEST_BODY`. Declaring only what you use keeps
/// the gateway fast: phases you leave out are never called, and bodies nobody reads stream
/// through unbuffered.
pub use bindings::portcullis::plugin::types::Needs;

/// What `on_request` decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Pass the request on (to the next plugin, then the upstream).
    Continue,
    /// Answer the client now; the upstream is not called.
    Respond(Reply),
}

/// An error from a plugin: a rejected config in `new`, or a failed phase. The gateway fails the
/// request by the plugin's failure policy and logs the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with `message`.
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self(message.to_string())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self(error.to_string())
    }
}

/// A gateway plugin. Every phase has a default, so implement only what you need.
pub trait Plugin: Sized + 'static {
    /// The plugin's config, deserialized from the manifest's `config` table (given as JSON).
    /// Use `#[serde(deny_unknown_fields)]` so typos are caught at load time.
    type Config: serde::de::DeserializeOwned;

    /// Builds the plugin from its config; an error refuses the manifest, naming the plugin and
    /// the route.
    fn new(config: Self::Config) -> Result<Self, Error>;

    /// The phases and bodies the plugin needs. The default calls both phases and buffers no
    /// body; return less to make the gateway skip work.
    fn needs(&self) -> Needs {
        Needs::ON_REQUEST | Needs::ON_RESPONSE
    }

    /// Sees the request before the upstream does. The default lets it through unchanged.
    fn on_request(&self, req: &Request) -> Result<Action, Error> {
        let _ = req;
        Ok(Action::Continue)
    }

    /// Sees the response before the client does. The default leaves it unchanged.
    fn on_response(&self, req: &Request, resp: &Response) -> Result<(), Error> {
        let _ = (req, resp);
        Ok(())
    }
}

/// Makes a [`Plugin`] the component's implementation of the `handler` export.
///
/// Use it once, at the root of the plugin crate: `export_plugin!(MyPlugin);`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct __PortcullisHandler;

            impl $crate::bindings::exports::portcullis::plugin::handler::Guest for __PortcullisHandler {
                fn init(config: ::std::string::String) -> ::std::result::Result<$crate::Needs, ::std::string::String> {
                    $crate::__runtime::init::<$plugin>(&config)
                }

                fn on_request(
                    req: &$crate::bindings::portcullis::plugin::http::Request,
                ) -> ::std::result::Result<$crate::bindings::portcullis::plugin::types::RequestAction, ::std::string::String> {
                    $crate::__runtime::on_request::<$plugin>(req)
                }

                fn on_response(
                    req: &$crate::bindings::portcullis::plugin::http::Request,
                    resp: &$crate::bindings::portcullis::plugin::http::Response,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__runtime::on_response::<$plugin>(req, resp)
                }
            }

            // Exports exist only in the component; a native build (for unit tests and clippy)
            // would hand names like `portcullis:plugin/handler@0.1.3#init` to the system linker.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::__export_portcullis_world!(__PortcullisHandler with_types_in $crate::bindings);
        };
    };
}

/// The glue `export_plugin!` expands to. Not part of the API.
#[doc(hidden)]
pub mod __runtime {
    use std::any::Any;
    use std::cell::RefCell;

    use crate::bindings::portcullis::plugin::{http as wit, types};
    use crate::{Action, Needs, Plugin, Request, Response};

    thread_local! {
        // Wasm components are single-threaded; the instance lives here between calls.
        static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    /// Deserializes the config, builds the plugin and keeps it for later calls.
    pub fn init<P: Plugin>(config: &str) -> Result<Needs, String> {
        let config: P::Config = decode_config(config)?;
        let plugin = P::new(config).map_err(|e| e.to_string())?;
        let needs = plugin.needs();
        INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(plugin)));
        Ok(needs)
    }

    /// Runs `on_request` on the plugin built by `init`.
    pub fn on_request<P: Plugin>(req: &wit::Request) -> Result<types::RequestAction, String> {
        with_plugin::<P, _>(|plugin| {
            let action = plugin
                .on_request(&Request::wrap(req))
                .map_err(|e| e.to_string())?;
            Ok(match action {
                Action::Continue => types::RequestAction::Continue,
                Action::Respond(reply) => types::RequestAction::Respond(reply.into_wit()),
            })
        })
    }

    /// Runs `on_response` on the plugin built by `init`.
    pub fn on_response<P: Plugin>(req: &wit::Request, resp: &wit::Response) -> Result<(), String> {
        with_plugin::<P, _>(|plugin| {
            plugin
                .on_response(&Request::wrap(req), &Response::wrap(resp))
                .map_err(|e| e.to_string())
        })
    }

    fn with_plugin<P: Plugin, R>(f: impl FnOnce(&P) -> Result<R, String>) -> Result<R, String> {
        INSTANCE.with(|slot| {
            let slot = slot.borrow();
            let plugin = slot
                .as_ref()
                .and_then(|p| p.downcast_ref::<P>())
                .ok_or_else(|| "the plugin was called before init".to_owned())?;
            f(plugin)
        })
    }

    /// Decodes a plugin's config from the JSON the host passes to `init`; an error names the
    /// key it is about.
    pub fn decode_config<C: serde::de::DeserializeOwned>(json: &str) -> Result<C, String> {
        let mut decoder = serde_json::Deserializer::from_str(json);
        let config = serde_path_to_error::deserialize(&mut decoder)
            .map_err(|e| describe_config_error(&e.path().to_string(), e.inner()))?;
        decoder.end().map_err(|e| describe_config_error(".", &e))?;
        Ok(config)
    }

    /// The key the error is about (`consumers.alice`, `rules[2].header`; `.` for the config
    /// as a whole), then serde_json's words. Its position in the JSON text is dropped: that
    /// text is generated from the manifest, so the position would only confuse.
    pub fn describe_config_error(path: &str, error: &serde_json::Error) -> String {
        let text = error.to_string();
        let words = match text.rfind(" at line ") {
            Some(cut) => &text[..cut],
            None => &text,
        };
        // serde names an unknown field itself; the path then ends with it, so name the table
        // it was found in instead.
        let path = if words.starts_with("unknown field") {
            path.rfind(['.', '[']).map_or(".", |cut| &path[..cut])
        } else {
            path
        };
        if path == "." {
            words.to_owned()
        } else {
            format!("`{path}`: {words}")
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that unwraps fails with the value in its message"
)]
mod tests;
