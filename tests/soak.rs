//! Bounded memory under many keys (issue: scopes never went away).
//!
//! 1 000 000 requests over 100 000 distinct API keys on paused time, with
//! 10 % of the requests given up early (cancelled while waiting when they
//! have to wait). Checks: no 1 s window of any key is over its quota,
//! every request not given up is served, the scope count returns to near
//! zero once the keys fall idle, and the heap afterwards is within 10 % of
//! the heap before (a counting allocator, this binary only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{Request, Response};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};
use tower_together::extensions::ApiKeyFingerprint;
use tower_together::{Quota, RateLimitLayer};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const KEYS: u64 = 100_000;
const PER_KEY: u64 = 10;
/// Keys active at once: one wave's requests run concurrently.
const KEYS_PER_WAVE: u64 = 2_000;
const RATE: u32 = 2;
const BURST: u32 = 2;

fn request(key: u64) -> Request<()> {
    let mut request = Request::post("https://api.together.ai/v1/embeddings")
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(ApiKeyFingerprint::from_hash(key));
    request
}

#[test]
fn a_million_requests_over_a_hundred_thousand_keys_leave_nothing_behind() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(soak());
}

async fn soak() {
    // Admission times of the current wave, per key.
    let admitted: Arc<Mutex<HashMap<u64, Vec<Instant>>>> = Arc::default();
    let seen = admitted.clone();
    let server = service_fn(move |request: Request<()>| {
        let key = request
            .extensions()
            .get::<ApiKeyFingerprint>()
            .map_or(0, |k| k.get());
        seen.lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push(Instant::now());
        async { Ok::<_, Infallible>(Response::new(())) }
    });
    let layer = RateLimitLayer::builder(Quota::per_second(RATE).burst(BURST))
        .idle_timeout(Duration::from_secs(5))
        .build();
    let service = layer.layer(server);

    // Warm up with one wave of other keys (runtime, timer wheel, queues
    // and tables reach their working size), then let it all go idle.
    let warm_up = wave(&service, &layer, &admitted, KEYS).await;
    assert_eq!(warm_up.0 + warm_up.1, KEYS_PER_WAVE * PER_KEY);
    tokio::time::sleep(Duration::from_secs(10)).await;
    layer.evict_idle();
    assert_eq!(layer.scope_count(), 0);
    let before = LIVE_BYTES.load(Ordering::Relaxed);

    let mut served = 0u64;
    let mut given_up = 0u64;
    let mut peak_scopes = 0;
    for number in 0..KEYS / KEYS_PER_WAVE {
        let (ok, gave_up) = wave(&service, &layer, &admitted, number * KEYS_PER_WAVE).await;
        served += ok;
        given_up += gave_up;
        peak_scopes = peak_scopes.max(layer.scope_count());
        // The next wave starts after this one's keys fall idle.
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    assert_eq!(served + given_up, KEYS * PER_KEY);
    assert!(
        given_up > KEYS * PER_KEY / 20 && given_up <= KEYS * PER_KEY / 10,
        "about 10 % gave up while waiting: {given_up}"
    );
    assert!(
        peak_scopes <= 3 * KEYS_PER_WAVE as usize,
        "idle keys were swept as the run went: peak {peak_scopes} scopes"
    );
    assert_eq!(layer.waiting(), 0, "no cancelled waiter left behind");

    tokio::time::sleep(Duration::from_secs(10)).await;
    // The next new scope sweeps the idle ones; then only it is left.
    service
        .clone()
        .oneshot(request(u64::MAX - 1))
        .await
        .unwrap();
    assert!(layer.scope_count() <= 1, "{} scopes", layer.scope_count());
    tokio::time::sleep(Duration::from_secs(10)).await;
    layer.evict_idle();
    assert_eq!(layer.scope_count(), 0);
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    let growth = (after - before) as f64 / before as f64;
    println!(
        "soak: served {served}, gave up {given_up}, peak {peak_scopes} scopes, heap {before} -> {after} bytes ({:+.1} %)",
        growth * 100.0
    );
    assert!(
        growth.abs() <= 0.10,
        "heap {before} -> {after} bytes: more than 10 % apart"
    );
}

type Admitted = Arc<Mutex<HashMap<u64, Vec<Instant>>>>;

/// `KEYS_PER_WAVE` keys from `first_key`, `PER_KEY` requests each, all at
/// once; checks every key's windows, then forgets them. Returns how many
/// were served and how many gave up.
async fn wave<S>(
    service: &S,
    layer: &RateLimitLayer,
    admitted: &Admitted,
    first_key: u64,
) -> (u64, u64)
where
    S: tower::Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone,
{
    let mut served = 0;
    let mut given_up = 0;
    let mut calls = FuturesUnordered::new();
    for round in 0..PER_KEY {
        for key in first_key..first_key + KEYS_PER_WAVE {
            let call = service.clone().oneshot(request(key));
            // Every tenth request gives up after 1 ms if it must wait.
            let patience = if (key + round) % 10 == 0 {
                Duration::from_millis(1)
            } else {
                Duration::from_secs(3600)
            };
            calls.push(tokio::time::timeout(patience, call));
        }
    }
    while let Some(outcome) = calls.next().await {
        match outcome {
            Ok(response) => {
                response.unwrap();
                served += 1;
            }
            Err(_) => given_up += 1,
        }
    }
    assert_eq!(layer.waiting(), 0, "no cancelled waiter left behind");
    let mut admitted = admitted.lock().unwrap();
    for (key, times) in admitted.iter() {
        let most = (0..times.len())
            .map(|i| times[i..].partition_point(|u| *u < times[i] + Duration::from_secs(1)))
            .max()
            .unwrap_or(0);
        assert!(
            most <= (RATE + BURST) as usize,
            "key {key}: {most} admitted in one second"
        );
    }
    admitted.clear();
    admitted.shrink_to_fit();
    (served, given_up)
}
