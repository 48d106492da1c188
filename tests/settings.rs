//! Every public setting of the retry layers (and their policies) at its
//! extremes: `Duration::ZERO` and `Duration::MAX`, 0 and `u32::MAX` retries
//! and attempts, NaN and out-of-range jitter fractions. A request through
//! each combination, on paused time, must finish (no panic, no endless
//! loop) with exactly the sends and final status its settings make of the
//! script, worked out here from the documented rules, independently of the
//! layers' code.

use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower::retry::Retry;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_together::backoff::BackoffPolicy;
use tower_together::extensions::{AttemptBudget, Deadline};
use tower_together::retry_after::RetryAfterPolicy;
use tower_together::{BackoffLayer, RetryAfterLayer};

const EXTREMES: [Duration; 2] = [Duration::ZERO, Duration::MAX];
const COUNTS: [u32; 2] = [0, u32::MAX];

/// A status with one header, or `None` for a transport error.
type Answer = Option<(u16, &'static str, String)>;

/// Answers from a script, then 200.
#[derive(Clone)]
struct Script {
    answers: Arc<Mutex<Vec<Answer>>>,
    sends: Arc<AtomicUsize>,
}

impl Script {
    fn new(mut answers: Vec<Answer>) -> Self {
        answers.reverse();
        Script {
            answers: Arc::new(Mutex::new(answers)),
            sends: Arc::default(),
        }
    }

    fn sends(&self) -> usize {
        self.sends.load(Ordering::SeqCst)
    }
}

impl<B> Service<Request<B>> for Script {
    type Response = Response<String>;
    type Error = &'static str;
    type Future = Ready<Result<Response<String>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        self.sends.fetch_add(1, Ordering::SeqCst);
        let answer =
            self.answers
                .lock()
                .unwrap()
                .pop()
                .unwrap_or(Some((200, "x-done", String::from("1"))));
        ready(match answer {
            None => Err("connection reset"),
            Some((status, name, value)) => Ok(Response::builder()
                .status(status)
                .header(name, value)
                .body(String::new())
                .unwrap()),
        })
    }
}

/// 429s with no hint, an absurd hint, and a huge millisecond hint.
fn too_many() -> Script {
    Script::new(vec![
        Some((429, "x-note", String::from("no hint"))),
        Some((429, "retry-after", String::from("1e300"))),
        Some((429, "retry-after-ms", "9".repeat(400))),
    ])
}

/// A 503 without a hint, a transport error, a 503 with an absurd hint.
fn failing() -> Script {
    Script::new(vec![
        Some((503, "x-note", String::from("no hint"))),
        None,
        Some((503, "retry-after", String::from("99999999999999999999"))),
    ])
}

/// The requests each combination is tried with: none, the nearest and the
/// farthest deadline, and a caller's budget at both ends.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Plain,
    Deadline(Duration),
    Budget(u32),
}

fn kinds() -> Vec<Kind> {
    let mut out = vec![Kind::Plain];
    out.extend(EXTREMES.map(Kind::Deadline));
    out.extend(COUNTS.map(Kind::Budget));
    out
}

fn request(kind: Kind) -> Request<String> {
    let mut request = Request::post("https://api.together.ai/v1/chat/completions")
        .body(String::from("{}"))
        .unwrap();
    match kind {
        Kind::Plain => {}
        Kind::Deadline(after) => {
            request.extensions_mut().insert(Deadline::after(after));
        }
        Kind::Budget(attempts) => {
            request
                .extensions_mut()
                .insert(AttemptBudget::new(attempts));
        }
    }
    request
}

/// `Deadline::after(Duration::MAX)` is clamped to 30 years from now.
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Whether `kind`'s deadline lets a wait of `wait` start `elapsed` into
/// the call.
fn deadline_allows(kind: Kind, elapsed: Duration, wait: Duration) -> bool {
    let Kind::Deadline(after) = kind else {
        return true;
    };
    let deadline = after.min(FAR);
    elapsed.checked_add(wait).is_some_and(|end| end <= deadline)
}

