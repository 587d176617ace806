//! The `portcullis` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    portcullis::cli::Cli::parse().run()
}
