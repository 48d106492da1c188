//! One request, start to finish: route, key, parse, model, script, limiter,
//! faults, answer, headers. Runs under the state lock and never waits; a
//! slow fault's delay is handed back to the caller to sleep.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderName, Response, StatusCode};
use tokio::time::Instant;

use super::body::SimBody;
use super::endpoints::{
    audio, batches, files, fine_tune_info, fine_tunes, images, models, object, videos, Reply,
};
use super::errors::{ApiError, BAD_GATEWAY_HTML, CLOUDFLARE_TIMEOUT_HTML};
use super::faults::{FaultKind, Scripted};
use super::headers::{set_header, whole_seconds};
use super::inference::Inference;
use super::limits::{Budget, Decision, Exhausted, Limits, RetryAfterStyle};
use super::render;
use super::reply::EVENT_STREAM;
use super::router::Route;
use super::state::State;

/// The answer, and how long to hold it back.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) response: Response<SimBody>,
    pub(crate) delay: Option<Duration>,
}

/// What is known about a request as it goes through.
struct Exchange {
    /// The request's number in the stats.
    number: usize,
    /// Sent as `x-request-id`, and as `id` in an error body.
    request_id: String,
    now: Instant,
    batch_errors: bool,
    budget: Budget,
    retry_after: Option<String>,
    fault: Option<FaultKind>,
    admitted: bool,
    scripted: bool,
}

pub(crate) fn process(
    state: &mut State,
    parts: &Parts,
    body: Result<Bytes, ApiError>,
    number: usize,
) -> Outcome {
    let now = Instant::now();
    let mut exchange = Exchange {
        number,
        request_id: state.id(""),
        now,
        batch_errors: false,
        budget: Budget::full(state.config.limits),
        retry_after: None,
        fault: None,
        admitted: false,
        scripted: false,
    };
    match answer(state, parts, body, &mut exchange) {
        Ok(reply) => finish(state, reply, exchange),
        Err(error) => {
            let reply = error_reply(&error, exchange.batch_errors, &exchange.request_id);
            finish(state, reply, exchange)
        }
    }
}

fn answer(
    state: &mut State,
    parts: &Parts,
    body: Result<Bytes, ApiError>,
    ex: &mut Exchange,
) -> Result<Reply, ApiError> {
    let path = parts.uri.path();
    let route = Route::find(&parts.method, path).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Unknown request URL: {} {path}", parts.method),
        )
        .code("unknown_url")
    })?;
    ex.batch_errors = route.batch_errors();
    let key = if route.needs_key() {
        Some(authenticate(state, &parts.headers)?)
    } else {
        None
    };
    if let Some(record) = state.stats.record(ex.number) {
        record.key = key.clone();
    }
    let body = body?;
    let inference = Inference::parse(&route, &body).transpose()?;
    let scope: Arc<str> = match &inference {
        Some(inference) => Arc::from(inference.model()),
        None => Arc::from(route.scope_label()),
    };
    if let Some(record) = state.stats.record(ex.number) {
        record.model = Some(scope.clone());
    }
    let limits = state.limits_for(&scope, ex.now);
    if let Some(key) = &key {
        ex.budget = state.limiter.peek(key, &scope, limits, ex.now);
    }
    if let Some(inference) = &inference {
        inference.check_model(state)?;
    }
    // Only requests with a key take script entries: the signed upload URL
    // and image URLs are not API calls.
    let Some(key) = key else {
        return dispatch(state, &route, parts, body, ex.now);
    };
    let streaming = inference.as_ref().is_some_and(Inference::streaming);
    let entry = state.script.pop_front();
    ex.scripted = entry.is_some();
    // A model in an outage answers so before the limiter, counting nothing.
    let entry = entry.or_else(|| state.outage(&scope, ex.now).map(Scripted::Fault));
    match entry {
        Some(Scripted::Ok) | None => {
            let tokens = inference.as_ref().map_or(0, Inference::tokens);
            match state.limiter.check(&key, &scope, limits, tokens, ex.now) {
                Decision::Admitted(budget) => {
                    ex.budget = budget;
                    ex.admitted = true;
                    if let Some(record) = state.stats.record(ex.number) {
                        record.tokens = tokens;
                    }
                }
                Decision::Refused {
                    budget,
                    wait,
                    exhausted,
                } => {
                    ex.budget = budget;
                    return Err(rate_limited(state, ex, &scope, limits, wait, exhausted));
                }
            }
            ex.fault = roll_fault(state, streaming);
        }
        Some(Scripted::Status(code)) if code >= 400 => {
            return scripted_status(state, ex, &scope, limits, code);
        }
        Some(Scripted::Status(_)) => {}
        Some(Scripted::Fault(kind)) => ex.fault = Some(kind),
    }
    // Faults that replace the answer come before it, so a 503 has no side
    // effects (no file created, no job started).
    if let Some(kind) = ex.fault {
        if let Some(replaced) = replacement(kind, streaming) {
            count_fault(state, ex);
            if let FaultKind::Overloaded {
                retry_after: Some(wait),
            } = kind
            {
                ex.retry_after = Some(whole_seconds(wait).to_string());
            }
            return replaced;
        }
    }
    match inference {
        Some(inference) => {
            let origin = origin(parts);
            Ok(inference.answer(state, ex.now, &origin))
        }
        None => dispatch(state, &route, parts, body, ex.now),
    }
}

