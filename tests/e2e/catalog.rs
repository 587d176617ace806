//! Every prebuilt plugin is documented and tested: a page in `docs/plugins/`, and at least one
//! end-to-end test that loads it by name.

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
