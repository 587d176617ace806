//! Where a raw value is in the manifest: the byte span type, named sections and array entries.
//! `raw` fills them while it walks the document; each section's file checks what they hold.
//! Kept apart from `raw` so that a section depends on these wrappers, not on the walk that
//! names every section.

use std::ops::Range;

/// A byte range in the manifest.
pub(super) type Span = Range<usize>;

/// A named table (`[upstreams.demo]`): its name, where the name is, and its contents.
#[derive(Debug)]
pub(super) struct Named<T> {
    pub(super) name: String,
    pub(super) name_span: Span,
    pub(super) value: T,
}

/// A plugin entry and where it is.
#[derive(Debug)]
pub(super) struct Entry<T> {
    pub(super) span: Span,
    pub(super) value: T,
}
