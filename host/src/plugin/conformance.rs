//! Why a component does not fit the contract, in its author's terms.
//!
//! wasmtime's linker reports the first import it cannot satisfy, in the linker's vocabulary
//! ("a matching implementation was not found in the linker"). An author needs to know which of
//! three mistakes they made: the component does not export the `handler` interface (or lacks a
//! function of it), it imports something the gateway does not grant, or it was built against
//! another version of the contract. This module looks at the component's type and names the
//! missing, extra or mismatched item; wasmtime's message remains the last resort, for a
//! function whose signature differs under the right name.

use std::sync::OnceLock;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use crate::contract::{WIT, WORLD};

/// The WASI 0.2 interfaces the gateway links (all of wasmtime-wasi's): a plugin may import
/// them, though the sandbox gives them nothing to reach (no preopened directory, no network).
const WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stderr",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

/// The contract, as read from the embedded WIT: the package, its version, the interfaces a
/// plugin may import and the functions of the interface it must export.
struct Contract {
    /// `portcullis:plugin`.
    package: String,
    /// `0.1.2`.
    version: String,
    /// `http`, `context`, ...: every interface of the package a plugin may import.
    imports: Vec<String>,
    /// `handler`.
    export: String,
    /// `init`, `on-request`, `on-response`.
    functions: Vec<String>,
}

impl Contract {
    fn get() -> &'static Self {
        static CONTRACT: OnceLock<Contract> = OnceLock::new();
        CONTRACT.get_or_init(Self::read)
    }

    /// Reads the embedded WIT. It is part of this binary and parsed by the build already, so a
    /// failure here is a bug in the build, not an input error.
    fn read() -> Self {
        let mut resolve = wit_parser::Resolve::default();
        let package = resolve
            .push_str("plugin.wit", WIT)
            .expect("the embedded WIT parses");
        let world = resolve
            .select_world(&[package], Some(WORLD))
            .expect("the embedded WIT has the plugin world");
        let name = &resolve.packages[package].name;
        let interface_name = |key: &wit_parser::WorldKey| match key {
            wit_parser::WorldKey::Interface(id) => resolve.interfaces[*id].name.clone(),
            wit_parser::WorldKey::Name(name) => Some(name.clone()),
        };
        // A world's imports include the interfaces its own imports `use` (`types`).
        let imports = resolve.worlds[world]
            .imports
            .keys()
            .filter_map(interface_name)
            .collect();
        let (export_key, export) = resolve.worlds[world]
            .exports
            .iter()
            .next()
            .expect("the plugin world exports one interface");
        let functions = match export {
            wit_parser::WorldItem::Interface { id, .. } => {
                resolve.interfaces[*id].functions.keys().cloned().collect()
            }
            _ => Vec::new(),
        };
        Self {
            package: format!("{}:{}", name.namespace, name.name),
            version: name
                .version
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            imports,
            export: interface_name(export_key).expect("the export is a named interface"),
            functions,
        }
    }

    /// `portcullis:plugin/handler@0.1.2`.
    fn qualified(&self, interface: &str) -> String {
        format!("{}/{interface}@{}", self.package, self.version)
    }

    /// Whether `version` is one this gateway links: the same, or semver-compatible
    /// (for 0.x, the same minor), as wasmtime's linker matches them.
    fn compatible(&self, version: &str) -> bool {
        compatibility_key(version) == compatibility_key(&self.version)
    }
}

/// `1.2.3` -> `1`, `0.2.3` -> `0.2`, `0.0.3` -> `0.0.3`: the part semver says must match.
fn compatibility_key(version: &str) -> String {
    let parts: Vec<&str> = version.split(['.', '-', '+']).collect();
    match parts.as_slice() {
        [major, ..] if *major != "0" => (*major).to_string(),
        ["0", minor, ..] if *minor != "0" => format!("0.{minor}"),
        _ => version.to_string(),
    }
}

/// An import or export name, split: `wasi:io/streams@0.2.3` -> (`wasi:io`, `streams`, `0.2.3`).
fn split(name: &str) -> Option<(&str, &str, &str)> {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let (package, interface) = path.split_once('/')?;
    Some((package, interface, version))
}

/// Why a component does not fit the contract: every mistake found, in its author's terms, shown
/// joined by `; ` (a version mismatch first, as it explains the rest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join(.problems))]
pub struct Mismatch {
    /// The mistakes, in the order they are shown.
    pub problems: Vec<Problem>,
}

