//! Shared set-up for the benchmarks: the no-op inner service, the limiters
//! under test, configured alike, and the statistics the reports use.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::num::NonZeroU32;
use std::time::Duration;

use tower::{service_fn, util::ServiceFn};

/// How a limiter is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// A limit so large it never binds (pure cost per acquire).
    Huge,
    /// 1 000 per second, burst 1 (pacing accuracy).
    Smooth,
    /// 1 per hour, burst 1 (after one grant every caller waits: memory).
    Exhausted,
}

/// A request as a raw-HTTP user sends it: no headers, no extensions.
pub type Req = http::Request<()>;
/// The no-op inner service's future.
pub type Resp<T> = Ready<Result<T, Infallible>>;

fn echo_http(_: Req) -> Resp<http::Response<()>> {
    ready(Ok(http::Response::new(())))
}

/// The no-op HTTP service our layers wrap.
pub type HttpNoop = ServiceFn<fn(Req) -> Resp<http::Response<()>>>;

/// A service that answers every request at once with an empty 200.
pub fn http_noop() -> HttpNoop {
    service_fn(echo_http as fn(Req) -> Resp<http::Response<()>>)
}

fn give_back(request: Req) -> Resp<http::Response<Req>> {
    ready(Ok(http::Response::new(request)))
}

/// A no-op HTTP service that hands the request back as the response body,
/// so that dropping it happens outside a benchmark's timed section.
pub type HttpGiveBack = ServiceFn<fn(Req) -> Resp<http::Response<Req>>>;

/// See [`HttpGiveBack`].
pub fn http_give_back() -> HttpGiveBack {
    service_fn(give_back as fn(Req) -> Resp<http::Response<Req>>)
}

fn echo_unit(_: ()) -> Resp<()> {
    ready(Ok(()))
}

/// The no-op `()` service tower's own `RateLimit` wraps (as in the anchor
/// harness).
pub type UnitNoop = ServiceFn<fn(()) -> Resp<()>>;

/// A service that answers `()` at once.
pub fn unit_noop() -> UnitNoop {
    service_fn(echo_unit as fn(()) -> Resp<()>)
}

/// Our quota for a profile.
pub fn our_quota(profile: Profile) -> tower_together::Quota {
    use tower_together::Quota;
    match profile {
        // 10^9 per second, burst 10^9: as large as governor can express.
        Profile::Huge => Quota::try_per_period(u32::MAX, Duration::from_nanos(u64::from(u32::MAX)))
            .expect("valid quota")
            .burst(1_000_000_000),
        Profile::Smooth => Quota::per_second(1000).burst(1),
        Profile::Exhausted => Quota::try_per_period(1, Duration::from_secs(3600))
            .expect("valid quota")
            .burst(1),
    }
}

/// Our layer for a profile.
pub fn our_layer(profile: Profile) -> tower_together::RateLimitLayer {
    tower_together::RateLimitLayer::new(our_quota(profile))
}

/// tower's own (unshared, fixed-window) layer for a profile.
pub fn tower_layer(profile: Profile) -> tower::limit::RateLimitLayer {
    match profile {
        Profile::Huge => tower::limit::RateLimitLayer::new(u64::MAX, Duration::from_secs(1)),
        Profile::Smooth => tower::limit::RateLimitLayer::new(1, Duration::from_millis(1)),
        Profile::Exhausted => tower::limit::RateLimitLayer::new(1, Duration::from_secs(3600)),
    }
}

/// governor's direct limiter for a profile.
pub fn governor(profile: Profile) -> governor::DefaultDirectRateLimiter {
    let quota = match profile {
        Profile::Huge => governor::Quota::per_second(NonZeroU32::MAX),
        Profile::Smooth => governor::Quota::per_second(NonZeroU32::new(1000).unwrap())
            .allow_burst(NonZeroU32::new(1).unwrap()),
        Profile::Exhausted => governor::Quota::per_hour(NonZeroU32::new(1).unwrap()),
    };
    governor::RateLimiter::direct(quota)
}

/// leaky-bucket's limiter for a profile (fair, the crate's default).
pub fn leaky(profile: Profile) -> leaky_bucket::RateLimiter {
    let mut builder = leaky_bucket::RateLimiter::builder();
    match profile {
        // 10^9 tokens per millisecond, starting full: never binds.
        Profile::Huge => builder
            .max(isize::MAX as usize)
            .initial(isize::MAX as usize)
            .refill(1_000_000_000)
            .interval(Duration::from_millis(1)),
        Profile::Smooth => builder
            .max(1)
            .initial(1)
            .refill(1)
            .interval(Duration::from_millis(1)),
        Profile::Exhausted => builder
            .max(1)
            .initial(0)
            .refill(1)
            .interval(Duration::from_secs(3600)),
    }
    .build()
}

/// Mean and coefficient of variation of `counts`.
pub fn mean_cv(counts: &[u64]) -> (f64, f64) {
    let n = counts.len() as f64;
    let mean = counts.iter().sum::<u64>() as f64 / n;
    let var = counts
        .iter()
        .map(|c| (*c as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, if mean > 0.0 { var.sqrt() / mean } else { 0.0 })
}

/// The largest number of sorted instants (µs) in any window `[t, t + width)`
/// starting at one of them.
pub fn max_in_window(sorted_us: &[u64], width_us: u64) -> usize {
    let mut best = 0;
    let mut end = 0;
    for start in 0..sorted_us.len() {
        while end < sorted_us.len() && sorted_us[end] < sorted_us[start] + width_us {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

/// A request as the typed client sends it: a raw `Authorization` header
/// and a `Model` extension, so the limiter derives its scope from key,
/// endpoint and model.
pub fn scoped_request() -> Req {
    let mut request = http::Request::post("https://api.together.ai/v1/chat/completions")
        .header(
            "authorization",
            "Bearer bench-key-0123456789abcdef0123456789abcdef",
        )
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(tower_together::extensions::Model::new(
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ));
    request
}
