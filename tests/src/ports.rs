//! Free ports for the servers a test starts (etcd, a registry): the kernel picks one for a
//! listener that is closed at once, so the server can bind it.

use std::net::TcpListener;

/// A port of 127.0.0.1 free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}
