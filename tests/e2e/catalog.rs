//! The prebuilt catalog is documented and tested: every plugin embedded in the binary has its
//! page under docs/plugins/ with a config reference and a manifest snippet naming it, and at
//! least one end-to-end test that loads it by name.

use std::path::Path;

#[test]
fn every_prebuilt_plugin_has_a_docs_page_and_an_end_to_end_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let e2e: Vec<String> = std::fs::read_dir(root.join("tests/e2e"))
        .expect("read tests/e2e")
        .map(|entry| std::fs::read_to_string(entry.expect("an entry").path()).expect("read a test"))
        .collect();
    for name in portcullis::plugin::catalog::names() {
        let page = root.join(format!("docs/plugins/{name}.md"));
        assert!(page.is_file(), "`{name}` has no page {}", page.display());
        // Manifests in tests are written as plain or as escaped or `format!` strings.
        let uses = [
            format!(r#"plugin = "{name}""#),
            format!(r#"plugin = \"{name}\""#),
        ];
        assert!(
            e2e.iter()
                .any(|text| uses.iter().any(|u| text.contains(u.as_str()))),
            "no end-to-end test in tests/e2e loads `{name}`"
        );
    }
}

#[test]
fn every_prebuilt_plugin_has_a_docs_page_with_its_config_and_a_manifest_snippet() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/plugins");
    for name in portcullis::plugin::catalog::names() {
        let page = docs.join(format!("{name}.md"));
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{name} has no page {}: {e}", page.display()));
        assert!(text.contains("## Config"), "{name}: no `## Config` section");
        assert!(
            text.contains(&format!("plugin = \"{name}\"")),
            "{name}: no manifest snippet with `plugin = \"{name}\"`"
        );
    }
}