/// How a call ended: the last status, or a transport error (0).
fn ended(outcome: &Result<Response<String>, &'static str>) -> u16 {
    outcome.as_ref().map_or(0, |r| r.status().as_u16())
}

/// The server's hint on the 2nd and 3rd 429 (`1e300` s, 400 nines of ms),
/// and on the last 503 of `failing`: clamped to a day.
const MAX_HINT: Duration = tower_together::wait_hint::MAX_HINT;

#[derive(Clone, Copy, Debug)]
struct RetryAfterSettings {
    retries: u32,
    jitter: Duration,
    default_wait: Duration,
    max_wait: Duration,
    max_attempts: Option<u32>,
}

impl RetryAfterSettings {
    fn layer(self) -> RetryAfterLayer {
        let layer = RetryAfterLayer::new()
            .max_retries(self.retries)
            .jitter(self.jitter)
            .default_wait(self.default_wait)
            .max_wait(self.max_wait);
        match self.max_attempts {
            Some(attempts) => layer.max_attempts(attempts),
            None => layer,
        }
    }

    /// The budget a call without one gets: `max_attempts`, else 5 or
    /// `max_retries + 1` when more.
    fn budget(self) -> u32 {
        self.max_attempts
            .unwrap_or_else(|| self.retries.saturating_add(1).max(5))
    }

    /// Whether the 429 layer resends after its `retry`-th 429 (from 0),
    /// whose hint is `hint`, `elapsed` into the call, with `sent` sends of
    /// `budget` made; and the wait if so. Jitter is 0 or `Duration::MAX`:
    /// added, it makes any wait it joins nonzero (a zero draw out of 2^64
    /// ignored).
    fn resends(
        self,
        retry: u32,
        hint: Option<Duration>,
        kind: Kind,
        elapsed: Duration,
        sent: u32,
        budget: u32,
    ) -> Option<Duration> {
        let asked = hint.unwrap_or(self.default_wait);
        let wait = asked.saturating_add(self.jitter);
        (retry < self.retries
            && asked <= self.max_wait
            && deadline_allows(kind, elapsed, wait)
            && sent < budget)
            .then_some(wait)
    }

    /// Sends and final status of `too_many` through this layer alone.
    fn expected(self, kind: Kind, budget: Option<u32>) -> (usize, u16) {
        let budget = match kind {
            Kind::Budget(attempts) => attempts.max(1),
            _ => budget.unwrap_or(u32::MAX),
        };
        let hints = [None, Some(MAX_HINT), Some(MAX_HINT)];
        let mut elapsed = Duration::ZERO;
        for (retry, hint) in (0..).zip(hints) {
            match self.resends(retry, hint, kind, elapsed, retry + 1, budget) {
                Some(wait) => elapsed = elapsed.saturating_add(wait),
                None => return (retry as usize + 1, 429),
            }
        }
        (4, 200)
    }

    /// A draw of jitter up to 584 years against a deadline 30 years away:
    /// which way it falls is chance, by design.
    fn outcome_is_chance(self, kind: Kind) -> bool {
        self.jitter == Duration::MAX && matches!(kind, Kind::Deadline(d) if d == Duration::MAX)
    }
}

#[derive(Clone, Copy, Debug)]
struct BackoffSettings {
    retries: u32,
    base: Duration,
    cap: Duration,
    fraction: f64,
    max_attempts: Option<u32>,
}

impl BackoffSettings {
    fn layer(self) -> BackoffLayer {
        let layer = BackoffLayer::new()
            .max_retries(self.retries)
            .base_delay(self.base)
            .max_delay(self.cap)
            .jitter_fraction(self.fraction)
            .retry_non_idempotent(self.retries == 0);
        match self.max_attempts {
            Some(attempts) => layer.max_attempts(attempts),
            None => layer,
        }
    }

    fn budget(self) -> u32 {
        self.max_attempts
            .unwrap_or_else(|| self.retries.saturating_add(1).max(5))
    }

