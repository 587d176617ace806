//! The one header-field API of the host. Plugins read and edit three field sections with the
//! same WIT functions (`header`, `header-values`, `headers`, `set-header`, `append-header`,
//! `remove-header`, and `trailers`, `set-trailer`, `remove-trailer`): the request's headers, the
//! response's headers and the response's trailers. All of them are served here, with one set of
//! rules: names are case-insensitive and shown in lower case, values that are not UTF-8 are
//! shown lossily, and what a plugin may write is checked by `plugin::field_names` (the fields
//! that frame the message belong to the gateway, control characters are refused).

use http::HeaderMap;
use http::header::HeaderValue;

use super::EditError;
use crate::contract::Header;
use crate::plugin::store::InstanceState;

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
