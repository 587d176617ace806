//! End-to-end specifications of the gateway: real sockets on 127.0.0.1, real upstreams, real
//! Wasm components built from this repository.

mod acl;
mod balancing;
mod basic_auth;
mod catalog;
mod chain;
mod correlation_id;
mod cors;
mod errors;
mod flaky;
mod grpc;
mod grpc_transcode;
mod health;
mod ip_restriction;
mod isolation;
mod jwt_auth;
mod key_auth;
mod languages;
mod limits;
mod observability;
mod protocols;
mod rate_limit;
mod reload;
mod request_size_limit;
mod request_transformer;
mod request_validator;
mod response_transformer;
mod retries;
mod sandbox;
mod shutdown;
mod state;
mod tls;
mod upstream_protocols;
mod websocket;
