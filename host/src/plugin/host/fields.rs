//! The one header-field API of the host. Plugins read and edit three field sections with the
//! same WIT functions (`header`, `header-values`, `headers`, `set-header`, `append-header`,
//! `remove-header`, and `trailers`, `set-trailer`, `remove-trailer`): the request's headers, the
//! response's headers and the response's trailers. All of them are served here, with one set of
//! rules: names are case-insensitive and shown in lower case, values that are not UTF-8 are
//! shown lossily, the fields that frame the message belong to the gateway, and control
//! characters are refused.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use super::EditError;
use crate::contract::Header;
use crate::plugin::store::InstanceState;

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

/// The most response edits that may wait for one request's response, all plugins together: a
/// bound on what a plugin in a loop can make the host keep.
const MAX_RESPONSE_EDITS: usize = 256;

/// A field section of the exchange.
#[derive(Debug, Clone, Copy)]
pub(super) enum Section {
    /// The request's headers: editable in `on-request` only.
    Request,
    /// The response's headers: there in `on-response` only.
    Response,
    /// The response's trailers: there when the response body was buffered.
    Trailers,
}

/// One checked change to a field section (the exchange's type: response edits decided in
/// `on-request` wait in the exchange).
pub(super) use crate::plugin::exchange::FieldEdit as Edit;

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

    /// `set-header name value`, if the field is one a plugin may write. The value keeps the
    /// bytes the guest's string was lifted into.
    pub(super) fn set(&mut self, name: &str, value: String) -> Result<Edit, EditError> {
        let (name, value) = self.field(name, value)?;
        Ok(Edit::Set(name, value))
    }

    /// `append-header name value`, if the field is one a plugin may write.
    pub(super) fn append(&mut self, name: &str, value: String) -> Result<Edit, EditError> {
        let (name, value) = self.field(name, value)?;
        Ok(Edit::Append(name, value))
    }

    /// `remove-header name`, if the field is one a plugin may write.
    pub(super) fn remove(&mut self, name: &str) -> Result<Edit, EditError> {
        Ok(Edit::Remove(self.name(name)?))
    }

    fn field(&mut self, name: &str, value: String) -> Result<(HeaderName, HeaderValue), EditError> {
        // `te: trailers` is the one `TE` value a proxy forwards (gRPC needs it), so a plugin
        // that turns a request into a gRPC call may set it; any other `TE` stays the gateway's.
        if name.eq_ignore_ascii_case("te") && value.eq_ignore_ascii_case("trailers") {
            return Ok((http::header::TE, HeaderValue::from_static("trailers")));
        }
        let name = self.name(name)?;
        let value = HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
            .map_err(|_| EditError::HeaderValue(name.clone()))?;
        Ok((name, value))
    }

    /// `name` parsed, if a plugin may write it. Names are compared without regard to case:
    /// any spelling of a valid name is valid, and means the same field.
    fn name(&mut self, name: &str) -> Result<HeaderName, EditError> {
        if let Some(known) = self
            .names
            .iter()
            .find(|known| known.as_str() == name || known.as_str().eq_ignore_ascii_case(name))
        {
            return Ok(known.clone());
        }
        let parsed = parse_name(name)?;
        if self.names.len() < Self::KEPT {
            self.names.push(parsed.clone());
        } else if let Some(slot) = self.names.get_mut(self.next) {
            *slot = parsed.clone();
            self.next = (self.next + 1) % Self::KEPT;
        }
        Ok(parsed)
    }
}

impl InstanceState {
    /// The fields of `section`, when the exchange has them now.
    fn fields(&self, section: Section) -> Option<&HeaderMap> {
        let exchange = self.exchange()?;
        match section {
            Section::Request => Some(&exchange.request.headers),
            Section::Response => exchange.response.as_ref().map(|r| &r.parts.headers),
            Section::Trailers => exchange.response.as_ref()?.trailers.as_ref(),
        }
    }

    /// The first value of `name` in `section`.
    pub(super) fn field(&self, section: Section, name: &str) -> Option<String> {
        self.fields(section)?.get(name).map(value_text)
    }

    /// Every value of `name` in `section`, in order.
    pub(super) fn field_values(&self, section: Section, name: &str) -> Vec<String> {
        self.fields(section)
            .map(|fields| fields.get_all(name).iter().map(value_text).collect())
            .unwrap_or_default()
    }

    /// Every field of `section`, in order.
    pub(super) fn field_list(&self, section: Section) -> Vec<Header> {
        self.fields(section)
            .map(|fields| {
                fields
                    .iter()
                    .map(|(name, value)| Header {
                        name: name.as_str().to_owned(),
                        value: value_text(value),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Keeps `edit` for the response, to be made at this plugin's place in the response phase
    /// (WIT `set-response-header` and its kin: `on-request` only).
    pub(super) fn edit_later_response(&mut self, edit: Edit) -> Result<(), EditError> {
        let exchange = self.request_mut().map_err(|error| match error {
            EditError::RequestSent => EditError::ResponseHere,
            other => other,
        })?;
        if exchange.response_edits.len() >= MAX_RESPONSE_EDITS {
            return Err(EditError::TooManyResponseEdits(MAX_RESPONSE_EDITS));
        }
        exchange.response_edits.push((exchange.slot, edit));
        Ok(())
    }

    /// Applies `edit` to `section`, if the phase allows it. A response without trailers gets
    /// them when a trailer is set; removing one from none leaves none.
    pub(super) fn edit_fields(&mut self, section: Section, edit: Edit) -> Result<(), EditError> {
        match section {
            Section::Request => edit.apply(&mut self.request_mut()?.request.headers),
            Section::Response => edit.apply(&mut self.response_mut()?.parts.headers),
            Section::Trailers => match (&mut self.response_mut()?.trailers, edit) {
                (Some(trailers), edit) => edit.apply(trailers),
                (None, Edit::Remove(_)) => {}
                (trailers @ None, edit) => edit.apply(trailers.insert(HeaderMap::new())),
            },
        }
        Ok(())
    }
}

fn value_text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

fn parse_name(name: &str) -> Result<HeaderName, EditError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| EditError::HeaderName(name.to_owned()))?;
    if MANAGED.contains(&name.as_str()) {
        return Err(EditError::Managed(name));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_field(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), EditError> {
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
    fn control_characters_in_values_are_refused() {
        assert!(parse_field("x-a", "one\r\nx-b: two").is_err());
        assert!(parse_field("x-a", "fine").is_ok());
    }

    #[test]
    fn a_refused_field_says_why_in_the_plugins_terms() {
        let text = |result: Result<Edit, EditError>| result.err().map(|e| e.to_string());
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
        let edit = |result: Result<Edit, EditError>| result.expect("a field a plugin may write");
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
        assert!(
            names
                .names
                .iter()
                .all(|name| name.as_str().starts_with("x-name-"))
        );
    }
}
