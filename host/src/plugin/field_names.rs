//! The rules of the header fields a plugin writes, and the names it wrote lately. A name must
//! be a valid field name and not one of the fields that frame the message; a value must hold no
//! control character. `te: trailers` is the one exception (gRPC needs it).
//!
//! Apart from the host functions (`host::fields`) so that the store can keep an instance's
//! [`FieldNames`] without importing the host layer.

use http::header::{HeaderName, HeaderValue};

use super::exchange::FieldEdit as Edit;

/// Fields that frame the message or describe the connection: the gateway sets them itself. A
/// plugin that could change `content-length` on a streamed body would desynchronise a
/// keep-alive connection (the next request or response would start inside this one's body).
const MANAGED: [&str; 7] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];

/// Why a field a plugin wrote was refused; the plugin gets the text (through the host's
/// `edit-error`), so each message says what to change.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FieldError {
    /// Not a header name.
    #[error("`{0}` is not a valid header name")]
    Name(String),
    /// A field that frames the message (see [`MANAGED`]).
    #[error("`{0}` is managed by the gateway (it frames the message); plugins may not change it")]
    Managed(HeaderName),
    /// A value with CR, LF or NUL in it.
    #[error("the value given for header `{0}` contains a control character (CR, LF or NUL)")]
    Value(HeaderName),
}

/// The header names a plugin instance wrote lately, parsed and checked. A plugin writes the same
/// few names on every call, and a name that is not one of the standard ones costs a validation
/// and a copy each time it is parsed; a known one is a comparison and a reference count.
#[derive(Debug, Default)]
pub(crate) struct FieldNames {
    names: Vec<HeaderName>,
    /// Where the next new name goes once the list is full.
    next: usize,
}

impl FieldNames {
    /// More names than a plugin writes in one call, few enough to compare them one by one.
    const KEPT: usize = 16;

    /// The longest name kept: the cache is the plugin's doing but the host's memory, so a
    /// plugin writing long names gets them parsed each time instead of a megabyte kept.
    const LONGEST_KEPT: usize = 64;

    /// `set-header name value`, if the field is one a plugin may write. The value keeps the
    /// bytes the guest's string was lifted into.
    pub(crate) fn set(&mut self, name: &str, value: String) -> Result<Edit, FieldError> {
        let (name, value) = self.field(name, value)?;
        Ok(Edit::Set(name, value))
    }

    /// `append-header name value`, if the field is one a plugin may write.
    pub(crate) fn append(&mut self, name: &str, value: String) -> Result<Edit, FieldError> {
        let (name, value) = self.field(name, value)?;
        Ok(Edit::Append(name, value))
    }

    /// `remove-header name`, if the field is one a plugin may write.
    pub(crate) fn remove(&mut self, name: &str) -> Result<Edit, FieldError> {
        Ok(Edit::Remove(self.name(name)?))
    }

    fn field(
        &mut self,
        name: &str,
        value: String,
    ) -> Result<(HeaderName, HeaderValue), FieldError> {
        // `te: trailers` is the one `TE` value a proxy forwards (gRPC needs it), so a plugin
        // that turns a request into a gRPC call may set it; any other `TE` stays the gateway's.
        if name.eq_ignore_ascii_case("te") && value.eq_ignore_ascii_case("trailers") {
            return Ok((http::header::TE, HeaderValue::from_static("trailers")));
        }
        let name = self.name(name)?;
        let value = HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
            .map_err(|_| FieldError::Value(name.clone()))?;
        Ok((name, value))
    }

    /// `name` parsed, if a plugin may write it. Names are compared without regard to case:
    /// any spelling of a valid name is valid, and means the same field.
    fn name(&mut self, name: &str) -> Result<HeaderName, FieldError> {
        if let Some(known) = self
            .names
            .iter()
            .find(|known| known.as_str() == name || known.as_str().eq_ignore_ascii_case(name))
        {
            return Ok(known.clone());
        }
        let parsed = parse_name(name)?;
        if name.len() > Self::LONGEST_KEPT {
            return Ok(parsed);
        }
        if self.names.len() < Self::KEPT {
            self.names.push(parsed.clone());
        } else if let Some(slot) = self.names.get_mut(self.next) {
            *slot = parsed.clone();
            self.next = (self.next + 1) % Self::KEPT;
        }
        Ok(parsed)
    }
}

