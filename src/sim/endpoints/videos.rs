//! Videos: `POST /v1/videos` starts a job, `GET /v1/videos/{id}` reports
//! it (`in_progress`, then `completed` after [`RENDER_TIME`] of tokio time),
//! in the spec's `VideoJob` shape.

use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::{optional_str, optional_u64, required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::records::VideoJob;
use crate::sim::router::VIDEO_PREFIX;
use crate::sim::state::State;
use crate::sim::text::unix_seconds;

/// The simulator's video models (the spec names none).
const VIDEO_MODELS: &[&str] = &["google/veo-3.0", "minimax/hailuo-02"];

/// How long a video takes to render.
pub(crate) const RENDER_TIME: Duration = Duration::from_secs(5);

/// `POST /v1/videos`.
pub(crate) fn create(
    state: &mut State,
    map: &Map<String, Value>,
    now: Instant,
) -> Result<Reply, ApiError> {
    let model = required_str(map, "model")?.to_owned();
    if !VIDEO_MODELS.contains(&model.as_str()) {
        return Err(ApiError::model_not_found(&model));
    }
    if let Some(prompt) = optional_str(map, "prompt")? {
        if prompt.is_empty() || prompt.chars().count() > 32_000 {
            return Err(ApiError::invalid_field(
                "prompt",
                "`prompt` must have 1 to 32000 characters",
            ));
        }
    }
    let width = optional_u64(map, "width")?.unwrap_or(1280);
    let height = optional_u64(map, "height")?.unwrap_or(720);
    if let Some(steps) = optional_u64(map, "steps")? {
        if !(10..=50).contains(&steps) {
            return Err(ApiError::invalid_field(
                "steps",
                "`steps` must be from 10 to 50",
            ));
        }
    }
    let seconds = optional_str(map, "seconds")?.unwrap_or("5").to_owned();
    let job = VideoJob {
        id: state.id("video_"),
        model,
        size: format!("{width}x{height}"),
        seconds,
        created: now,
    };
    let body = describe(state, &job, now, "");
    state.videos.push(job);
    Ok(Reply::ok(&body))
}

/// `GET /v1/videos/{id}`.
pub(crate) fn get(state: &State, id: &str, now: Instant, origin: &str) -> Result<Reply, ApiError> {
    let job = state
        .videos
        .iter()
        .find(|v| v.id == id)
        .ok_or_else(|| ApiError::not_found("Video"))?;
    Ok(Reply::ok(&describe(state, job, now, origin)))
}

fn describe(state: &State, job: &VideoJob, now: Instant, origin: &str) -> Value {
    let done_at = job.created + RENDER_TIME;
    let mut body = json!({
        "id": job.id,
        "object": "video",
        "model": job.model,
        "status": if now >= done_at { "completed" } else { "in_progress" },
        "created_at": unix_seconds(state.wall(job.created)),
        "size": job.size,
        "seconds": job.seconds,
    });
    if now >= done_at {
        body["completed_at"] = json!(unix_seconds(state.wall(done_at)));
        body["outputs"] = json!({
            "cost": 1,
            "video_url": format!("{origin}{VIDEO_PREFIX}{}", job.id),
        });
    }
    body
}

/// `GET /sim-videos/{id}`: a placeholder MP4 (an `ftyp` box only), so a
/// client can fetch what `video_url` names.
pub(crate) fn serve() -> Reply {
    const MP4: &[u8] = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom";
    Reply::raw(
        http::StatusCode::OK,
        "video/mp4",
        bytes::Bytes::from_static(MP4),
    )
}
