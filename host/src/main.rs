//! The `portcullis` binary, and its allocator.
//!
//! jemalloc, not glibc's malloc: a gateway frees memory in bursts (thousands of connections
//! closing, buffers of idle connections given back) and glibc keeps what was freed in the
//! middle of its heap, so the process stayed at its peak (148 MiB after 5,000 idle connections
//! closed, from 15 MiB idle). jemalloc returns freed pages after `dirty_decay_ms`, from a
//! background thread, so an idle process shrinks too; `muzzy_decay_ms:0` skips the lazy
//! `MADV_FREE` stage, whose pages would still count in RSS. Measured in `docs/benchmarks.md`.
//! Library users (and tests) keep the system allocator.

use std::process::ExitCode;

use clap::Parser;

#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at start (`_RJEM_MALLOC_CONF` in the environment still
/// overrides them).
#[cfg(all(unix, not(target_env = "musl")))]
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a `'static` C string literal, never written: sharing it between
// threads is sharing an immutable static.
#[cfg(all(unix, not(target_env = "musl")))]
#[allow(unsafe_code)]
unsafe impl Sync for MallocConf {}

// SAFETY: jemalloc (prefixed `_rjem_` by tikv-jemalloc-sys) reads this symbol as its
// `const char *malloc_conf`; `MallocConf` is `repr(transparent)` over exactly that pointer,
// it points to a NUL-terminated static string, and no other item exports this name.
#[cfg(all(unix, not(target_env = "musl")))]
#[allow(unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf =
    MallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

fn main() -> ExitCode {
    portcullis::cli::Cli::parse().run()
}