/// The endpoints without a model.
fn dispatch(
    state: &mut State,
    route: &Route,
    parts: &Parts,
    body: Bytes,
    now: Instant,
) -> Result<Reply, ApiError> {
    let wall = state.wall(now);
    match route {
        Route::Models => Ok(models::list(&state.config.models)),
        Route::ProjectModels(project) => Ok(fine_tunes::project_models(state, project, now)),
        Route::FilesCreate => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            files::create(
                state,
                parts.uri.query(),
                content_type,
                &body,
                &origin(parts),
                wall,
            )
        }
        Route::FilesUpload => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            files::upload_form(state, content_type, &body, wall)
        }
        Route::FilePreprocess(id) => files::get(state, id),
        Route::FilesList => Ok(files::list(state)),
        Route::FileGet(id) => files::get(state, id),
        Route::FileDelete(id) => files::delete(state, id),
        Route::FileContent(id) => files::content(state, id),
        Route::Upload(id) => files::upload(state, id, body),
        Route::Image(_) => Ok(images::serve()),
        Route::Video(_) => Ok(videos::serve()),
        Route::Speech => audio::speech(&object(&body)?),
        Route::Transcriptions | Route::Translations => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            audio::transcribe(content_type, &body, *route == Route::Translations)
        }
        Route::VideoCreate => videos::create(state, &object(&body)?, now),
        Route::VideoGet(id) => videos::get(state, id, now, &origin(parts)),
        Route::FineTuneCreate => fine_tunes::create(state, &object(&body)?, now),
        Route::FineTuneList => Ok(fine_tunes::list(state, now)),
        Route::FineTuneGet(id) => fine_tunes::get(state, id, now),
        Route::FineTuneCancel(id) => fine_tunes::cancel(state, id, now),
        Route::FineTuneEvents(id) => fine_tunes::events(state, id, now),
        Route::FineTuneCheckpoints(id) => fine_tunes::checkpoints(state, id, now),
        Route::FineTuneDelete(id) => fine_tunes::delete(state, id, now),
        Route::FineTuneLimits => fine_tune_info::limits(state, parts.uri.query()),
        Route::FineTuneEstimate => fine_tune_info::estimate_price(state, &object(&body)?),
        Route::BatchCreate => batches::create(state, &object(&body)?, now),
        Route::BatchList => Ok(batches::list(state, now)),
        Route::BatchGet(id) => batches::get(state, id, now),
        Route::BatchCancel(id) => batches::cancel(state, id, now),
        Route::Chat | Route::Completions | Route::Embeddings | Route::Images | Route::Rerank => {
            // Parsed as inference before this point.
            Err(ApiError::internal())
        }
    }
}

/// The key of a `Bearer` authorization, if it is one the simulator accepts.
fn authenticate(state: &State, headers: &http::HeaderMap) -> Result<Arc<str>, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(ApiError::unauthorized(true));
    };
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ApiError::unauthorized(false)),
    };
    state
        .config
        .keys
        .iter()
        .find(|k| ***k == *token)
        .cloned()
        .ok_or_else(|| ApiError::unauthorized(false))
}

/// The scheme and authority the client used, for URLs pointing back at the
/// simulator (upload `Location`, image URLs).
fn origin(parts: &Parts) -> String {
    if let Some(host) = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        return format!("http://{host}");
    }
    match parts.uri.authority() {
        Some(authority) => format!("{}://{authority}", parts.uri.scheme_str().unwrap_or("http")),
        None => String::new(),
    }
}

fn roll_fault(state: &mut State, streaming: bool) -> Option<FaultKind> {
    let State { config, rng, .. } = state;
    config
        .faults
        .iter()
        .filter(|fault| fault.kind().applies(streaming))
        .find(|fault| rng.f64() < fault.probability())
        .map(|fault| fault.kind())
}

fn count_fault(state: &mut State, ex: &Exchange) {
    if let Some(kind) = ex.fault {
        *state.stats.faults.entry(kind.name()).or_insert(0) += 1;
        if let Some(record) = state.stats.record(ex.number) {
            record.fault = Some(kind);
        }
    }
}

