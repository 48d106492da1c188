#![cfg(feature = "sim")]
//! The simulator's fine-tune objects carry every field Together's Python
//! SDK requires, so the SDK in strict mode (`_strict_response_validation`,
//! which validates each answer with pydantic rather than trusting it)
//! parses list, retrieve and cancel. Each required name is listed below
//! with the type the SDK declares, from these sources:
//!
//! - togethercomputer/together-py `src/together/resources/fine_tuning.py`
//!   (02d392a6): `retrieve` casts to `FinetuneResponse`, `list` to
//!   `FineTuningListResponse`, `cancel` to `FineTuningCancelResponse`.
//! - `src/together/types/finetune_response.py` (24a5d4eb): `id`, `status`,
//!   `user_id` required; `events: List[FinetuneEvent]`.
//! - `src/together/types/fine_tuning_list_response.py` and
//!   `fine_tuning_cancel_response.py` (25944331): `id`, `created_at`
//!   (datetime), `status`, `updated_at` (datetime) required, as the spec's
//!   `FinetuneResponseTruncated` has them; in `together` 3.1.1 from PyPI
//!   (the release checked by hand with scripts/check-python-sdk.sh),
//!   `user_id` is required there too.
//! - `src/together/types/finetune_event.py` (0722519d): `created_at`,
//!   `message`, `object` (`"fine-tune-event"`), `type` required.
//! - the nested `TrainingType` (`type`; LoRA adds `lora_alpha`, `lora_r`),
//!   `TrainingMethod` (`method`; SFT adds `train_on_inputs`), `LrScheduler`
//!   (`lr_scheduler_type`) and `Progress` (`estimate_available`,
//!   `seconds_remaining`) of the same files: required when the object is
//!   sent.
//! - the spec, `FinetuneResponse` (`id`, `status`) and `FinetuneJobStatus`
//!   (the nine statuses).

#[path = "sim_support/mod.rs"]
mod support;

use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};
use support::*;
use tokio::time::sleep;
use tower_together::sim::{SimService, Simulator};

const FT_MODEL: &str = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";

/// What the SDK declares a required field to be.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Str,
    /// A pydantic `datetime`: an RFC 3339 string.
    DateTime,
    Int,
    Bool,
    /// `FinetuneJobStatus`.
    Status,
    /// `Union[bool, Literal["auto"]]`.
    BoolOrAuto,
    /// A `Literal` of these.
    OneOf(&'static [&'static str]),
}

use Kind::*;

const STATUSES: &[&str] = &[
    "pending",
    "queued",
    "running",
    "compressing",
    "uploading",
    "cancel_requested",
    "cancelled",
    "error",
    "completed",
];

/// `FineTuningListResponse` items and `FineTuningCancelResponse`
/// (`FinetuneResponseTruncated`).
const TRUNCATED: &[(&str, Kind)] = &[
    ("id", Str),
    ("created_at", DateTime),
    ("status", Status),
    ("updated_at", DateTime),
    ("user_id", Str),
];

/// `FinetuneResponse`, what `retrieve` parses.
const FULL: &[(&str, Kind)] = &[("id", Str), ("status", Status), ("user_id", Str)];

/// `FinetuneEvent`, each of a retrieved job's `events`.
const EVENT: &[(&str, Kind)] = &[
    ("created_at", Str),
    ("message", Str),
    ("object", OneOf(&["fine-tune-event"])),
    ("type", Str),
];

/// Nested objects, each checked when sent.
const NESTED: &[(&str, &[(&str, Kind)])] = &[
    ("training_type", &[("type", OneOf(&["Full", "Lora"]))]),
    ("training_method", &[("method", OneOf(&["sft", "dpo"]))]),
    (
        "lr_scheduler",
        &[("lr_scheduler_type", OneOf(&["linear", "cosine"]))],
    ),
    (
        "progress",
        &[("estimate_available", Bool), ("seconds_remaining", Int)],
    ),
];

/// The variants' own required fields.
const LORA: &[(&str, Kind)] = &[("lora_alpha", Int), ("lora_r", Int)];
const SFT: &[(&str, Kind)] = &[("train_on_inputs", BoolOrAuto)];

