//! Errors that point at the manifest's text: a message, the byte span it is about and a help
//! line, rendered like rustc (`error: ...`, ` --> file:line:col`, the line, carets, `= help`).
//! Kept apart from validation so later stages (the plugin loader) render their errors the same.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// The manifest's path (as given, for messages) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path shown in messages.
    pub path: PathBuf,
    /// The whole text; spans are byte offsets into it.
    pub text: Arc<str>,
}

/// One problem in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, in one line.
    pub message: String,
    /// The bytes it is about; `None` for the file as a whole.
    pub span: Option<Range<usize>>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span` with a help line.
    pub fn new(span: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            span: Some(span),
            help: Some(help.into()),
        }
    }
}

impl Source {
    /// A source for `text` read from `path`.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor(offset);
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        (line, before[line_start..].chars().count() + 1)
    }

    /// Renders `diag` as rustc would, ending with a newline.
    pub fn render(&self, diag: &Diagnostic) -> String {
        let mut out = format!("error: {}\n", diag.message);
        let path = self.path.display();
        let Some(span) = &diag.span else {
            out.push_str(&format!(" --> {path}\n"));
            if let Some(help) = &diag.help {
                out.push_str(&format!("  = help: {help}\n"));
            }
            return out;
        };
        let start = self.floor(span.start);
        let (line, col) = self.line_col(start);
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let text = self.text[line_start..line_end].trim_end_matches('\r');
        // The carets stop at the end of the visible line; a span that starts past it (on a
        // line's `\r` or `\n`, as an unterminated string's does) gets one caret there.
        let end = self.floor(span.end.min(line_start + text.len()).max(start));
        let carets = self.text[start..end].chars().count().max(1);
        let width = line.to_string().len();
        let pad = " ".repeat(width);
        out.push_str(&format!("{pad}--> {path}:{line}:{col}\n"));
        out.push_str(&format!("{pad} |\n"));
        out.push_str(&format!("{line} | {text}\n"));
        let indent = " ".repeat(col - 1);
        out.push_str(&format!("{pad} | {indent}{}\n", "^".repeat(carets)));
        if let Some(help) = &diag.help {
            out.push_str(&format!("{pad} = help: {help}\n"));
        }
        out
    }

    /// The largest char boundary not after `offset`, within the text.
    fn floor(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

/// How many errors are kept and shown; a file that is not a manifest at all (a log, a binary)
/// would otherwise give one per line, each rendered from the text.
pub(super) const MAX_SHOWN: usize = 50;

/// Every problem found in a manifest, sorted by position, with the source to render them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// The manifest they are about.
    pub source: Source,
    /// The first `MAX_SHOWN` (50) problems, in manifest order (those without a position last).
    pub errors: Vec<Diagnostic>,
    /// How many more there were.
    pub omitted: usize,
}

impl Diagnostics {
    /// Sorts `errors` by position, keeping the first `MAX_SHOWN` (50).
    pub fn new(source: Source, mut errors: Vec<Diagnostic>) -> Self {
        errors.sort_by_key(|d| d.span.as_ref().map_or(usize::MAX, |s| s.start));
        let omitted = errors.len().saturating_sub(MAX_SHOWN);
        errors.truncate(MAX_SHOWN);
        Self {
            source,
            errors,
            omitted,
        }
    }

    /// Each error rendered on its own, then how many were not shown, if any.
    pub fn render_each(&self) -> Vec<String> {
        let mut rendered: Vec<String> = self.errors.iter().map(|d| self.source.render(d)).collect();
        if self.omitted > 0 {
            rendered.push(format!(
                "error: {} more errors in {} not shown; fix those above first\n",
                self.omitted,
                self.source.path.display()
            ));
        }
        rendered
    }

    /// How many errors there are, shown or not.
    pub fn len(&self) -> usize {
        self.errors.len() + self.omitted
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Diagnostics {
    /// Every error, separated by blank lines, then a count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for rendered in self.render_each() {
            writeln!(f, "{rendered}")?;
        }
        let n = self.len();
        write!(
            f,
            "error: {n} error{} in {}",
            if n == 1 { "" } else { "s" },
            self.source.path.display()
        )
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts whose line ends and characters have broken rendering before: CRLF, a lone CR,
    /// multi-byte characters, no final newline, nothing at all.
    const TEXTS: &[&str] = &[
        "a = \"x\r\n",
        "é\r\n\r\nb = 1",
        "\r",
        "x\n\n",
        "",
        "ab\u{1F600}c\r\nd",
    ];

    #[test]
    fn any_span_over_any_text_renders_without_panicking() {
        for text in TEXTS {
            let source = Source::new("m.toml", *text);
            for start in 0..=text.len() + 2 {
                for end in 0..=text.len() + 2 {
                    let diag = Diagnostic::new(start..end, "m", "h");
                    let rendered = source.render(&diag);
                    assert!(rendered.starts_with("error: m\n"), "{rendered}");
                }
            }
        }
    }

    #[test]
    fn a_span_on_the_cr_of_a_crlf_line_gets_one_caret_at_the_line_end() {
        let source = Source::new("m.toml", "a = \"x\r\n");
        let rendered = source.render(&Diagnostic::new(7..8, "unterminated", "close it"));
        assert_eq!(
            rendered,
            "error: unterminated\n --> m.toml:1:8\n  |\n1 | a = \"x\n  |        ^\n  = help: close it\n"
        );
    }

    #[test]
    fn only_the_first_errors_are_kept_and_the_rest_are_counted() {
        let errors = (0..MAX_SHOWN + 7)
            .map(|i| Diagnostic::new(i..i + 1, "e", "h"))
            .collect();
        let diagnostics = Diagnostics::new(Source::new("m.toml", "x".repeat(100)), errors);
        assert_eq!(diagnostics.len(), MAX_SHOWN + 7);
        let rendered = diagnostics.render_each();
        assert_eq!(rendered.len(), MAX_SHOWN + 1);
        assert!(
            rendered[MAX_SHOWN].contains("7 more errors"),
            "{rendered:?}"
        );
        assert!(
            diagnostics
                .to_string()
                .ends_with("error: 57 errors in m.toml")
        );
    }
}
