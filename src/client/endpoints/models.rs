//! `GET /models`.

use super::{bare_list, unit_request};
use crate::client::types::ModelInfo;
use crate::client::{Error, Together};

unit_request!(
    /// `GET /models`: the model catalogue (a bare JSON array).
    ListModels, GET, "/models" => Vec<ModelInfo>, bare_list
);

impl Together {
    /// Lists the models.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.send(ListModels).await
    }
}
