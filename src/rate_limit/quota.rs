use std::fmt;
use std::time::Duration;

/// How fast a scope may send: a sustained rate of requests and a burst, and
/// optionally a second budget of tokens with a rate and a burst of its own.
///
/// Internally a quota is an *emission interval* (the time one unit of the
/// quota is worth) and a *burst* (how many units may go back to back after a
/// quiet spell). Over any window `W` a scope admits at most
/// `rate × W + burst` units.
///
/// Together enforces its limits per second, so the default burst is one
/// second's worth of the rate (at least 1), never a minute's: a client that
/// bursts a minute's quota in one second gets 429s.
///
/// ```
/// use std::time::Duration;
/// use tower_together::Quota;
///
/// let q = Quota::per_minute(600);
/// assert_eq!(q.emission_interval(), Duration::from_millis(100));
/// assert_eq!(q.burst_size(), 10); // one second's worth
///
/// let q = Quota::per_second(5).burst(1);
/// assert_eq!(q.burst_size(), 1);
/// assert!(Quota::try_per_period(0, Duration::from_secs(1)).is_err());
///
/// // Together limits requests and tokens per second at once.
/// let q = Quota::per_second(10).tokens_per_second(20_000);
/// assert_eq!(q.token_burst_size(), Some(20_000)); // one second's worth
/// ```
///
/// # Two budgets
///
/// With [`tokens_per_second`](Quota::tokens_per_second) (or
/// [`tokens_per_minute`](Quota::tokens_per_minute)) a scope paces requests
/// and tokens together: a request goes when both budgets allow it, takes
/// from both or neither, and waits its turn first come, first served. Its
/// token cost is the [`TokenCost`](crate::extensions::TokenCost) extension
/// (the typed client sets an estimate), reconciled with the answer's usage
/// through [`TokenReservation`](crate::rate_limit::TokenReservation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    interval: Duration,
    burst: u32,
    tokens: Option<Rate>,
}

/// A rate as an emission interval and a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Rate {
    interval: Duration,
    burst: u32,
}

impl Rate {
    /// `n` per `period`, burst one second's worth (at least 1, at most `n`).
    fn per_period(n: u32, period: Duration) -> Result<Rate, QuotaError> {
        if n == 0 {
            return Err(QuotaError::ZeroRate);
        }
        if period.is_zero() {
            return Err(QuotaError::ZeroPeriod);
        }
        let period_ns = period.as_nanos();
        if period_ns < u128::from(n) {
            return Err(QuotaError::TooFast);
        }
        let interval_ns = period_ns.div_ceil(u128::from(n));
        let interval = Duration::from_nanos(u64::try_from(interval_ns).unwrap_or(u64::MAX));
        // One second's worth of the rate: 1 s / interval, rounded up.
        let per_second = 1_000_000_000u128.div_ceil(interval_ns);
        // In range: clamped to `n`, a u32.
        let burst = per_second.clamp(1, u128::from(n)) as u32;
        Ok(Rate { interval, burst })
    }

    /// Scaled by `factor` in (0, 1], rounded so it never admits more.
    fn scaled(self, factor: f64) -> Rate {
        let interval_ns = (self.interval.as_nanos() as f64 / factor).ceil();
        let interval = Duration::from_nanos(if interval_ns >= u64::MAX as f64 {
            u64::MAX
        } else {
            interval_ns as u64
        });
        // The epsilon keeps 10 × 0.9 at 9 despite binary fractions.
        let burst = ((f64::from(self.burst) * factor + 1e-9).floor() as u32).max(1);
        Rate { interval, burst }
    }
}

impl Quota {
    /// `n` units per second, burst `n`.
    ///
    /// # Panics
    ///
    /// If `n` is 0. Use [`Quota::try_per_period`] to get an error instead.
    pub fn per_second(n: u32) -> Quota {
        Self::expect(Self::try_per_period(n, Duration::from_secs(1)))
    }

    /// `n` units per minute, burst one second's worth (`ceil(n / 60)`).
    ///
    /// # Panics
    ///
    /// If `n` is 0. Use [`Quota::try_per_period`] to get an error instead.
    pub fn per_minute(n: u32) -> Quota {
        Self::expect(Self::try_per_period(n, Duration::from_secs(60)))
    }

    /// `n` units per `period`, burst one second's worth of that rate (at
    /// least 1, at most `n`).
    ///
    /// The emission interval is rounded up to the nanosecond, so the quota
    /// never admits more than asked. Rates above 10⁹ per second cannot be
    /// represented and are refused.
    ///
    /// # Errors
    ///
    /// [`QuotaError`] if `n` or `period` is zero, or the rate is above 10⁹/s.
    pub fn try_per_period(n: u32, period: Duration) -> Result<Quota, QuotaError> {
        let Rate { interval, burst } = Rate::per_period(n, period)?;
        Ok(Quota {
            interval,
            burst,
            tokens: None,
        })
    }

