//! Batch inference end to end: JSONL in, results matched by `custom_id` out.
//!
//! More requests than one job takes (50 000, Together's documented limit)
//! are split over several jobs, at most `batch_cap` of them in flight
//! (default 10); their results are merged back by `custom_id`, in input
//! order.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client::endpoints::files::Upload;
use crate::client::types::{
    BatchJob, ChatRequest, ChatResponse, CompletionRequest, CompletionResponse, CreateBatchRequest,
    EmbeddingRequest, EmbeddingResponse, FilePurpose,
};
use crate::client::{Error, Together};

/// The longest `custom_id` Together accepts.
const MAX_CUSTOM_ID: usize = 64;

/// The most requests one batch job takes (Together's documented limit).
pub const MAX_REQUESTS_PER_BATCH: usize = 50_000;

/// How many batch jobs of one call run at once by default.
const DEFAULT_BATCH_CAP: usize = 10;

/// A request that can go in a batch job: its endpoint and its answer type.
pub trait BatchRequest: Serialize + Clone + Send + Sync + 'static {
    /// What one line's `response.body` decodes to.
    type Response: DeserializeOwned + Send + 'static;

    /// The job's `endpoint` (`/v1/chat/completions`...).
    const ENDPOINT: &'static str;

    /// The model the request is for.
    fn model(&self) -> &str;

    /// The request as a batch line sends it (never streamed).
    fn for_batch(&self) -> Self {
        self.clone()
    }
}

impl BatchRequest for ChatRequest {
    type Response = ChatResponse;
    const ENDPOINT: &'static str = "/v1/chat/completions";

    fn model(&self) -> &str {
        &self.model
    }

    fn for_batch(&self) -> Self {
        let mut request = self.clone();
        request.stream = None;
        request
    }
}

impl BatchRequest for CompletionRequest {
    type Response = CompletionResponse;
    const ENDPOINT: &'static str = "/v1/completions";

    fn model(&self) -> &str {
        &self.model
    }

    fn for_batch(&self) -> Self {
        let mut request = self.clone();
        request.stream = None;
        request
    }
}

impl BatchRequest for EmbeddingRequest {
    type Response = EmbeddingResponse;
    const ENDPOINT: &'static str = "/v1/embeddings";

    fn model(&self) -> &str {
        &self.model
    }
}

/// A progress callback.
type OnProgress = Arc<dyn Fn(&BatchJob) + Send + Sync>;

/// Options of [`Together::run_batch`].
#[derive(Clone, Default)]
pub struct BatchOptions {
    poll_interval: Option<Duration>,
    on_progress: Option<OnProgress>,
    file_name: Option<String>,
    batch_cap: Option<usize>,
    requests_per_batch: Option<usize>,
}

impl fmt::Debug for BatchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchOptions")
            .field("poll_interval", &self.poll_interval)
            .field("on_progress", &self.on_progress.as_ref().map(|_| ".."))
            .field("file_name", &self.file_name)
            .field("batch_cap", &self.batch_cap)
            .field("requests_per_batch", &self.requests_per_batch)
            .finish()
    }
}

impl BatchOptions {
    /// The defaults: poll at the client's poll interval, no progress callback.
    pub fn new() -> Self {
        BatchOptions::default()
    }

    /// How often to poll the job's status.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// Called with the job after every poll (its `progress` is in percent).
    pub fn on_progress(mut self, callback: impl Fn(&BatchJob) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(callback));
        self
    }

    /// The name of the uploaded input file (default `batch-input.jsonl`;
    /// with several jobs, `-1`, `-2`... before the extension).
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    /// At most this many jobs of one call in flight (default 10, at least 1).
    pub fn batch_cap(mut self, jobs: usize) -> Self {
        self.batch_cap = Some(jobs.max(1));
        self
    }

    /// At most this many requests per job (default and most
    /// [`MAX_REQUESTS_PER_BATCH`], at least 1).
    pub fn requests_per_batch(mut self, requests: usize) -> Self {
        self.requests_per_batch = Some(requests.clamp(1, MAX_REQUESTS_PER_BATCH));
        self
    }

    fn file_name_for(&self, part: usize, parts: usize) -> String {
        let name = self
            .file_name
            .clone()
            .unwrap_or_else(|| "batch-input.jsonl".to_owned());
        if parts == 1 {
            return name;
        }
        match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}-{}.{ext}", part + 1),
            None => format!("{name}-{}", part + 1),
        }
    }
}

/// Why one request of a batch has no response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchLineError {
    /// The HTTP status the line got, when it got one.
    pub status: Option<u16>,
    /// The error code, when sent.
    pub code: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for BatchLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "status {status}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for BatchLineError {}