    /// The delay before resend `retry` (from 0) after an answer with
    /// `hint`. Jitter only shortens it: a zero stays zero and a huge one
    /// stays past any deadline (shortened below 30 years out of 584
    /// billion: ignored).
    fn resends(
        self,
        retry: u32,
        hint: Option<Duration>,
        kind: Kind,
        elapsed: Duration,
        sent: u32,
        budget: u32,
    ) -> Option<Duration> {
        let delay = match hint {
            Some(wait) => wait.min(self.cap),
            None => self
                .base
                .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
                .min(self.cap),
        };
        (retry < self.retries && deadline_allows(kind, elapsed, delay) && sent < budget)
            .then_some(delay)
    }

    /// Sends and final status (0: the transport error) of `failing`
    /// through this layer alone.
    fn expected(self, kind: Kind, budget: Option<u32>) -> (usize, u16) {
        let budget = match kind {
            Kind::Budget(attempts) => attempts.max(1),
            _ => budget.unwrap_or(u32::MAX),
        };
        let answers = [(503, None), (0, None), (503, Some(MAX_HINT))];
        let mut elapsed = Duration::ZERO;
        for (retry, (status, hint)) in (0..).zip(answers) {
            match self.resends(retry, hint, kind, elapsed, retry + 1, budget) {
                Some(wait) => elapsed = elapsed.saturating_add(wait),
                None => return (retry as usize + 1, status),
            }
        }
        (4, 200)
    }
}

fn retry_after_settings() -> Vec<RetryAfterSettings> {
    let mut out = Vec::new();
    for retries in COUNTS {
        for jitter in EXTREMES {
            for default_wait in EXTREMES {
                for max_wait in EXTREMES {
                    for max_attempts in [None, Some(0), Some(u32::MAX)] {
                        out.push(RetryAfterSettings {
                            retries,
                            jitter,
                            default_wait,
                            max_wait,
                            max_attempts,
                        });
                    }
                }
            }
        }
    }
    out
}

