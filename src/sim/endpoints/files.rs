//! Files: the spec's upload (`POST /v1/files/upload`, one multipart form),
//! what Together's SDKs send to `POST /v1/files` (a multipart form with the
//! file, answered like the spec's upload; or the fields alone, answered 302
//! with `Location` and `X-Together-File-Id` for a `PUT` of the bytes, a flow
//! the spec does not describe but the SDKs use), and list, get, content and
//! delete.

use std::time::SystemTime;

use bytes::Bytes;
use http::{header, HeaderName, StatusCode};
use serde_json::{json, Map, Value};

use super::Reply;
use crate::sim::errors::ApiError;
use crate::sim::multipart;
use crate::sim::records::StoredFile;
use crate::sim::router::UPLOAD_PREFIX;
use crate::sim::state::State;
use crate::sim::text::unix_seconds;

const PURPOSES: &[&str] = &[
    "fine-tune",
    "eval",
    "eval-sample",
    "eval-output",
    "eval-summary",
    "batch-generated",
    "batch-api",
];

const FILE_TYPES: &[&str] = &["jsonl", "csv", "parquet"];

impl StoredFile {
    fn describe(&self) -> Value {
        let bytes = self.content.as_ref().map_or(0, Bytes::len);
        json!({
            "id": self.id,
            "object": "file",
            "created_at": unix_seconds(self.created),
            "filename": self.filename,
            "bytes": bytes,
            "purpose": self.purpose,
            "FileType": self.file_type,
            "Processed": self.content.is_some(),
        })
    }
}

impl State {
    pub(crate) fn file(&self, id: &str) -> Option<&StoredFile> {
        self.files.iter().find(|f| f.id == id)
    }

    /// Stores a file the simulator made itself (a batch's output).
    pub(crate) fn store_file(
        &mut self,
        filename: String,
        purpose: &str,
        content: Bytes,
        now: SystemTime,
    ) -> String {
        let id = self.id("file-");
        self.files.push(StoredFile {
            id: id.clone(),
            filename,
            purpose: purpose.to_owned(),
            file_type: "jsonl".to_owned(),
            created: now,
            content: Some(content),
        });
        id
    }
}

/// Checks a new file's fields and records it, still without content.
fn announce<'a>(
    state: &'a mut State,
    fields: &Map<String, Value>,
    now: SystemTime,
) -> Result<&'a mut StoredFile, ApiError> {
    let filename = super::required_str(fields, "file_name")?.to_owned();
    let purpose = super::required_str(fields, "purpose")?.to_owned();
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(ApiError::invalid_field(
            "purpose",
            format!("`purpose` must be one of {}", PURPOSES.join(", ")),
        ));
    }
    let file_type = match super::optional_str(fields, "file_type")? {
        Some(t) => t.to_owned(),
        None => filename
            .rsplit('.')
            .next()
            .filter(|e| FILE_TYPES.contains(e))
            .unwrap_or("jsonl")
            .to_owned(),
    };
    if !FILE_TYPES.contains(&file_type.as_str()) {
        return Err(ApiError::invalid_field(
            "file_type",
            format!("`file_type` must be one of {}", FILE_TYPES.join(", ")),
        ));
    }
    let id = state.id("file-");
    state.files.push(StoredFile {
        id,
        filename,
        purpose,
        file_type,
        created: now,
        content: None,
    });
    let at = state.files.len() - 1;
    Ok(&mut state.files[at])
}

/// `POST /v1/files`: the fields come as a query string, a form body or a JSON
/// body, whichever the client sends.
pub(crate) fn create(
    state: &mut State,
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    origin: &str,
    now: SystemTime,
) -> Result<Reply, ApiError> {
    let mut fields = Map::new();
    for (name, value) in form_pairs(query.unwrap_or("")) {
        fields.insert(name, Value::String(value));
    }
    let is_json = content_type.is_some_and(|c| c.starts_with("application/json"));
    if content_type.is_some_and(|c| c.starts_with("multipart/form-data")) {
        let (form, content) = multipart_form(content_type, &Bytes::copy_from_slice(body))?;
        fields.extend(form);
        if let Some(content) = content {
            let file = announce(state, &fields, now)?;
            file.content = Some(content);
            return Ok(Reply::ok(&file.describe()));
        }
    } else if is_json {
        fields.extend(super::object(body)?);
    } else if !body.is_empty() {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::invalid("Request body must be a URL-encoded form or JSON"))?;
        for (name, value) in form_pairs(text) {
            fields.insert(name, Value::String(value));
        }
    }
    let id = announce(state, &fields, now)?.id.clone();
    let mut reply = Reply::raw(StatusCode::FOUND, "text/plain", Bytes::new());
    reply
        .headers
        .push((header::LOCATION, format!("{origin}{UPLOAD_PREFIX}{id}")));
    reply
        .headers
        .push((HeaderName::from_static("x-together-file-id"), id));
    Ok(reply)
}

