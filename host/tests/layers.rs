//! The layered house, kept so: `host/src` is a stack of layers (docs/architecture.md), and a
//! module imports only from lower layers, or from modules listed before it in its own layer.
//!
//! This test reads the `crate::` and `super::` paths of every file of `host/src` (in `use` lines
//! and in code), and fails on an import that runs up the stack, on a circle between the files of
//! one folder, on a file with no `//!` line saying why it exists, and on a file over 600 lines,
//! naming the file and the import. It reads source text, so it needs no build of the gateway.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first. Within a layer, a module may import those listed before it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "L0 models and wire helpers",
        &["router", "config", "contract", "message"],
    ),
    ("L1 observability", &["observe"]),
    (
        "L2 runtime parts",
        &["tls", "upstream", "state", "oci", "plugin"],
    ),
    ("L3 the published runtime", &["snapshot"]),
    ("L4 data plane", &["proxy", "listener"]),
    ("L5 control plane", &["reload", "admin"]),
    ("L6 composition and commands", &["gateway", "cli"]),
];

/// Apart from the stack: the plugin author's toolchain may use the layers up to the snapshot,
/// and only `cli` may use it.
const TOOLCHAIN: &str = "toolchain";
const TOOLCHAIN_USES_UP_TO: &str = "snapshot";
const TOOLCHAIN_USED_BY: &[&str] = &["cli"];

/// Test-only modules of the crate root, free to reach anything.
const TEST_ONLY: &[&str] = &["fuzz_regressions"];

/// The longest a file may grow before it should be split by concern.
const MAX_LINES: usize = 600;