/// The result of one request of a batch.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BatchOutcome<R = ChatResponse> {
    /// The request's `custom_id`.
    pub custom_id: String,
    /// Its response, or why there is none.
    pub result: Result<R, BatchLineError>,
}

/// The results of [`Together::run_batch`]: one outcome per request, in the
/// order the requests were given; none is dropped.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BatchResults<R = ChatResponse> {
    /// The job, as last seen (with several jobs, the one that ended last).
    pub job: BatchJob,
    /// Every job of the call, as last seen, in the order of the requests.
    pub jobs: Vec<BatchJob>,
    /// One outcome per request, in input order.
    pub outcomes: Vec<BatchOutcome<R>>,
    /// Output lines that could not be read or named an unknown `custom_id`.
    pub unmatched_lines: Vec<String>,
}

impl<R> BatchResults<R> {
    /// The outcome of the request `custom_id`.
    pub fn get(&self, custom_id: &str) -> Option<&Result<R, BatchLineError>> {
        self.outcomes
            .iter()
            .find(|o| o.custom_id == custom_id)
            .map(|o| &o.result)
    }

    /// The requests that failed, with why.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &BatchLineError)> {
        self.outcomes.iter().filter_map(|o| match &o.result {
            Err(e) => Some((o.custom_id.as_str(), e)),
            Ok(_) => None,
        })
    }

    /// How many requests succeeded.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }
}

/// What one job left: itself, as last seen, and its output and error files.
struct JobRun {
    job: BatchJob,
    files: Vec<bytes::Bytes>,
}

impl Together {
    /// Runs requests (chat, completions or embeddings) as batch jobs: builds
    /// the JSONL input (`{custom_id, body}` per line), uploads it, creates
    /// the job, polls it (reporting progress), downloads the output and error
    /// files, and returns one outcome per request, matched by `custom_id`, in
    /// input order. A request with no line in either file is reported as
    /// failed, never dropped.
    ///
    /// Above [`MAX_REQUESTS_PER_BATCH`] requests (or
    /// [`BatchOptions::requests_per_batch`]), the requests are split over
    /// several jobs, at most [`BatchOptions::batch_cap`] (default 10) in
    /// flight, and merged back. With several jobs, one that fails (its
    /// upload, creation or polling, or it ends with no output) makes its
    /// requests failed outcomes, so the other jobs' results are kept.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for no requests, or `custom_id`s that are empty,
    /// longer than 64 characters or repeated; with a single job, any
    /// [`Error`] of the upload, create, poll or download calls, and an `Api`
    /// error when the job ends failed, expired or cancelled with no output
    /// at all.
    pub async fn run_batch<I, S, R>(
        &self,
        requests: I,
        options: BatchOptions,
    ) -> Result<BatchResults<R::Response>, Error>
    where
        I: IntoIterator<Item = (S, R)>,
        S: Into<String>,
        R: BatchRequest,
    {
        let requests: Vec<(String, R)> =
            requests.into_iter().map(|(id, r)| (id.into(), r)).collect();
        check_ids(&requests)?;
        let per_batch = options.requests_per_batch.unwrap_or(MAX_REQUESTS_PER_BATCH);
        let cap = options.batch_cap.unwrap_or(DEFAULT_BATCH_CAP);
        let parts: Vec<&[(String, R)]> = requests.chunks(per_batch).collect();
        let count = parts.len();
        let runs: Vec<(usize, Result<JobRun, Error>)> = stream::iter(parts.iter().enumerate())
            .map(|(i, part)| {
                let options = &options;
                async move { (i, self.run_one_batch(part, options, i, count).await) }
            })
            .buffer_unordered(cap)
            .collect()
            .await;
        let mut runs = runs;
        runs.sort_by_key(|(i, _)| *i);
        if count == 1 {
            let run = runs
                .pop()
                .map(|(_, run)| run)
                .ok_or_else(|| Error::invalid_request("a batch needs at least one request"))??;
            let (outcomes, unmatched_lines) =
                match_lines(&requests, run.files.iter().map(|b| &b[..]));
            return Ok(BatchResults {
                job: run.job.clone(),
                jobs: vec![run.job],
                outcomes,
                unmatched_lines,
            });
        }
        let mut jobs = Vec::new();
        let mut files = Vec::new();
        let mut failed: HashMap<&str, BatchLineError> = HashMap::new();
        for ((_, run), part) in runs.into_iter().zip(&parts) {
            match run {
                Ok(run) => {
                    jobs.push(run.job);
                    files.extend(run.files);
                }
                Err(error) => {
                    tracing::warn!(%error, "a batch job of the call failed");
                    for (id, _) in part.iter() {
                        failed.insert(
                            id.as_str(),
                            BatchLineError {
                                status: error.status().map(|s| s.as_u16()),
                                code: error.code().map(str::to_owned),
                                message: format!("the batch job for this request failed: {error}"),
                            },
                        );
                    }
                }
            }
        }
        let (mut outcomes, unmatched_lines) = match_lines(&requests, files.iter().map(|b| &b[..]));
        for outcome in &mut outcomes {
            if let Some(error) = failed.remove(outcome.custom_id.as_str()) {
                outcome.result = Err(error);
            }
        }
        let job = jobs
            .iter()
            .max_by_key(|j| j.completed_at.clone().unwrap_or_default().to_string())
            .cloned()
            .ok_or_else(|| Error::job_failed("every batch job of the call failed"))?;
        Ok(BatchResults {
            job,
            jobs,
            outcomes,
            unmatched_lines,
        })
    }

