//! `/batches`: create, get, list, cancel.

use super::{bare_list, id_request, json, unit_request};
use crate::client::types::{BatchJob, CreateBatchRequest, CreateBatchResponse};
use crate::client::{ApiRequest, Error, RequestBody, Together};

unit_request!(
    /// `GET /batches` (a bare JSON array).
    ListBatches, GET, "/batches" => Vec<BatchJob>, bare_list
);
id_request!(
    /// `GET /batches/{id}`.
    GetBatch, GET, "/batches", "" => BatchJob, json
);
id_request!(
    /// `POST /batches/{id}/cancel`.
    CancelBatch, POST, "/batches", "/cancel" => BatchJob, json
);

impl ApiRequest for CreateBatchRequest {
    type Response = CreateBatchResponse;

    fn method(&self) -> http::Method {
        http::Method::POST
    }

    fn path(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed("/batches")
    }

    fn body(&self) -> Result<RequestBody, Error> {
        RequestBody::json(self)
    }

    fn decode(&self, body: bytes::Bytes) -> Result<CreateBatchResponse, serde_json::Error> {
        // `{job, warning}` per the spec; a bare job is accepted too.
        super::json_slice(&body).or_else(|e| {
            super::json_slice::<BatchJob>(&body)
                .map(|job| CreateBatchResponse {
                    job,
                    warning: None,
                    extra: serde_json::Map::new(),
                })
                .map_err(|_| e)
        })
    }
}

impl Together {
    /// Starts a batch job over an uploaded JSONL file. See
    /// [`run_batch`](Together::run_batch) for the whole flow.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn create_batch(
        &self,
        request: CreateBatchRequest,
    ) -> Result<CreateBatchResponse, Error> {
        self.send(request).await
    }

    /// Gets a batch job.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat); `InvalidRequest` for an id with
    /// characters not allowed in a path.
    pub async fn get_batch(&self, id: &str) -> Result<BatchJob, Error> {
        self.send(GetBatch::new(id)).await
    }

    /// Lists the batch jobs.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn list_batches(&self) -> Result<Vec<BatchJob>, Error> {
        self.send(ListBatches).await
    }

    /// Cancels a batch job.
    ///
    /// # Errors
    ///
    /// As [`get_batch`](Together::get_batch).
    pub async fn cancel_batch(&self, id: &str) -> Result<BatchJob, Error> {
        self.send(CancelBatch::new(id)).await
    }
}