#[test]
fn imports_run_only_down_the_layers() {
    let files = sources();
    let mut violations = Vec::new();
    for file in &files {
        let Some(from) = file.module.first() else {
            continue; // lib.rs and main.rs compose everything
        };
        for import in &file.imports {
            let to = &import.path[0];
            if to == from || !is_module(&files, to) {
                continue;
            }
            if let Err(why) = allowed(from, to) {
                violations.push(format!(
                    "{}:{}: `crate::{}`: {why}",
                    file.display,
                    import.line,
                    import.path.join("::")
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layers (docs/architecture.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_files_of_a_folder_import_each_other_without_circles() {
    let files = sources();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    // Edges between modules that are not each other's ancestor: a parent re-exporting its
    // children and a child using its parent's items are how a folder is built, not a circle.
    let mut edges: BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>> = BTreeMap::new();
    for file in &files {
        for import in &file.imports {
            let Some(target) = longest_module(&modules, &import.path) else {
                continue;
            };
            if target.starts_with(&file.module) || file.module.starts_with(&target) {
                continue;
            }
            edges
                .entry(file.module.clone())
                .or_default()
                .entry(target)
                .or_insert_with(|| format!("{}:{}", file.display, import.line));
        }
    }
    let circles: Vec<String> = strongly_connected(&modules, &edges)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| describe_circle(&component, &edges))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn every_file_opens_with_a_line_saying_why_it_exists() {
    let missing: Vec<String> = sources()
        .iter()
        .filter(|f| !f.text.trim_start().starts_with("//!"))
        .map(|f| f.display.clone())
        .collect();
    assert!(
        missing.is_empty(),
        "files with no `//!` module doc at the top:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_file_is_over_600_lines() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|f| f.text.lines().count() > MAX_LINES)
        .map(|f| format!("{}: {} lines", f.display, f.text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by concern):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_reader_itself_finds_grouped_and_inline_imports() {
    let text = "use crate::{a::B, c::{self, d::E}};\nfn f() { crate::f::g(); super::h::I; }\n";
    let imports = imports_of(text, &["x".to_string(), "y".to_string()]);
    let paths: Vec<String> = imports.iter().map(|i| i.path.join("::")).collect();
    assert_eq!(
        paths,
        ["a::B", "c", "c::d::E", "f::g", "x::h::I"],
        "{imports:?}"
    );
    assert_eq!(allowed("config", "router"), Ok(()));
    assert!(allowed("router", "config").is_err());
    assert!(allowed("observe", "snapshot").is_err());
    assert!(allowed("gateway", TOOLCHAIN).is_err());
    assert_eq!(allowed("cli", TOOLCHAIN), Ok(()));
}

/// Whether module `from` may import module `to` (two different top-level modules).
fn allowed(from: &str, to: &str) -> Result<(), String> {
    if TEST_ONLY.contains(&from) {
        return Ok(());
    }
    if to == TOOLCHAIN {
        return if TOOLCHAIN_USED_BY.contains(&from) {
            Ok(())
        } else {
            Err(format!(
                "only {TOOLCHAIN_USED_BY:?} may use the plugin author toolchain"
            ))
        };
    }
    let rank_of = |module: &str| -> Option<(usize, usize)> {
        LAYERS.iter().enumerate().find_map(|(layer, (_, members))| {
            members
                .iter()
                .position(|m| *m == module)
                .map(|within| (layer, within))
        })
    };
    let to_rank = rank_of(to).ok_or_else(|| format!("`{to}` is in no layer: add it to LAYERS"))?;
    if from == TOOLCHAIN {
        let limit = rank_of(TOOLCHAIN_USES_UP_TO).unwrap_or((0, 0));
        return if to_rank <= limit {
            Ok(())
        } else {
            Err(format!(
                "the toolchain uses the layers up to `{TOOLCHAIN_USES_UP_TO}` only"
            ))
        };
    }
    let from_rank =
        rank_of(from).ok_or_else(|| format!("`{from}` is in no layer: add it to LAYERS"))?;
    if to_rank < from_rank {
        Ok(())
    } else {
        Err(format!(
            "`{from}` ({}) may not import `{to}` ({}): imports run down the layers",
            LAYERS[from_rank.0].0, LAYERS[to_rank.0].0
        ))
    }
}

/// One source file of `host/src`.
struct Source {
    /// Its path for messages, from the repository root.
    display: String,
    /// Its module path (`["plugin", "chain"]`); empty for the crate root.
    module: Vec<String>,
    text: String,
    imports: Vec<Import>,
}

/// One `crate::` or `super::` path, resolved to a path from the crate root.
#[derive(Debug)]
struct Import {
    path: Vec<String>,
    line: usize,
}

fn is_module(files: &[Source], name: &str) -> bool {
    files
        .iter()
        .any(|f| f.module.first().map(String::as_str) == Some(name))
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let relative = path.strip_prefix(&root).unwrap_or(&path);
            let module = module_path(relative);
            let imports = imports_of(&text, &module);
            Source {
                display: format!("host/src/{}", relative.display()),
                module,
                text,
                imports,
            }
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `plugin/chain.rs` is `plugin::chain`; `lib.rs` and `main.rs` are the root.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every `crate::`, `super::` and `self::` path of `text` (comments ignored), from the root.
fn imports_of(text: &str, module: &[String]) -> Vec<Import> {
    let mut imports = Vec::new();
    let code = strip_comments(text);
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &code[at..];
        let start_of_word = at == 0 || !is_ident(bytes[at - 1]);
        let prefix = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|p| rest.starts_with(p));
        let (Some(prefix), true) = (prefix, start_of_word) else {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let base: Vec<String> = match prefix {
            "crate::" => Vec::new(),
            // `super::` of `a::b` is `a`; inside `a::b`'s own `mod tests` block it would be
            // `a::b`, but such blocks import their parent, never a sibling.
            "super::" => module[..module.len().saturating_sub(1)].to_vec(),
            _ => module.to_vec(),
        };
        let line = code[..at].matches('\n').count() + 1;
        let (paths, used) = parse_tree(&code[at + prefix.len()..]);
        for path in paths {
            let mut full = base.clone();
            full.extend(path);
            if !full.is_empty() {
                imports.push(Import { path: full, line });
            }
        }
        at += prefix.len() + used.max(1);
    }
    imports
}

/// Parses `a::b::C`, `{a, b::{c, D}}` or `a::{self, B}` into paths (of lower-case segments,
/// plus the first item), returning them and the bytes read.
fn parse_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut segments = Vec::new();
    loop {
        if bytes.get(at) == Some(&b'{') {
            let mut paths = Vec::new();
            at += 1;
            loop {
                while bytes
                    .get(at)
                    .is_some_and(|b| b.is_ascii_whitespace() || *b == b',')
                {
                    at += 1;
                }
                match bytes.get(at) {
                    None => return (paths, at),
                    Some(b'}') => return (paths, at + 1),
                    _ => {}
                }
                let (inner, used) = parse_tree(&text[at..]);
                if used == 0 {
                    return (paths, at);
                }
                for tail in inner {
                    let mut path = segments.clone();
                    if tail.first().is_some_and(|s| s == "self") {
                        path.extend(tail.into_iter().skip(1));
                    } else {
                        path.extend(tail);
                    }
                    paths.push(path);
                }
                at += used;
            }
        }
        let word_len = bytes[at..].iter().take_while(|b| is_ident(**b)).count();
        if word_len == 0 {
            break;
        }
        segments.push(text[at..at + word_len].to_string());
        at += word_len;
        if text[at..].starts_with("::") {
            at += 2;
        } else {
            break;
        }
    }
    (vec![segments], at)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The text with `//` comments and string literals blanked (newlines kept, so that line
/// numbers still hold).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut previous = '\0';
        let mut kept = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                if c == '"' && previous != '\\' {
                    in_string = false;
                }
                previous = if previous == '\\' { '\0' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' {
                in_string = true;
                previous = '\0';
                kept.push(' ');
                continue;
            }
            kept.push(c);
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The module of `modules` that names the longest prefix of `path`.
fn longest_module(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
}

type Edges = BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>;

/// Tarjan's strongly connected components of the import graph.
fn strongly_connected(nodes: &BTreeSet<Vec<String>>, edges: &Edges) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a Edges,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on_stack: BTreeSet<Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit(state: &mut State<'_>, node: &Vec<String>) {
        let n = state.index.len();
        state.index.insert(node.clone(), n);
        state.low.insert(node.clone(), n);
        state.stack.push(node.clone());
        state.on_stack.insert(node.clone());
        let targets: Vec<Vec<String>> = state
            .edges
            .get(node)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for target in targets {
            if !state.index.contains_key(&target) {
                visit(state, &target);
                let low = state.low[node].min(state.low[&target]);
                state.low.insert(node.clone(), low);
            } else if state.on_stack.contains(&target) {
                let low = state.low[node].min(state.index[&target]);
                state.low.insert(node.clone(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(&top);
                let done = &top == node;
                component.push(top);
                if done {
                    break;
                }
            }
            state.out.push(component);
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for node in nodes {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.out
}

fn describe_circle(component: &[Vec<String>], edges: &Edges) -> String {
    let members: BTreeSet<&Vec<String>> = component.iter().collect();
    let mut lines = Vec::new();
    for from in component {
        for (to, at) in edges.get(from).into_iter().flatten() {
            if members.contains(to) {
                lines.push(format!("  {} -> {} ({at})", from.join("::"), to.join("::")));
            }
        }
    }
    lines.sort();
    format!("a circle:\n{}", lines.join("\n"))
}