fn backoff_settings() -> Vec<BackoffSettings> {
    let mut out = Vec::new();
    for retries in COUNTS {
        for base in EXTREMES {
            for cap in EXTREMES {
                for fraction in [f64::NAN, -1.0, 0.0, 1.0, f64::INFINITY, f64::MAX] {
                    for max_attempts in [None, Some(0), Some(u32::MAX)] {
                        out.push(BackoffSettings {
                            retries,
                            base,
                            cap,
                            fraction,
                            max_attempts,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Exactly the sends and final status the settings make of the script.
fn check(
    script: &Script,
    outcome: Result<Response<String>, &'static str>,
    expected: (usize, u16),
    what: &str,
) {
    assert_eq!((script.sends(), ended(&outcome)), expected, "{what}");
}

#[tokio::test(start_paused = true)]
async fn retry_after_layer_at_every_extreme() {
    let mut chance = 0;
    for settings in retry_after_settings() {
        for kind in kinds() {
            if settings.outcome_is_chance(kind) {
                chance += 1;
                continue;
            }
            let script = too_many();
            let outcome = settings
                .layer()
                .layer(script.clone())
                .oneshot(request(kind))
                .await;
            let expected = settings.expected(kind, Some(settings.budget()));
            check(
                &script,
                outcome,
                expected,
                &format!("{settings:?} {kind:?}"),
            );
        }
    }
    // Two retry counts × two default waits × two max waits × three budgets.
    assert_eq!(chance, 24, "only the jitter-against-deadline draws skipped");
}

#[tokio::test(start_paused = true)]
async fn backoff_layer_at_every_extreme() {
    for settings in backoff_settings() {
        for kind in kinds() {
            let script = failing();
            let outcome = settings
                .layer()
                .layer(script.clone())
                .oneshot(request(kind))
                .await;
            let expected = settings.expected(kind, Some(settings.budget()));
            check(
                &script,
                outcome,
                expected,
                &format!("{settings:?} {kind:?}"),
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn both_layers_stacked_at_their_extremes() {
    let backoffs = backoff_settings();
    let retry_afters = retry_after_settings();
    // Every pairing would be thousands of runs; a stride pairs each backoff
    // setting with a varied retry-after setting.
    for (i, backoff) in backoffs.iter().enumerate() {
        let retry_after = retry_afters[(i * 7) % retry_afters.len()];
        let script = Script::new(vec![
            Some((429, "x-note", String::from("no hint"))),
            Some((503, "retry-after", String::from("1e300"))),
            None,
        ]);
        let service = ServiceBuilder::new()
            .layer(backoff.layer())
            .layer(retry_after.layer())
            .service(script.clone());
        let outcome = service.oneshot(request(Kind::Plain)).await;
        // The outer layer's budget is the call's; the 429 layer resends
        // the first answer, the backoff layer the next two (the 429 layer
        // meeting each resend as a new call).
        let budget = backoff.budget();
        let plain = Kind::Plain;
        let zero = Duration::ZERO;
        let expected = if retry_after
            .resends(0, None, plain, zero, 1, budget)
            .is_none()
        {
            (1, 429)
        } else if backoff
            .resends(0, Some(MAX_HINT), plain, zero, 2, budget)
            .is_none()
        {
            (2, 503)
        } else if backoff.resends(1, None, plain, zero, 3, budget).is_none() {
            (3, 0)
        } else {
            (4, 200)
        };
        let what = format!("{backoff:?} over {retry_after:?}");
        check(&script, outcome, expected, &what);
    }
}

#[tokio::test(start_paused = true)]
async fn policies_alone_at_their_extremes() {
    for duration in EXTREMES {
        for retries in COUNTS {
            let policy = RetryAfterPolicy::new()
                .max_retries(retries)
                .jitter(duration)
                .default_wait(duration)
                .max_wait(duration);
            let script = too_many();
            let outcome = Retry::new(policy, script.clone())
                .oneshot(request(Kind::Plain))
                .await;
            let settings = RetryAfterSettings {
                retries,
                jitter: duration,
                default_wait: duration,
                max_wait: duration,
                max_attempts: None,
            };
            // Composed by hand, no budget: `max_retries` alone bounds it.
            let expected = settings.expected(Kind::Plain, None);
            check(&script, outcome, expected, &format!("{policy:?}"));

            let policy = BackoffPolicy::new()
                .max_retries(retries)
                .base_delay(duration)
                .max_delay(duration)
                .jitter_fraction(f64::NAN)
                .retry_non_idempotent(true);
            let script = failing();
            let outcome = Retry::new(policy, script.clone())
                .oneshot(request(Kind::Plain))
                .await;
            let settings = BackoffSettings {
                retries,
                base: duration,
                cap: duration,
                fraction: f64::NAN,
                max_attempts: None,
            };
            let expected = settings.expected(Kind::Plain, None);
            check(&script, outcome, expected, &format!("{policy:?}"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn zero_retries_send_once_and_zero_waits_do_not_sleep() {
    let script = too_many();
    let service = RetryAfterLayer::new().max_retries(0).layer(script.clone());
    assert_eq!(
        service
            .oneshot(request(Kind::Plain))
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(script.sends(), 1);

    // Zero waits: the whole script in zero (virtual) time. (Huge hints are
    // over max_wait 0, so only hint-less 429s are used.)
    let script = Script::new(vec![Some((429, "x-note", String::new())); 3]);
    let service = RetryAfterLayer::new()
        .default_wait(Duration::ZERO)
        .jitter(Duration::ZERO)
        .max_wait(Duration::ZERO)
        .layer(script.clone());
    let start = tokio::time::Instant::now();
    assert_eq!(
        service
            .oneshot(request(Kind::Plain))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(script.sends(), 4);

    let script = failing();
    let service = BackoffLayer::new()
        .base_delay(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .layer(script.clone());
    let start = tokio::time::Instant::now();
    assert_eq!(
        service
            .oneshot(request(Kind::Plain))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(script.sends(), 4);
}
