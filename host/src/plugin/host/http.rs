//! WIT `http`: the `request` and `response` resources. Their header fields (and the response's
//! trailers) go through the one helper in `fields`; what is left here is each resource's own
//! items: the request's method, path, query and identity, the response's status, and the bodies
//! a plugin asked for in `init`.

use std::str::FromStr;

use http::uri::{PathAndQuery, Uri};
use http::{Method, StatusCode};
use wasmtime::component::Resource;

use super::fields::Section;
use super::{Body, EditError};
use crate::contract::portcullis::plugin::http as wit;
use crate::contract::{Header, RequestHandle, ResponseHandle};
use crate::plugin::store::InstanceState;

/// What the WIT edit functions return: `edit-error` is the text of an [`EditError`].
type EditResult = Result<(), String>;

impl wit::Host for InstanceState {}

impl wit::HostRequest for InstanceState {
    fn method(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.request.method.to_string())
            .unwrap_or_default()
    }

    fn set_method(&mut self, _: Resource<RequestHandle>, method: String) -> EditResult {
        let method = Method::from_str(&method).map_err(|_| EditError::Method(method))?;
        self.request_mut()?.request.method = method;
        Ok(())
    }

    fn path(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.request.uri.path().to_string())
            .unwrap_or_default()
    }

    fn set_path(&mut self, _: Resource<RequestHandle>, path: String) -> EditResult {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(EditError::Path(path).into());
        }
        let ex = self.request_mut()?;
        let query = ex.request.uri.query().map(str::to_owned);
        Ok(set_path_and_query(
            &mut ex.request.uri,
            &path,
            query.as_deref(),
        )?)
    }

    fn query(&mut self, _: Resource<RequestHandle>) -> Option<String> {
        self.exchange()?.request.uri.query().map(str::to_owned)
    }

    fn set_query(&mut self, _: Resource<RequestHandle>, query: Option<String>) -> EditResult {
        let ex = self.request_mut()?;
        let path = ex.request.uri.path().to_owned();
        Ok(set_path_and_query(
            &mut ex.request.uri,
            &path,
            query.as_deref(),
        )?)
    }

    fn authority(&mut self, _: Resource<RequestHandle>) -> Option<String> {
        let request = &self.exchange()?.request;
        request
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                request
                    .headers
                    .get(http::header::HOST)?
                    .to_str()
                    .ok()
                    .map(str::to_owned)
            })
    }

    fn header(&mut self, _: Resource<RequestHandle>, name: String) -> Option<String> {
        self.field(Section::Request, &name)
    }

    fn header_values(&mut self, _: Resource<RequestHandle>, name: String) -> Vec<String> {
        self.field_values(Section::Request, &name)
    }

    fn headers(&mut self, _: Resource<RequestHandle>) -> Vec<Header> {
        self.field_list(Section::Request)
    }

    fn set_header(
        &mut self,
        _: Resource<RequestHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let edit = self.field_names.set(&name, value)?;
        Ok(self.edit_fields(Section::Request, edit)?)
    }

    fn append_header(
        &mut self,
        _: Resource<RequestHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let edit = self.field_names.append(&name, value)?;
        Ok(self.edit_fields(Section::Request, edit)?)
    }

    fn remove_header(&mut self, _: Resource<RequestHandle>, name: String) -> EditResult {
        let edit = self.field_names.remove(&name)?;
        Ok(self.edit_fields(Section::Request, edit)?)
    }

    fn body(&mut self, _: Resource<RequestHandle>) -> Option<Vec<u8>> {
        if !self.declared(Body::Request) {
            return None;
        }
        self.exchange()?.request_body.as_ref().map(|b| b.to_vec())
    }

    fn set_body(&mut self, _: Resource<RequestHandle>, body: Vec<u8>) -> EditResult {
        self.check_declared(Body::Request, "set-body")?;
        check_body_size(&body)?;
        self.request_mut()?.request_body = Some(body.into());
        Ok(())
    }

    fn route(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.route.to_string())
            .unwrap_or_default()
    }

    fn route_param(&mut self, _: Resource<RequestHandle>, name: String) -> Option<String> {
        let ex = self.exchange()?;
        ex.params
            .iter()
            .find(|(k, _)| **k == *name)
            .map(|(_, v)| v.clone())
    }

    fn client_ip(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.client_ip.to_string())
            .unwrap_or_default()
    }

    fn id(&mut self, _: Resource<RequestHandle>) -> String {
        self.exchange()
            .map(|ex| ex.id.to_string())
            .unwrap_or_default()
    }

    fn set_response_header(
        &mut self,
        _: Resource<RequestHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let edit = self.field_names.set(&name, value)?;
        Ok(self.edit_later_response(edit)?)
    }

    fn append_response_header(
        &mut self,
        _: Resource<RequestHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let edit = self.field_names.append(&name, value)?;
        Ok(self.edit_later_response(edit)?)
    }

    fn remove_response_header(&mut self, _: Resource<RequestHandle>, name: String) -> EditResult {
        let edit = self.field_names.remove(&name)?;
        Ok(self.edit_later_response(edit)?)
    }

    fn drop(&mut self, _: Resource<RequestHandle>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl wit::HostResponse for InstanceState {
    fn status(&mut self, _: Resource<ResponseHandle>) -> u16 {
        self.exchange()
            .and_then(|ex| ex.response.as_ref())
            .map_or(0, |r| r.parts.status.as_u16())
    }

    fn set_status(&mut self, _: Resource<ResponseHandle>, status: u16) -> EditResult {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| (200..600).contains(&s.as_u16()))
            .ok_or(EditError::Status(status))?;
        self.response_mut()?.parts.status = status;
        Ok(())
    }

    fn header(&mut self, _: Resource<ResponseHandle>, name: String) -> Option<String> {
        self.field(Section::Response, &name)
    }

    fn header_values(&mut self, _: Resource<ResponseHandle>, name: String) -> Vec<String> {
        self.field_values(Section::Response, &name)
    }

    fn headers(&mut self, _: Resource<ResponseHandle>) -> Vec<Header> {
        self.field_list(Section::Response)
    }

    fn set_header(
        &mut self,
        _: Resource<ResponseHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let edit = self.field_names.set(&name, value)?;
        Ok(self.edit_fields(Section::Response, edit)?)
    }

    fn append_header(
        &mut self,
        _: Resource<ResponseHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        let edit = self.field_names.append(&name, value)?;
        Ok(self.edit_fields(Section::Response, edit)?)
    }

    fn remove_header(&mut self, _: Resource<ResponseHandle>, name: String) -> EditResult {
        let edit = self.field_names.remove(&name)?;
        Ok(self.edit_fields(Section::Response, edit)?)
    }

    fn body(&mut self, _: Resource<ResponseHandle>) -> Option<Vec<u8>> {
        if !self.declared(Body::Response) {
            return None;
        }
        let response = self.exchange()?.response.as_ref()?;
        response.body.as_ref().map(|b| b.to_vec())
    }

    fn set_body(&mut self, _: Resource<ResponseHandle>, body: Vec<u8>) -> EditResult {
        self.check_declared(Body::Response, "set-body")?;
        check_body_size(&body)?;
        self.response_mut()?.body = Some(body.into());
        Ok(())
    }

    fn trailers(&mut self, _: Resource<ResponseHandle>) -> Vec<Header> {
        if !self.declared(Body::Response) {
            return Vec::new();
        }
        self.field_list(Section::Trailers)
    }

    fn set_trailer(
        &mut self,
        _: Resource<ResponseHandle>,
        name: String,
        value: String,
    ) -> EditResult {
        self.check_declared(Body::Response, "set-trailer")?;
        let edit = self.field_names.set(&name, value)?;
        Ok(self.edit_fields(Section::Trailers, edit)?)
    }

    fn remove_trailer(&mut self, _: Resource<ResponseHandle>, name: String) -> EditResult {
        self.check_declared(Body::Response, "remove-trailer")?;
        let edit = self.field_names.remove(&name)?;
        Ok(self.edit_fields(Section::Trailers, edit)?)
    }

    fn drop(&mut self, _: Resource<ResponseHandle>) -> wasmtime::Result<()> {
        Ok(())
    }
}

fn check_body_size(body: &[u8]) -> Result<(), EditError> {
    let limit = crate::message::body::MAX_BUFFERED_BODY;
    if body.len() > limit {
        return Err(EditError::BodyTooLarge {
            len: body.len(),
            limit,
        });
    }
    Ok(())
}

fn set_path_and_query(uri: &mut Uri, path: &str, query: Option<&str>) -> Result<(), EditError> {
    if query.is_some_and(|q| q.contains('#')) {
        return Err(EditError::QueryFragment);
    }
    let text = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let pq = match PathAndQuery::from_str(&text) {
        Ok(pq) => pq,
        Err(source) => return Err(EditError::PathAndQuery { text, source }),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    *uri = Uri::from_parts(parts).map_err(EditError::Uri)?;
    Ok(())
}