fn parse_name(name: &str) -> Result<HeaderName, FieldError> {
    let name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| FieldError::Name(name.to_owned()))?;
    if MANAGED.contains(&name.as_str()) {
        return Err(FieldError::Managed(name));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn parse_field(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), FieldError> {
        FieldNames::default().field(name, value.to_owned())
    }

    #[test]
    fn framing_fields_are_the_gateways_but_te_trailers_may_be_set() {
        for name in MANAGED {
            assert!(parse_field(name, "x").is_err(), "{name} is refused");
        }
        assert!(parse_field("Content-Length", "0").is_err());
        assert!(parse_field("te", "gzip").is_err());
        let (name, value) = parse_field("TE", "Trailers").expect("te: trailers is allowed");
        assert_eq!(
            (name.as_str(), value.to_str().ok()),
            ("te", Some("trailers"))
        );
    }

    #[test]
    fn control_characters_in_values_are_refused_and_utf8_is_kept_as_its_bytes() {
        assert!(parse_field("x-a", "one\r\nx-b: two").is_err());
        assert!(parse_field("x-a", "fine").is_ok());
        // Bytes above 0x7f are `obs-text` (RFC 9110 5.5): sent as they are.
        let (_, value) = parse_field("x-a", "café, tab\there").expect("a UTF-8 value");
        assert_eq!(value.as_bytes(), "café, tab\there".as_bytes());
    }

    #[test]
    fn a_refused_field_says_why_in_the_plugins_terms() {
        let text = |result: Result<Edit, FieldError>| result.err().map(|e| e.to_string());
        assert_eq!(
            text(FieldNames::default().set("bad name", "x".into())).as_deref(),
            Some("`bad name` is not a valid header name")
        );
        assert_eq!(
            text(FieldNames::default().remove("Content-Length")).as_deref(),
            Some(
                "`content-length` is managed by the gateway (it frames the message); plugins may not change it"
            )
        );
        assert_eq!(
            text(FieldNames::default().append("x-a", "a\nb".into())).as_deref(),
            Some("the value given for header `x-a` contains a control character (CR, LF or NUL)")
        );
    }

    #[test]
    fn an_edit_sets_appends_and_removes_every_value() {
        let mut fields = HeaderMap::new();
        let mut names = FieldNames::default();
        let edit = |result: Result<Edit, FieldError>| result.expect("a field a plugin may write");
        edit(names.append("x-a", "1".into())).apply(&mut fields);
        edit(names.append("X-A", "2".into())).apply(&mut fields);
        assert_eq!(fields.get_all("x-a").iter().count(), 2);
        edit(names.set("x-a", "3".into())).apply(&mut fields);
        assert_eq!(fields.get_all("x-a").iter().collect::<Vec<_>>(), ["3"]);
        edit(names.remove("x-a")).apply(&mut fields);
        assert!(fields.is_empty());
    }

    #[test]
    fn a_name_written_again_is_the_same_field_in_any_case_and_refusals_are_not_remembered() {
        let mut names = FieldNames::default();
        // More names than are kept, twice over, each written in two spellings.
        for round in 0..2 {
            for i in 0..40 {
                let lower = format!("x-name-{i}");
                let upper = lower.to_ascii_uppercase();
                for spelling in [&lower, &upper] {
                    match names.set(spelling, format!("{round}")) {
                        Ok(Edit::Set(name, value)) => {
                            assert_eq!(name.as_str(), lower);
                            assert_eq!(value, format!("{round}").as_str());
                        }
                        other => panic!("{spelling}: {other:?}"),
                    }
                }
                assert!(names.set("Content-Length", "1".into()).is_err());
                assert!(names.set("bad name", "1".into()).is_err());
                assert!(names.set(&lower, "a\r\nb".into()).is_err());
            }
        }
        assert!(names.names.len() <= FieldNames::KEPT);
        let long = format!("x-{}", "n".repeat(FieldNames::LONGEST_KEPT));
        match names.set(&long, "1".into()) {
            Ok(Edit::Set(name, _)) => assert_eq!(name.as_str(), long),
            other => panic!("{other:?}"),
        }
        assert!(
            names.names.iter().all(|name| name.as_str() != long),
            "not kept"
        );
        assert!(
            names
                .names
                .iter()
                .all(|name| name.as_str().starts_with("x-name-"))
        );
    }
}
