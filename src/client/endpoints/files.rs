//! `/files`: upload (`POST /files/upload`), list, get, delete, content.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::Method;

use super::{id_request, json, raw, unit_request};
use crate::client::types::{FileDeleted, FileList, FileObject, FilePurpose};
use crate::client::{ApiRequest, Error, RequestBody, Together};

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

/// `POST /files/upload`: one multipart form. Not repeated after a 5xx
/// (the default for a `POST`), so a file is not stored twice.
#[derive(Clone, Debug)]
struct UploadFile(Upload);

impl ApiRequest for UploadFile {
    type Response = FileObject;

    fn method(&self) -> Method {
        Method::POST
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/files/upload")
    }

    fn body(&self) -> Result<RequestBody, Error> {
        let upload = &self.0;
        let mut fields = vec![
            ("purpose", upload.purpose.as_str()),
            ("file_name", upload.file_name.as_str()),
        ];
        if let Some(file_type) = &upload.file_type {
            fields.push(("file_type", file_type.as_str()));
        }
        Ok(RequestBody::multipart(
            &fields,
            &upload.file_name,
            upload.bytes.clone(),
        ))
    }

    fn decode(&self, body: Bytes) -> Result<FileObject, serde_json::Error> {
        json(body)
    }
}

impl Together {
    /// Uploads a file the way the spec says: one `multipart/form-data`
    /// `POST /files/upload` with `purpose`, `file_name`, `file_type` and the
    /// file, answered with the stored file.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat); an error of kind
    /// [`Decode`](crate::client::ErrorKind::Decode) when the answer is not a
    /// file.
    pub async fn upload_file(&self, upload: Upload) -> Result<FileObject, Error> {
        self.send(UploadFile(upload)).await
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
