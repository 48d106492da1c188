//! `/files`: upload (the signed-URL flow), list, get, delete, content.

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Method};

use super::{id_request, json, raw, unit_request};
use crate::client::service::Outgoing;
use crate::client::types::{FileDeleted, FileList, FileObject, FilePurpose};
use crate::client::{Error, RequestBody, Together};
use crate::extensions::Idempotency;

unit_request!(
    /// `GET /files`.
    ListFiles, GET, "/files" => FileList, json
);
id_request!(
    /// `GET /files/{id}`.
    GetFile, GET, "/files", "" => FileObject, json
);
id_request!(
    /// `DELETE /files/{id}`.
    DeleteFile, DELETE, "/files", "" => FileDeleted, json
);
id_request!(
    /// `GET /files/{id}/content`: the raw bytes.
    FileContent, GET, "/files", "/content" => Bytes, raw
);

/// A file to upload: its name, purpose and bytes.
#[derive(Clone)]
pub struct Upload {
    file_name: String,
    purpose: FilePurpose,
    file_type: Option<String>,
    bytes: Bytes,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("file_name", &self.file_name)
            .field("purpose", &self.purpose)
            .field("file_type", &self.file_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Upload {
    /// A file named `file_name` for `purpose`; its type (`jsonl`, `csv`,
    /// `parquet`) is taken from the name's extension unless set.
    pub fn new(
        file_name: impl Into<String>,
        purpose: FilePurpose,
        bytes: impl Into<Bytes>,
    ) -> Self {
        let file_name = file_name.into();
        let file_type = file_name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .filter(|ext| matches!(ext.as_str(), "jsonl" | "csv" | "parquet"));
        Upload {
            file_name,
            purpose,
            file_type,
            bytes: bytes.into(),
        }
    }

    /// Sets the file type (`jsonl`, `csv` or `parquet`).
    pub fn file_type(mut self, file_type: impl Into<String>) -> Self {
        self.file_type = Some(file_type.into());
        self
    }
}

impl Together {
    /// Uploads a file through Together's signed-URL flow: `POST /files`
    /// answers 302 with the upload URL (`Location`) and the file id
    /// (`X-Together-File-Id`); the bytes are `PUT` there (without the API
    /// key); then the file is read back with `GET /files/{id}`.
    ///
    /// # Errors
    ///
    /// Any [`Error`] of the three steps; an error of kind
    /// [`Decode`](crate::client::ErrorKind::Decode) when the 302 lacks its
    /// headers.
    pub async fn upload_file(&self, upload: Upload) -> Result<FileObject, Error> {
        let deadline = self.deadline();
        self.within(deadline, async {
            let purpose = upload.purpose.as_str().to_owned();
            let mut fields = vec![
                ("purpose", purpose.as_str()),
                ("file_name", upload.file_name.as_str()),
            ];
            if let Some(file_type) = &upload.file_type {
                fields.push(("file_type", file_type.as_str()));
            }
            let start = Outgoing {
                method: Method::POST,
                uri: self.uri("/files")?,
                body: RequestBody::form(&fields),
                model: None,
                token_estimate: 1,
                authorize: true,
                idempotency: None,
                accept: "application/json",
            };
            let response = self.exchange(start, deadline).await?;
            let status = response.status();
            if status.is_success() {
                // A server that takes the file in one step answers with it.
                let body = self.read_body(response).await?;
                return super::json_slice(&body)
                    .map_err(|e| Error::decode("cannot decode the uploaded file", &e, &body));
            }
            if !status.is_redirection() {
                return Err(self.error_from(response, None).await);
            }
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let location = header("location")
                .ok_or_else(|| Error::unexpected("the upload answer has no Location header"))?;
            let file_id = header("x-together-file-id").ok_or_else(|| {
                Error::unexpected("the upload answer has no X-Together-File-Id header")
            })?;
            let put = Outgoing {
                method: Method::PUT,
                uri: self.inner.base.resolve(&location)?,
                body: RequestBody::bytes(
                    HeaderValue::from_static("application/octet-stream"),
                    upload.bytes.clone(),
                ),
                model: None,
                token_estimate: 1,
                // The signed URL carries its own authorization; the API key
                // must not go to a storage host.
                authorize: false,
                idempotency: Some(Idempotency::Idempotent),
                accept: "*/*",
            };
            let response = self.exchange(put, deadline).await?;
            if !response.status().is_success() {
                return Err(self.error_from(response, None).await);
            }
            drop(response);
            self.send(GetFile::new(file_id)).await
        })
        .await
    }

    /// Lists the files.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn list_files(&self) -> Result<Vec<FileObject>, Error> {
        Ok(self.send(ListFiles).await?.data)
    }

    /// Gets a file's metadata.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat); `InvalidRequest` for an id with
    /// characters not allowed in a path.
    pub async fn get_file(&self, id: &str) -> Result<FileObject, Error> {
        self.send(GetFile::new(id)).await
    }

    /// Deletes a file.
    ///
    /// # Errors
    ///
    /// As [`get_file`](Together::get_file).
    pub async fn delete_file(&self, id: &str) -> Result<FileDeleted, Error> {
        self.send(DeleteFile::new(id)).await
    }

    /// Downloads a file's content.
    ///
    /// # Errors
    ///
    /// As [`get_file`](Together::get_file).
    pub async fn file_content(&self, id: &str) -> Result<Bytes, Error> {
        self.send(FileContent::new(id)).await
    }
}