    /// The same rate with a burst of `n` units.
    ///
    /// # Panics
    ///
    /// If `n` is 0: a quota that admits nothing is a configuration error.
    pub fn burst(self, n: u32) -> Quota {
        Self::expect(self.try_burst(n))
    }

    /// The same rate with a burst of `n` units.
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroBurst`] if `n` is 0.
    pub fn try_burst(self, n: u32) -> Result<Quota, QuotaError> {
        if n == 0 {
            return Err(QuotaError::ZeroBurst);
        }
        Ok(Quota { burst: n, ..self })
    }

    /// This quota with a token budget of `n` tokens per second, burst one
    /// second's worth (Together's token limits are per second).
    ///
    /// # Panics
    ///
    /// If `n` is 0. Use [`Quota::try_tokens_per_period`] to get an error.
    pub fn tokens_per_second(self, n: u32) -> Quota {
        Self::expect(self.try_tokens_per_period(n, Duration::from_secs(1)))
    }

    /// This quota with a token budget of `n` tokens per minute, burst one
    /// second's worth.
    ///
    /// # Panics
    ///
    /// If `n` is 0. Use [`Quota::try_tokens_per_period`] to get an error.
    pub fn tokens_per_minute(self, n: u32) -> Quota {
        Self::expect(self.try_tokens_per_period(n, Duration::from_secs(60)))
    }

    /// This quota with a token budget of `n` tokens per `period`.
    ///
    /// # Errors
    ///
    /// As [`Quota::try_per_period`].
    pub fn try_tokens_per_period(self, n: u32, period: Duration) -> Result<Quota, QuotaError> {
        Ok(Quota {
            tokens: Some(Rate::per_period(n, period)?),
            ..self
        })
    }

    /// The same token rate with a burst of `n` tokens. Without a token
    /// budget, this does nothing.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    pub fn token_burst(self, n: u32) -> Quota {
        if n == 0 {
            Self::expect(Err(QuotaError::ZeroBurst))
        } else {
            Quota {
                tokens: self.tokens.map(|rate| Rate { burst: n, ..rate }),
                ..self
            }
        }
    }

    /// The time one token is worth, when the quota has a token budget.
    pub fn token_interval(&self) -> Option<Duration> {
        self.tokens.map(|rate| rate.interval)
    }

    /// How many tokens may go back to back, when the quota has a token budget.
    pub fn token_burst_size(&self) -> Option<u32> {
        self.tokens.map(|rate| rate.burst)
    }

    /// The sustained token rate per second, when the quota has a token budget.
    pub fn tokens_per_second_rate(&self) -> Option<f64> {
        self.tokens.map(|rate| 1.0 / rate.interval.as_secs_f64())
    }

    /// This quota scaled by `factor` (0 < factor ≤ 1), for a safety margin
    /// under a server's limit. The burst is scaled too (at least 1).
    ///
    /// ```
    /// use tower_together::Quota;
    /// let q = Quota::per_minute(600).scaled(0.9);
    /// assert_eq!(q, Quota::per_minute(540));
    /// ```
    ///
    /// # Panics
    ///
    /// If `factor` is not in `(0, 1]`.
    pub fn scaled(self, factor: f64) -> Quota {
        assert!(
            factor > 0.0 && factor <= 1.0,
            "Quota::scaled: factor must be in (0, 1], got {factor}"
        );
        let Rate { interval, burst } = Rate {
            interval: self.interval,
            burst: self.burst,
        }
        .scaled(factor);
        Quota {
            interval,
            burst,
            tokens: self.tokens.map(|rate| rate.scaled(factor)),
        }
    }

    /// The time one unit of the quota is worth.
    pub const fn emission_interval(&self) -> Duration {
        self.interval
    }

    /// How many units may go back to back.
    pub const fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The sustained rate in units per second.
    pub fn per_second_rate(&self) -> f64 {
        1.0 / self.interval.as_secs_f64()
    }

    fn expect(result: Result<Quota, QuotaError>) -> Quota {
        match result {
            Ok(quota) => quota,
            Err(error) => panic!("invalid quota: {error}"),
        }
    }
}

impl fmt::Debug for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Quota");
        f.field("per_second", &self.per_second_rate())
            .field("burst", &self.burst);
        if let (Some(rate), Some(burst)) = (self.tokens_per_second_rate(), self.token_burst_size())
        {
            f.field("tokens_per_second", &rate)
                .field("token_burst", &burst);
        }
        f.finish()
    }
}

/// Why a [`Quota`] could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaError {
    /// A rate of zero units would admit nothing, ever.
    ZeroRate,
    /// A zero-length period has no meaning.
    ZeroPeriod,
    /// A burst of zero would admit nothing, ever.
    ZeroBurst,
    /// More than 10⁹ units per second cannot be paced to the nanosecond.
    TooFast,
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaError::ZeroRate => "the rate must be at least 1 unit per period",
            QuotaError::ZeroPeriod => "the period must be longer than zero",
            QuotaError::ZeroBurst => "the burst must be at least 1",
            QuotaError::TooFast => "rates above 10^9 units per second are not supported",
        })
    }
}

impl std::error::Error for QuotaError {}