/// `POST /v1/files/upload`: the fields and the file in one form.
pub(crate) fn upload_form(
    state: &mut State,
    content_type: Option<&str>,
    body: &Bytes,
    now: SystemTime,
) -> Result<Reply, ApiError> {
    let (fields, content) = multipart_form(content_type, body)?;
    let content = content.ok_or_else(|| ApiError::invalid_field("file", "`file` is required"))?;
    let file = announce(state, &fields, now)?;
    file.content = Some(content);
    Ok(Reply::ok(&file.describe()))
}

/// A multipart form's text fields, and its `file` part if there is one (whose
/// filename stands in for a missing `file_name`).
fn multipart_form(
    content_type: Option<&str>,
    body: &Bytes,
) -> Result<(Map<String, Value>, Option<Bytes>), ApiError> {
    let boundary = content_type
        .and_then(multipart::boundary)
        .ok_or_else(|| ApiError::invalid("Expected a multipart/form-data body with a boundary"))?;
    let parts = multipart::parse(body, boundary)
        .ok_or_else(|| ApiError::invalid("The multipart/form-data body is malformed"))?;
    let mut fields = Map::new();
    let mut content = None;
    for part in parts {
        if part.name == "file" {
            if let Some(filename) = part.filename {
                fields.entry("file_name").or_insert(Value::String(filename));
            }
            content = Some(part.content);
        } else {
            let text = String::from_utf8_lossy(&part.content).into_owned();
            fields.insert(part.name, Value::String(text));
        }
    }
    Ok((fields, content))
}

/// `PUT /sim-upload/{id}`: the file's bytes, once.
pub(crate) fn upload(state: &mut State, id: &str, body: Bytes) -> Result<Reply, ApiError> {
    let file = state
        .files
        .iter_mut()
        .find(|f| f.id == id)
        .ok_or_else(|| ApiError::not_found("Upload"))?;
    if file.content.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            "This file has already been uploaded",
        ));
    }
    file.content = Some(body);
    Ok(Reply::raw(StatusCode::OK, "text/plain", Bytes::new()))
}

pub(crate) fn list(state: &State) -> Reply {
    let data: Vec<Value> = state.files.iter().map(StoredFile::describe).collect();
    Reply::ok(&json!({ "data": data }))
}

pub(crate) fn get(state: &State, id: &str) -> Result<Reply, ApiError> {
    let file = state.file(id).ok_or_else(|| ApiError::not_found("File"))?;
    Ok(Reply::ok(&file.describe()))
}

pub(crate) fn content(state: &State, id: &str) -> Result<Reply, ApiError> {
    let file = state.file(id).ok_or_else(|| ApiError::not_found("File"))?;
    let bytes = file
        .content
        .clone()
        .ok_or_else(|| ApiError::invalid("File has not been uploaded yet"))?;
    // The spec's content type for a file's content.
    Ok(Reply::raw(StatusCode::OK, "text/plain", bytes))
}

pub(crate) fn delete(state: &mut State, id: &str) -> Result<Reply, ApiError> {
    let at = state
        .files
        .iter()
        .position(|f| f.id == id)
        .ok_or_else(|| ApiError::not_found("File"))?;
    state.files.remove(at);
    Ok(Reply::ok(&json!({ "id": id, "deleted": true })))
}

/// `a=b&c=d` pairs, percent- and plus-decoded.
pub(crate) fn form_pairs(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_forms() {
        assert_eq!(decode("a+b%2Fc.jsonl"), "a b/c.jsonl");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
    }
}
