//! Per (API key, model) request and token limits, enforced like Together:
//! per second, with a small burst.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Request and token limits for one model, per API key.
///
/// Together enforces its limits per second: "60 RPM" is enforced as one
/// request a second, so a client that sends a minute's quota at once is
/// throttled. The simulator does the same with GCRA arithmetic on
/// [`tokio::time::Instant`]: in any window of `w` seconds it admits at most
/// `burst + per_second × w` requests (and the same for tokens).
///
/// ```
/// use tower_together::sim::Limits;
///
/// let limits = Limits::per_second(10).burst(2).tokens_per_second(50_000);
/// assert_eq!(limits.requests_per_second(), 10);
/// assert_eq!(limits.request_burst(), 2);
/// assert_eq!(limits.token_limit(), 50_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    requests: u32,
    burst: u32,
    tokens: u32,
    token_burst: Option<u32>,
}

/// The token rate when none is set: generous, so only tests that ask for
/// token limiting see it.
const DEFAULT_TOKENS_PER_SECOND: u32 = 100_000;

impl Limits {
    /// `n` requests a second, with a burst of one second's worth (`n`) and
    /// 100 000 tokens a second.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    pub const fn per_second(n: u32) -> Self {
        assert!(n > 0, "a limit of zero requests a second admits nothing");
        Limits {
            requests: n,
            burst: n,
            tokens: DEFAULT_TOKENS_PER_SECOND,
            token_burst: None,
        }
    }

    /// How many requests may arrive at once after a quiet spell.
    ///
    /// # Panics
    ///
    /// If `burst` is zero.
    pub const fn burst(mut self, burst: u32) -> Self {
        assert!(burst > 0, "a burst of zero admits nothing");
        self.burst = burst;
        self
    }

    /// The token budget a second (prompt tokens plus `max_tokens`, see
    /// [the module docs](super)). The token burst is one second's worth unless
    /// [`token_burst`](Limits::token_burst) says otherwise.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    pub const fn tokens_per_second(mut self, n: u32) -> Self {
        assert!(n > 0, "a limit of zero tokens a second admits nothing");
        self.tokens = n;
        self
    }

    /// How many tokens may be spent at once after a quiet spell.
    ///
    /// # Panics
    ///
    /// If `burst` is zero.
    pub const fn token_burst(mut self, burst: u32) -> Self {
        assert!(burst > 0, "a burst of zero admits nothing");
        self.token_burst = Some(burst);
        self
    }

    /// Requests admitted per second (the `x-ratelimit-limit` header).
    pub const fn requests_per_second(&self) -> u32 {
        self.requests
    }

    /// Requests admitted at once.
    pub const fn request_burst(&self) -> u32 {
        self.burst
    }

    /// Tokens admitted per second (the `x-tokenlimit-limit` header).
    pub const fn token_limit(&self) -> u32 {
        self.tokens
    }

    /// Tokens admitted at once.
    pub const fn token_burst_size(&self) -> u32 {
        match self.token_burst {
            Some(burst) => burst,
            None => self.tokens,
        }
    }
}

impl Default for Limits {
    /// Ten requests a second, burst ten, 100 000 tokens a second.
    fn default() -> Self {
        Limits::per_second(10)
    }
}

/// How a 429 tells the client when to come back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfterStyle {
    /// `Retry-After: <whole seconds>`, rounded up.
    #[default]
    Seconds,
    /// `Retry-After: <HTTP-date>`, with a `Date` header from the same clock so
    /// the client can compute the wait (RFC 9110 §10.2.3).
    HttpDate,
    /// No `Retry-After` at all: Together does not always send one.
    Absent,
}

/// What the limiter says about one scope, for the `x-ratelimit-*` headers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub(crate) limits: Limits,
    pub(crate) remaining_requests: u64,
    pub(crate) remaining_tokens: u64,
    /// Time until the request budget is whole again; on a 429, until the
    /// refused request would be admitted.
    pub(crate) reset: Duration,
}

/// Which budget a refused request ran out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exhausted {
    Requests,
    Tokens,
}

/// The limiter's answer to one request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Decision {
    Admitted(Budget),
    Refused {
        budget: Budget,
        wait: Duration,
        exhausted: Exhausted,
    },
}

/// One GCRA cell: the theoretical arrival time of the next unit.
#[derive(Clone, Copy, Debug)]
struct Cell {
    tat: Instant,
}