    /// One job: upload, create, poll to the end, download.
    async fn run_one_batch<R: BatchRequest>(
        &self,
        requests: &[(String, R)],
        options: &BatchOptions,
        part: usize,
        parts: usize,
    ) -> Result<JobRun, Error> {
        let input = jsonl(requests)?;
        let file = self
            .upload_file(Upload::new(
                options.file_name_for(part, parts),
                FilePurpose::BatchApi,
                input,
            ))
            .await?;
        let mut create = CreateBatchRequest::new(R::ENDPOINT, file.id);
        create.model_id = common_model(requests);
        let created = self.create_batch(create).await?;
        if let Some(warning) = &created.warning {
            tracing::info!(%warning, "batch created with a warning");
        }
        let interval = options
            .poll_interval
            .unwrap_or(self.inner.config.poll_interval);
        let mut job = created.job;
        while !job.status.is_terminal() {
            tokio::time::sleep(interval).await;
            job = self.get_batch(&job.id).await?;
            if let Some(callback) = &options.on_progress {
                callback(&job);
            }
        }
        if !job.status.is_completed() && job.output_file_id.is_none() && job.error_file_id.is_none()
        {
            return Err(Error::job_failed(format!(
                "batch {} ended {}{}",
                job.id,
                job.status,
                job.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )));
        }
        let mut files = Vec::new();
        for file_id in [&job.output_file_id, &job.error_file_id]
            .into_iter()
            .flatten()
        {
            files.push(self.file_content(file_id).await?);
        }
        Ok(JobRun { job, files })
    }
}

/// Checks the `custom_id`s of the whole call (unique across its jobs).
fn check_ids<R>(requests: &[(String, R)]) -> Result<(), Error> {
    if requests.is_empty() {
        return Err(Error::invalid_request("a batch needs at least one request"));
    }
    let mut seen = HashSet::new();
    for (custom_id, _) in requests {
        if custom_id.is_empty() || custom_id.chars().count() > MAX_CUSTOM_ID {
            return Err(Error::invalid_request(format!(
                "a custom_id must have 1 to {MAX_CUSTOM_ID} characters: {custom_id:?}"
            )));
        }
        if !seen.insert(custom_id.as_str()) {
            return Err(Error::invalid_request(format!(
                "the custom_id {custom_id:?} is used twice"
            )));
        }
    }
    Ok(())
}

/// The JSONL input, after checking the `custom_id`s.
fn jsonl<R: BatchRequest>(requests: &[(String, R)]) -> Result<Vec<u8>, Error> {
    check_ids(requests)?;
    let mut out = Vec::new();
    for (custom_id, request) in requests {
        let line = json!({ "custom_id": custom_id, "body": request.for_batch() });
        serde_json::to_writer(&mut out, &line)
            .map_err(|e| Error::invalid_request(format!("cannot encode a request: {e}")))?;
        out.push(b'\n');
    }
    Ok(out)
}

fn common_model<R: BatchRequest>(requests: &[(String, R)]) -> Option<String> {
    let first = requests.first()?.1.model();
    requests
        .iter()
        .all(|(_, r)| r.model() == first)
        .then(|| first.to_owned())
}

