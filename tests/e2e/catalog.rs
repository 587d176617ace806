//! The prebuilt catalog is documented: every plugin embedded in the binary has its page under
//! docs/plugins/ with a config reference and a manifest snippet naming it.

use std::path::Path;

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
