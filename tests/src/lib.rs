//! Test support: real upstream servers, a real gateway on an ephemeral port, and a small HTTP
//! client, so end-to-end tests read as "given this manifest, this request gets that answer".

pub mod client;
pub mod etcd;
pub mod gateway;
pub mod grpc;
pub mod logs;
pub mod manifest;
pub mod metrics;
pub mod otlp;
pub mod ports;
pub mod raw;
pub mod redis;
pub mod registry;
pub mod tls;
pub mod upstream;
pub mod websocket;

/// Paths of the test-only Wasm components, built by `build.rs`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

pub use client::{Client, TestResponse};
pub use gateway::TestGateway;
pub use upstream::EchoUpstream;