fn rate_limited(
    state: &State,
    ex: &mut Exchange,
    scope: &str,
    limits: Limits,
    wait: Duration,
    exhausted: Exhausted,
) -> ApiError {
    ex.retry_after = match state.config.retry_after {
        RetryAfterStyle::Seconds => Some(whole_seconds(wait).to_string()),
        RetryAfterStyle::HttpDate => {
            // Rounded up to the second after the wait ends, so a client that
            // subtracts the `Date` header never comes back early.
            let at = state.wall(ex.now) + wait;
            let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
            let date = UNIX_EPOCH + Duration::from_secs(whole_seconds(since));
            Some(httpdate::fmt_http_date(date))
        }
        RetryAfterStyle::Absent => None,
    };
    // The spec documents 429 without its `type`; the values and the 429
    // (over the rate) versus 503 (platform busy) split follow Together's
    // rate-limit docs (together-api.md §2).
    let (kind, message) = match exhausted {
        Exhausted::Requests => (
            "dynamic_request_limited",
            format!("You have exceeded the rate limit for model {scope}: {} requests per second. Please slow down.", limits.requests_per_second()),
        ),
        Exhausted::Tokens => (
            "dynamic_token_limited",
            format!("You have exceeded the token rate limit for model {scope}: {} tokens per second. Please slow down.", limits.token_limit()),
        ),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, kind, message).code("rate_limit_exceeded")
}

/// The answer a fault gives instead of the real one, if it replaces it.
fn replacement(kind: FaultKind, streaming: bool) -> Option<Result<Reply, ApiError>> {
    let html = |code: u16, page: &'static str| {
        Ok(Reply::raw(
            status(code),
            "text/html; charset=UTF-8",
            Bytes::from_static(page.as_bytes()),
        ))
    };
    match kind {
        FaultKind::Overloaded { .. } => Some(Err(ApiError::overloaded())),
        FaultKind::Internal => Some(Err(ApiError::internal())),
        FaultKind::BadGateway => Some(html(502, BAD_GATEWAY_HTML)),
        FaultKind::CloudflareTimeout => Some(html(524, CLOUDFLARE_TIMEOUT_HTML)),
        // Without a stream to break, the error comes whole.
        FaultKind::StreamError if !streaming => Some(Err(ApiError::internal())),
        _ => None,
    }
}

fn scripted_status(
    state: &mut State,
    ex: &mut Exchange,
    scope: &str,
    limits: Limits,
    code: u16,
) -> Result<Reply, ApiError> {
    let kind = match code {
        429 => {
            return Err(rate_limited(
                state,
                ex,
                scope,
                limits,
                Duration::from_secs(1),
                Exhausted::Requests,
            ))
        }
        503 => FaultKind::Overloaded { retry_after: None },
        500 => FaultKind::Internal,
        502 => FaultKind::BadGateway,
        524 => FaultKind::CloudflareTimeout,
        _ => {
            let status = status(code);
            let kind = if status.is_server_error() {
                "server_error"
            } else {
                "invalid_request_error"
            };
            let reason = status.canonical_reason().unwrap_or("Error");
            return Err(ApiError::new(status, kind, format!("{reason} (scripted)")));
        }
    };
    ex.fault = Some(kind);
    count_fault(state, ex);
    replacement(kind, false).unwrap_or_else(|| Err(ApiError::internal()))
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn error_reply(error: &ApiError, batch_errors: bool, request_id: &str) -> Reply {
    // The spec's `BatchErrorResponse`: `{"error": "<message>"}` on the batch
    // endpoints, the nested `ErrorData` everywhere else.
    if batch_errors {
        return Reply::json(error.status, &error.batch_body());
    }
    Reply::json(error.status, &error.body(request_id))
}

/// Lands the fault that changes the answer's body, records the status and
/// renders the response.
fn finish(state: &mut State, reply: Reply, ex: Exchange) -> Outcome {
    // A body fault lands only on a successful answer (and a malformed-JSON
    // one only on JSON); a request that failed anyway keeps its error and
    // the fault is not counted.
    let json = reply.content_type == "application/json" || reply.content_type == EVENT_STREAM;
    let landed = ex.fault.filter(|kind| match kind {
        FaultKind::Slow(_) | FaultKind::Disconnect | FaultKind::StreamError => true,
        FaultKind::MalformedJson => json,
        _ => false,
    });
    let landed = landed.filter(|_| reply.status.is_success());
    if landed.is_some() {
        count_fault(state, &ex);
    }
    let delay = match landed {
        Some(FaultKind::Slow(wait)) => Some(wait),
        _ => None,
    };

    let status = reply.status;
    if let Some(record) = state.stats.record(ex.number) {
        record.status = Some(status);
        record.admitted = ex.admitted;
        record.scripted = ex.scripted;
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        state.stats.rate_limited += 1;
    }

    let streamed = reply.content_type == EVENT_STREAM;
    let mut response = Response::new(render::body(
        reply.payload,
        streamed,
        landed,
        state.config.stream_interval,
    ));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    set_header(headers, header::CONTENT_TYPE, reply.content_type);
    if streamed {
        set_header(headers, header::CACHE_CONTROL, "no-cache");
    }
    set_header(
        headers,
        header::DATE,
        &httpdate::fmt_http_date(state.wall(ex.now)),
    );
    set_header(
        headers,
        HeaderName::from_static("x-request-id"),
        &ex.request_id,
    );
    render::rate_headers(headers, &ex.budget);
    if let Some(retry_after) = &ex.retry_after {
        set_header(headers, header::RETRY_AFTER, retry_after);
    }
    for (name, value) in reply.headers {
        set_header(headers, name, &value);
    }
    Outcome { response, delay }
}
