//! `/videos`: create a job, retrieve it. Rate limited in the `Other`
//! endpoint class, scoped by model.

use super::{id_request, json, json_post};
use crate::client::types::{VideoJob, VideoRequest};
use crate::client::{Error, Together};

json_post!(VideoRequest => VideoJob, "/videos", |request| {
    super::tokens_of(request.prompt.as_deref().unwrap_or(""))
});

id_request!(
    /// `GET /videos/{id}`.
    GetVideo, GET, "/videos", "" => VideoJob, json
);

impl Together {
    /// Starts generating a video; poll [`get_video`](Together::get_video)
    /// until its status is terminal.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn create_video(&self, request: VideoRequest) -> Result<VideoJob, Error> {
        self.send(request).await
    }

    /// Gets a video job.
    ///
    /// # Errors
    ///
    /// As [`get_fine_tune`](Together::get_fine_tune).
    pub async fn get_video(&self, id: &str) -> Result<VideoJob, Error> {
        self.send(GetVideo::new(id)).await
    }
}
