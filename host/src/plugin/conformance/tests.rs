//! Components built here from variants of the contract, each with one mistake an author makes,
//! and the message that mistake gets.

use wasmtime::{Config, Engine};
use wit_component::{ComponentEncoder, StringEncoding, dummy_module, embed_component_metadata};
use wit_parser::{LiftLowerAbi, ManglingAndAbi, Resolve};

use super::*;

/// A component implementing `wit` (the contract, edited) with functions that trap.
fn component(engine: &Engine, wit: &str) -> Component {
    let mut resolve = Resolve::default();
    let package = resolve.push_str("plugin.wit", wit).unwrap();
    let world = resolve.select_world(&[package], Some(WORLD)).unwrap();
    let mangling = ManglingAndAbi::Legacy(LiftLowerAbi::Sync);
    let mut module = dummy_module(&resolve, world, mangling);
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    let bytes = ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap();
    Component::new(engine, bytes).unwrap()
}

fn engine() -> Engine {
    Engine::new(&Config::new()).unwrap()
}

/// The contract with its package declared at `version`.
fn at_version(version: &str) -> String {
    let current = &Contract::get().version;
    WIT.replace(
        &format!("package portcullis:plugin@{current};"),
        &format!("package portcullis:plugin@{version};"),
    )
}

/// `portcullis:plugin/handler@<the contract's version>`.
fn handler() -> String {
    Contract::get().qualified("handler")
}

fn problems(wit: &str) -> String {
    let engine = engine();
    check(&engine, &component(&engine, wit))
        .unwrap_err()
        .to_string()
}

#[test]
fn the_contract_itself_passes() {
    let engine = engine();
    assert_eq!(check(&engine, &component(&engine, WIT)), Ok(()));
}

#[test]
fn a_plugin_built_against_another_version_is_told_both_versions() {
    let error = problems(&at_version("0.2.0"));
    let expected = format!(
        "it was built against portcullis:plugin@0.2.0, and this gateway speaks portcullis:plugin@{}",
        Contract::get().version
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("portcullis plugin wit"), "{error}");
}

#[test]
fn a_patch_release_of_the_contract_still_fits() {
    let engine = engine();
    let wit = at_version("0.1.9");
    assert_eq!(check(&engine, &component(&engine, &wit)), Ok(()));
}

#[test]
fn an_import_the_gateway_does_not_grant_is_named() {
    let wit = WIT.replace(
        "    import state;\n",
        "    import state;\n    import fetch: func(url: string) -> string;\n",
    );
    let error = problems(&wit);
    assert!(
        error.contains("it imports `fetch`, which the gateway does not grant to plugins"),
        "{error}"
    );
}

#[test]
fn a_missing_handler_function_is_named() {
    let start = WIT.find("    on-response: func(").unwrap();
    let end = start + WIT[start..].find(";\n").unwrap() + 2;
    let wit = format!("{}{}", &WIT[..start], &WIT[end..]);
    let error = problems(&wit);
    assert_eq!(
        error,
        format!(
            "its `{}` export lacks the function `on-response`",
            handler()
        )
    );
}

#[test]
fn a_component_of_another_world_is_told_what_it_exports() {
    let wit = WIT.replace("    export handler;\n", "    export run: func();\n");
    let error = problems(&wit);
    let expected = format!(
        "it does not export `{}` (the functions init, on-request, on-response); it exports `run`",
        handler()
    );
    assert!(error.contains(&expected), "{error}");
}

#[test]
fn semver_compatibility_follows_the_linker() {
    assert_eq!(compatibility_key("0.1.0"), compatibility_key("0.1.7"));
    assert_ne!(compatibility_key("0.1.0"), compatibility_key("0.2.0"));
    assert_eq!(compatibility_key("1.0.0"), compatibility_key("1.4.2"));
    assert_ne!(compatibility_key("0.0.1"), compatibility_key("0.0.2"));
}
