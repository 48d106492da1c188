//! `/fine-tunes`: create (under the job cap), list, get, cancel, events,
//! checkpoints, delete.

use super::{id_request, json, unit_request};
use crate::client::types::{
    FineTune, FineTuneCheckpoint, FineTuneCheckpointList, FineTuneDeleted, FineTuneEvent,
    FineTuneEventList, FineTuneList, FineTuneRequest,
};
use crate::client::{ApiRequest, Error, RequestBody, Together};

unit_request!(
    /// `GET /fine-tunes`.
    ListFineTunes, GET, "/fine-tunes" => FineTuneList, json
);
id_request!(
    /// `GET /fine-tunes/{id}`.
    GetFineTune, GET, "/fine-tunes", "" => FineTune, json
);
id_request!(
    /// `POST /fine-tunes/{id}/cancel`.
    CancelFineTune, POST, "/fine-tunes", "/cancel" => FineTune, json
);
id_request!(
    /// `GET /fine-tunes/{id}/events`.
    FineTuneEvents, GET, "/fine-tunes", "/events" => FineTuneEventList, json
);

id_request!(
    /// `GET /fine-tunes/{id}/checkpoints`.
    FineTuneCheckpoints, GET, "/fine-tunes", "/checkpoints" => FineTuneCheckpointList, json
);
id_request!(
    /// `DELETE /fine-tunes/{id}`.
    DeleteFineTune, DELETE, "/fine-tunes", "" => FineTuneDeleted, json
);

/// `POST /fine-tunes` sent once, with no cap: what
/// [`Together::create_fine_tune`] sends when a slot is free.
impl ApiRequest for FineTuneRequest {
    type Response = FineTune;

    fn method(&self) -> http::Method {
        http::Method::POST
    }

    fn path(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed("/fine-tunes")
    }

    fn body(&self) -> Result<RequestBody, Error> {
        RequestBody::json(self)
    }

    fn decode(&self, body: bytes::Bytes) -> Result<FineTune, serde_json::Error> {
        super::json_slice(&body)
    }
}

impl Together {
    /// Starts a fine-tune job, keeping at most
    /// [`fine_tune_cap`](crate::TogetherBuilder::fine_tune_cap) jobs running
    /// (default 3).
    ///
    /// When the cap is reached, it waits (polling at the
    /// [`poll_interval`](crate::TogetherBuilder::poll_interval)) until a
    /// running job ends. A 409 from the server means the same thing: it
    /// waits and tries again, and never counts as a duplicate of a job.
    /// Creates from clones of one client queue in order.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat), except 409.
    pub async fn create_fine_tune(&self, request: FineTuneRequest) -> Result<FineTune, Error> {
        self.inner.fine_tunes.create(self, request).await
    }

    /// Lists the fine-tune jobs.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn list_fine_tunes(&self) -> Result<Vec<FineTune>, Error> {
        Ok(self.send(ListFineTunes).await?.data)
    }

    /// Gets a fine-tune job.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat); `InvalidRequest` for an id with
    /// characters not allowed in a path.
    pub async fn get_fine_tune(&self, id: &str) -> Result<FineTune, Error> {
        self.send(GetFineTune::new(id)).await
    }

    /// Cancels a fine-tune job.
    ///
    /// # Errors
    ///
    /// As [`get_fine_tune`](Together::get_fine_tune).
    pub async fn cancel_fine_tune(&self, id: &str) -> Result<FineTune, Error> {
        self.send(CancelFineTune::new(id)).await
    }

    /// A fine-tune job's events.
    ///
    /// # Errors
    ///
    /// As [`get_fine_tune`](Together::get_fine_tune).
    pub async fn fine_tune_events(&self, id: &str) -> Result<Vec<FineTuneEvent>, Error> {
        Ok(self.send(FineTuneEvents::new(id)).await?.data)
    }

    /// A fine-tune job's saved checkpoints.
    ///
    /// # Errors
    ///
    /// As [`get_fine_tune`](Together::get_fine_tune).
    pub async fn fine_tune_checkpoints(&self, id: &str) -> Result<Vec<FineTuneCheckpoint>, Error> {
        Ok(self.send(FineTuneCheckpoints::new(id)).await?.data)
    }

    /// Deletes a fine-tune job (one still running is cancelled first, on
    /// Together as on the simulator).
    ///
    /// # Errors
    ///
    /// As [`get_fine_tune`](Together::get_fine_tune).
    pub async fn delete_fine_tune(&self, id: &str) -> Result<FineTuneDeleted, Error> {
        self.send(DeleteFineTune::new(id)).await
    }
}
