//! The prebuilt plugins, built from `plugins/*` by `build.rs` and embedded in the binary, so a
//! manifest names them (`plugin = "key-auth"`) with no file to ship.

include!(concat!(env!("OUT_DIR"), "/catalog.rs"));

/// The component bytes of the prebuilt plugin `name`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    CATALOG
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The names of every prebuilt plugin.
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOG.iter().map(|(name, _)| *name)
}