#[derive(Deserialize)]
struct Line {
    custom_id: String,
    #[serde(default)]
    response: Option<LineResponse>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct LineResponse {
    #[serde(default)]
    status_code: Option<u16>,
    #[serde(default)]
    body: Value,
}

/// Matches output and error lines to the requests by `custom_id`.
fn match_lines<'a, R, T: DeserializeOwned>(
    requests: &[(String, R)],
    files: impl Iterator<Item = &'a [u8]>,
) -> (Vec<BatchOutcome<T>>, Vec<String>) {
    let mut found: HashMap<&str, Result<T, BatchLineError>> = HashMap::new();
    let ids: HashSet<&str> = requests.iter().map(|(id, _)| id.as_str()).collect();
    let mut unmatched_lines = Vec::new();
    for file in files {
        for raw in file.split(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(raw);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let Ok(line) = serde_json::from_str::<Line>(text) else {
                unmatched_lines.push(crate::client::error::quote(text.as_bytes()));
                continue;
            };
            let Some(&id) = ids.get(line.custom_id.as_str()) else {
                unmatched_lines.push(crate::client::error::quote(text.as_bytes()));
                continue;
            };
            let outcome = outcome_of(line);
            // A success wins over an error line for the same id.
            match found.get(id) {
                Some(Ok(_)) => {}
                _ => {
                    found.insert(id, outcome);
                }
            }
        }
    }
    let outcomes = requests
        .iter()
        .map(|(id, _)| BatchOutcome {
            custom_id: id.clone(),
            result: found.remove(id.as_str()).unwrap_or_else(|| {
                Err(BatchLineError {
                    status: None,
                    code: None,
                    message: "no line for this request in the output or error file".to_owned(),
                })
            }),
        })
        .collect();
    (outcomes, unmatched_lines)
}

fn outcome_of<T: DeserializeOwned>(line: Line) -> Result<T, BatchLineError> {
    if let Some(error) = line.error.filter(|e| !e.is_null()) {
        return Err(line_error(None, &error));
    }
    let Some(response) = line.response else {
        return Err(BatchLineError {
            status: None,
            code: None,
            message: "the line has neither a response nor an error".to_owned(),
        });
    };
    let status = response.status_code.unwrap_or(200);
    if !(200..300).contains(&status) {
        let error = response.body.get("error").cloned().unwrap_or(response.body);
        return Err(line_error(Some(status), &error));
    }
    serde_json::from_value(response.body).map_err(|e| BatchLineError {
        status: Some(status),
        code: None,
        message: format!("cannot decode the response: {e}"),
    })
}

fn line_error(status: Option<u16>, error: &Value) -> BatchLineError {
    let message = match error {
        Value::String(message) => message.clone(),
        other => other
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| other.to_string()),
    };
    let code = error.get("code").and_then(|c| match c {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    BatchLineError {
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::types::Message;

    fn requests(n: usize) -> Vec<(String, ChatRequest)> {
        (0..n)
            .map(|i| {
                (
                    format!("req-{i}"),
                    ChatRequest::new("m", vec![Message::user(format!("q{i}"))]),
                )
            })
            .collect()
    }

    #[test]
    fn custom_ids_are_checked() {
        assert!(jsonl::<ChatRequest>(&[]).is_err());
        let mut dup = requests(2);
        dup[1].0 = "req-0".into();
        assert!(jsonl(&dup).unwrap_err().to_string().contains("twice"));
        let mut long = requests(1);
        long[0].0 = "x".repeat(65);
        assert!(jsonl(&long).is_err());
        let text = String::from_utf8(jsonl(&requests(2)).unwrap()).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["custom_id"], "req-0");
        assert_eq!(first["body"]["messages"][0]["content"], "q0");
    }

    #[test]
    fn lines_are_matched_and_none_dropped() {
        let output = br#"{"custom_id":"req-2","response":{"status_code":200,"body":{"id":"c2","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"a2"}}]}}}
{"custom_id":"req-0","response":{"status_code":400,"body":{"error":{"message":"bad","code":"invalid"}}}}
not json
{"custom_id":"stranger","response":{"status_code":200,"body":{}}}
"#;
        let errors =
            br#"{"custom_id":"req-1","error":{"message":"too long","code":"context_length"}}"#;
        let (outcomes, unmatched_lines) =
            match_lines(&requests(4), [&output[..], &errors[..]].into_iter());
        let job: BatchJob = serde_json::from_str(r#"{"id":"b","status":"COMPLETED"}"#).unwrap();
        let results: BatchResults = BatchResults {
            job: job.clone(),
            jobs: vec![job],
            outcomes,
            unmatched_lines,
        };
        let ids: Vec<_> = results
            .outcomes
            .iter()
            .map(|o| o.custom_id.as_str())
            .collect();
        assert_eq!(ids, ["req-0", "req-1", "req-2", "req-3"]);
        assert_eq!(
            results.get("req-2").unwrap().as_ref().unwrap().choices[0]
                .message
                .content,
            "a2"
        );
        let e0 = results.get("req-0").unwrap().as_ref().unwrap_err();
        assert_eq!(
            (e0.status, e0.code.as_deref()),
            (Some(400), Some("invalid"))
        );
        assert_eq!(
            results.get("req-1").unwrap().as_ref().unwrap_err().message,
            "too long"
        );
        assert!(results.get("req-3").unwrap().is_err());
        assert_eq!(results.succeeded(), 1);
        assert_eq!(results.failures().count(), 3);
        assert_eq!(results.unmatched_lines.len(), 2);
    }
}