impl Cell {
    /// Nanoseconds between units, rounded up so a rate is never exceeded.
    fn interval(rate: u32) -> u64 {
        1_000_000_000u64.div_ceil(u64::from(rate)).max(1)
    }

    /// How long until `cost` units would be admitted (zero: now).
    fn wait(&self, now: Instant, rate: u32, burst: u32, cost: u64) -> Duration {
        let interval = Cell::interval(rate);
        let tat = self.tat.max(now);
        let debt = nanos(tat - now);
        let tolerance = u64::from(burst) * interval;
        if cost > u64::from(burst) {
            // A request dearer than the whole burst goes through once the cell
            // is fully rested, instead of never.
            return Duration::from_nanos(debt);
        }
        let after = debt.saturating_add(cost.saturating_mul(interval));
        Duration::from_nanos(after.saturating_sub(tolerance))
    }

    fn charge(&mut self, now: Instant, rate: u32, cost: u64) {
        let interval = Cell::interval(rate);
        let tat = self.tat.max(now);
        // Saturated costs end far in the future, never in a panic.
        let charge = Duration::from_nanos(cost.saturating_mul(interval));
        self.tat = tat.checked_add(charge).unwrap_or(tat);
    }

    fn remaining(&self, now: Instant, rate: u32, burst: u32) -> u64 {
        let interval = Cell::interval(rate);
        let debt = nanos(self.tat.max(now) - now);
        (u64::from(burst) * interval).saturating_sub(debt) / interval
    }

    fn reset(&self, now: Instant) -> Duration {
        self.tat.max(now) - now
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Clone, Copy, Debug)]
struct Scope {
    requests: Cell,
    tokens: Cell,
}

/// Every scope's cells. A refused request charges nothing: a 429 is not an
/// admitted request.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    scopes: HashMap<(Arc<str>, Arc<str>), Scope>,
}

impl Limiter {
    /// Admits (and charges) or refuses one request of `tokens` tokens.
    pub(crate) fn check(
        &mut self,
        key: &Arc<str>,
        model: &Arc<str>,
        limits: Limits,
        tokens: u64,
        now: Instant,
    ) -> Decision {
        let scope = self
            .scopes
            .entry((key.clone(), model.clone()))
            .or_insert(Scope {
                requests: Cell { tat: now },
                tokens: Cell { tat: now },
            });
        let request_wait = scope.requests.wait(now, limits.requests, limits.burst, 1);
        let token_wait = scope
            .tokens
            .wait(now, limits.tokens, limits.token_burst_size(), tokens);
        if request_wait.is_zero() && token_wait.is_zero() {
            scope.requests.charge(now, limits.requests, 1);
            scope.tokens.charge(now, limits.tokens, tokens);
            return Decision::Admitted(budget(scope, limits, now));
        }
        let exhausted = if request_wait >= token_wait {
            Exhausted::Requests
        } else {
            Exhausted::Tokens
        };
        let wait = request_wait.max(token_wait);
        Decision::Refused {
            // On a 429, `x-ratelimit-reset` is the suggested retry interval:
            // the wait until this request would be admitted.
            budget: Budget {
                reset: wait,
                ..budget(scope, limits, now)
            },
            wait,
            exhausted,
        }
    }

    /// The budget of a scope without charging it.
    pub(crate) fn peek(
        &self,
        key: &Arc<str>,
        model: &Arc<str>,
        limits: Limits,
        now: Instant,
    ) -> Budget {
        match self.scopes.get(&(key.clone(), model.clone())) {
            Some(scope) => budget(scope, limits, now),
            None => Budget::full(limits),
        }
    }
}

impl Budget {
    /// The budget of a scope that has seen nothing yet.
    pub(crate) fn full(limits: Limits) -> Budget {
        Budget {
            limits,
            remaining_requests: u64::from(limits.burst),
            remaining_tokens: u64::from(limits.token_burst_size()),
            reset: Duration::ZERO,
        }
    }
}

fn budget(scope: &Scope, limits: Limits, now: Instant) -> Budget {
    Budget {
        limits,
        remaining_requests: scope.requests.remaining(now, limits.requests, limits.burst),
        remaining_tokens: scope
            .tokens
            .remaining(now, limits.tokens, limits.token_burst_size()),
        reset: scope.requests.reset(now),
    }
}