fn fits(value: &Value, kind: Kind) -> bool {
    match kind {
        Str => value.is_string(),
        DateTime => value.as_str().is_some_and(is_rfc3339),
        Int => value.is_i64() || value.is_u64(),
        Bool => value.is_boolean(),
        Status => value.as_str().is_some_and(|s| STATUSES.contains(&s)),
        BoolOrAuto => value.is_boolean() || value == "auto",
        OneOf(allowed) => value.as_str().is_some_and(|s| allowed.contains(&s)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, then an optional fraction, then `Z` or an offset.
fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19)
        && (text.ends_with('Z') || text[19..].contains(['+', '-']))
}

/// What `object` lacks of `fields` (missing, `null`, or of another type).
fn problems(what: &str, object: &Value, fields: &[(&str, Kind)]) -> Vec<String> {
    fields
        .iter()
        .filter_map(|(name, kind)| match object.get(name) {
            None => Some(format!("{what}: no `{name}`")),
            Some(value) if !fits(value, *kind) => {
                Some(format!("{what}: `{name}` = {value} is not {kind:?}"))
            }
            Some(_) => None,
        })
        .collect()
}

/// A job against `top` and the nested objects it sends.
fn job_problems(what: &str, job: &Value, top: &[(&str, Kind)]) -> Vec<String> {
    let mut out = problems(what, job, top);
    for (name, fields) in NESTED {
        if let Some(nested) = job.get(name) {
            out.extend(problems(&format!("{what}.{name}"), nested, fields));
        }
    }
    if job["training_type"]["type"] == "Lora" {
        out.extend(problems(
            &format!("{what}.training_type"),
            &job["training_type"],
            LORA,
        ));
    }
    if job["training_method"]["method"] == "sft" {
        out.extend(problems(
            &format!("{what}.training_method"),
            &job["training_method"],
            SFT,
        ));
    }
    out
}

fn assert_fits(what: &str, job: &Value, top: &[(&str, Kind)]) {
    let found = job_problems(what, job, top);
    assert!(found.is_empty(), "{found:?} in {job}");
}

async fn ok(
    service: &SimService,
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> Value {
    let answer = send(service, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

#[tokio::test(start_paused = true)]
async fn list_retrieve_and_cancel_carry_every_field_the_python_sdk_requires() {
    let service = Simulator::builder()
        .fine_tune_durations(Duration::from_secs(10), Duration::from_secs(20))
        .service();
    let file = upload(
        &service,
        "train.jsonl",
        "fine-tune",
        "{\"text\": \"a b\"}\n",
    )
    .await;
    // Both training types and both methods, so each variant's fields are seen.
    let lora_sft = ok(
        &service,
        post(
            "/v1/fine-tunes",
            json!({"model": FT_MODEL, "training_file": file}),
        ),
    )
    .await;
    let full_dpo = ok(
        &service,
        post(
            "/v1/fine-tunes",
            json!({"model": FT_MODEL, "training_file": file,
                "training_type": {"type": "Full"},
                "training_method": {"method": "dpo", "dpo_beta": 0.1}}),
        ),
    )
    .await;
    assert_eq!(lora_sft["training_type"]["type"], "Lora");
    assert_eq!(full_dpo["training_method"]["method"], "dpo");
    let (a, b) = (
        lora_sft["id"].as_str().unwrap().to_owned(),
        full_dpo["id"].as_str().unwrap().to_owned(),
    );

    let listed = ok(&service, get("/v1/fine-tunes")).await;
    let items = listed["data"].as_array().expect("`data` is a list");
    assert_eq!(items.len(), 2);
    for item in items {
        assert_fits("list item", item, TRUNCATED);
    }

    let pending = ok(&service, get(&format!("/v1/fine-tunes/{a}"))).await;
    assert_eq!(pending["status"], "pending");
    assert_fits("retrieved", &pending, FULL);

    let cancelled = ok(
        &service,
        post(&format!("/v1/fine-tunes/{b}/cancel"), json!({})),
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_fits("cancelled", &cancelled, TRUNCATED);

    sleep(Duration::from_secs(31)).await;
    for (id, status) in [(&a, "completed"), (&b, "cancelled")] {
        let job = ok(&service, get(&format!("/v1/fine-tunes/{id}"))).await;
        assert_eq!(job["status"], status);
        assert_fits("retrieved", &job, FULL);
        let events = job["events"].as_array().expect("`events` is a list");
        assert!(events.len() >= 2, "{job}");
        for event in events {
            let found = problems("event", event, EVENT);
            assert!(found.is_empty(), "{found:?} in {event}");
        }
    }
    let listed = ok(&service, get("/v1/fine-tunes")).await;
    for item in listed["data"].as_array().unwrap() {
        assert_fits("list item", item, TRUNCATED);
    }
}

#[test]
fn the_checker_names_a_missing_null_or_mistyped_field() {
    let job = json!({"id": "ft-1", "status": "done", "created_at": "yesterday",
        "updated_at": null, "training_type": {"type": "Lora", "lora_r": 8}});
    assert_eq!(
        job_problems("job", &job, TRUNCATED),
        [
            "job: `created_at` = \"yesterday\" is not DateTime",
            "job: `status` = \"done\" is not Status",
            "job: `updated_at` = null is not DateTime",
            "job: no `user_id`",
            "job.training_type: no `lora_alpha`",
        ]
    );
    assert_eq!(
        job_problems("job", &job, FULL),
        [
            "job: `status` = \"done\" is not Status",
            "job: no `user_id`",
            "job.training_type: no `lora_alpha`",
        ]
    );
    assert!(is_rfc3339("2026-12-05T21:00:00Z"));
    assert!(is_rfc3339("2026-12-05T21:00:00.123+02:00"));
    assert!(!is_rfc3339("2026-12-05 21:00:00"));
}