/// One way a component differs from the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// It was built against a contract version this gateway does not link.
    #[error(
        "it was built against {package}@{}, and this gateway speaks {package}@{speaks}: rebuild it with the contract of `portcullis plugin wit`",
        .built.join(" and ")
    )]
    OtherVersion {
        /// `portcullis:plugin`.
        package: String,
        /// The versions it was built against, sorted.
        built: Vec<String>,
        /// The contract's version.
        speaks: String,
    },
    /// It imports what the gateway does not grant.
    #[error("it imports `{name}`, which the gateway does not grant to plugins{}", hint(.name))]
    NotGranted {
        /// The import's full name.
        name: String,
    },
    /// Its handler lacks functions of the contract.
    #[error("its `{export}` export lacks {}", list(.missing, "the function"))]
    MissingFunctions {
        /// `portcullis:plugin/handler@0.1.2`.
        export: String,
        /// The functions it lacks.
        missing: Vec<String>,
    },
    /// It exports the handler's name as something other than an interface.
    #[error("its export `{name}` is not an interface")]
    NotAnInterface {
        /// The export's name.
        name: String,
    },
    /// It does not export the handler at all (a component of another world).
    #[error(
        "it does not export `{expected}` (the functions {}); it exports {}. Build it for the `{WORLD}` world of `portcullis plugin wit`",
        .functions.join(", "),
        if .exports.is_empty() { "nothing".to_string() } else { list(.exports, "") }
    )]
    NoHandler {
        /// `portcullis:plugin/handler@0.1.2`.
        expected: String,
        /// The functions the handler has.
        functions: Vec<String>,
        /// What the component exports instead.
        exports: Vec<String>,
    },
}

fn join(problems: &[Problem]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// Checks `component` against the contract and returns every mistake found, or `Ok` when its
/// imports and exports are the contract's by name (their signatures are left to the linker).
pub fn check(engine: &Engine, component: &Component) -> Result<(), Mismatch> {
    let contract = Contract::get();
    let ty = component.component_type();
    let mut problems = Vec::new();

    let mut other_versions = Vec::new();
    for (name, _) in ty.imports(engine) {
        let granted = match split(name) {
            Some((package, interface, version)) if package == contract.package => {
                if !contract.compatible(version) {
                    other_versions.push(version.to_string());
                    continue;
                }
                contract.imports.iter().any(|i| i == interface)
            }
            Some((package, interface, version)) if package.starts_with("wasi:") => {
                version.starts_with("0.2.")
                    && WASI.contains(&format!("{package}/{interface}").as_str())
            }
            _ => false,
        };
        if !granted {
            problems.push(Problem::NotGranted {
                name: name.to_owned(),
            });
        }
    }

    let expected = contract.qualified(&contract.export);
    let prefix = format!("{}/{}@", contract.package, contract.export);
    let exports: Vec<(&str, ComponentItem)> = ty
        .exports(engine)
        .map(|(name, item)| (name, item.ty))
        .collect();
    match exports.iter().find(|(name, _)| {
        name.strip_prefix(&prefix)
            .is_some_and(|version| contract.compatible(version))
    }) {
        Some((_, ComponentItem::ComponentInstance(handler))) => {
            let missing: Vec<String> = contract
                .functions
                .iter()
                .filter(|f| handler.get_export(engine, f).is_none())
                .cloned()
                .collect();
            if !missing.is_empty() {
                problems.push(Problem::MissingFunctions {
                    export: expected,
                    missing,
                });
            }
        }
        Some((name, _)) => problems.push(Problem::NotAnInterface {
            name: (*name).to_owned(),
        }),
        None => {
            if let Some((name, _)) = exports.iter().find(|(name, _)| name.starts_with(&prefix)) {
                other_versions.push(name.trim_start_matches(&prefix).to_string());
            } else {
                problems.push(Problem::NoHandler {
                    expected,
                    functions: contract.functions.clone(),
                    exports: exports.iter().map(|(name, _)| (*name).to_owned()).collect(),
                });
            }
        }
    }

    if !other_versions.is_empty() {
        other_versions.sort();
        other_versions.dedup();
        problems.insert(
            0,
            Problem::OtherVersion {
                package: contract.package.clone(),
                built: other_versions,
                speaks: contract.version.clone(),
            },
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Mismatch { problems })
    }
}

/// What to do about an import the gateway does not grant, for the usual culprits.
fn hint(name: &str) -> &'static str {
    if name.starts_with("wasi:http/") {
        " (plugins make no outbound HTTP calls: build for the `plugin` world alone)"
    } else if name.starts_with("wasi:") {
        " (the gateway grants WASI 0.2 cli, clocks, filesystem, io, random and sockets, sandboxed)"
    } else {
        " (a plugin may import only the contract's interfaces and WASI 0.2: see `portcullis plugin wit`)"
    }
}

/// `a`, `a and b`, `a, b and c`, with `what` before (`the function a`, `the functions a and b`).
fn list(items: &[String], what: &str) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    let joined = match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    match (what.is_empty(), items.len()) {
        (true, _) => joined,
        (false, 1) => format!("{what} {joined}"),
        (false, _) => format!("{what}s {joined}"),
    }
}

#[cfg(test)]
mod tests;
