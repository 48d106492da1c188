//! Memory per waiting request: 10 000 tasks waiting on one exhausted limiter
//! (one permit taken, then 1 per hour), measured with a counting allocator,
//! against bare tokio tasks: one holding an `Arc` (the anchor harness's
//! baseline), one holding the same `http::Request` ours waits with.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use tower::{Layer, ServiceExt};
use tower_together_bench::*;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const WAITERS: usize = 10_000;

/// Spawns `WAITERS` tasks from `make`, lets each run up to its wait, and
/// returns the live-heap growth per task.
async fn per_task<F, Fut>(make: F, waiting: Option<&dyn Fn() -> usize>) -> f64
where
    F: Fn() -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send,
{
    let before = LIVE.load(Ordering::Relaxed);
    let tasks: Vec<_> = (0..WAITERS).map(|_| tokio::spawn(make())).collect();
    // The scheduler polls a bounded number of tasks each time this task
    // yields: yield far more often than needed for all of them to be polled
    // once (checked for ours below through the limiter's own count).
    for _ in 0..5_000 {
        tokio::task::yield_now().await;
    }
    let grown = (LIVE.load(Ordering::Relaxed) - before) as f64 / WAITERS as f64;
    if let Some(waiting) = waiting {
        assert_eq!(waiting(), WAITERS, "every task reached its wait");
    }
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    grown
}

/// Each measurement runs in a process of its own, so one limiter's freed
/// memory (a timer thread's heap, say) cannot show up in another's figure.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--measure") {
        let name = args.get(at + 1).map(String::as_str).unwrap_or("");
        println!("{}", measure(name));
        return;
    }
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let run = |name: &str| -> f64 {
        let output = std::process::Command::new(&exe)
            .args(["--measure", name])
            .output()
            .expect("run a measurement");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("measurement {name} failed: {output:?}"))
    };
    let bare_arc = run("bare-arc");
    let bare_request = run("bare-request");
    let ours = run("ours");
    let governor_waiter = run("governor");
    let leaky_waiter = run("leaky");
    println!("memory per waiting task, {WAITERS} waiters (bytes of live heap per task)");
    println!("{:<44} {:>8} {:>12}", "", "total", "above base");
    let row = |name: &str, total: f64, base: f64| {
        println!("{name:<44} {total:>8.1} {:>12.1}", total - base)
    };
    row("bare task holding an Arc (baseline A)", bare_arc, bare_arc);
    row(
        "bare task holding an http::Request (B)",
        bare_request,
        bare_request,
    );
    row("tower-together RateLimit (above B)", ours, bare_request);
    row("governor until_ready (above A)", governor_waiter, bare_arc);
    row("leaky-bucket acquire_one (above A)", leaky_waiter, bare_arc);
    let layer = our_layer(Profile::Exhausted);
    let service = layer.layer(http_noop());
    println!(
        "size_of: http::Request<()> {} B, waiting RateLimit oneshot {} B",
        std::mem::size_of::<http::Request<()>>(),
        std::mem::size_of_val(&service.oneshot(http::Request::new(())))
    );
}

fn measure(name: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match name {
            "bare-arc" => {
                let arc = Arc::new(0u64);
                per_task(
                    || {
                        let arc = arc.clone();
                        async move {
                            std::future::pending::<()>().await;
                            drop(arc);
                        }
                    },
                    None,
                )
                .await
            }
            "bare-request" => {
                per_task(
                    || {
                        let request = http::Request::new(());
                        async move {
                            std::future::pending::<()>().await;
                            drop(request);
                        }
                    },
                    None,
                )
                .await
            }
            "ours" => {
                let layer = our_layer(Profile::Exhausted);
                let service = layer.layer(http_noop());
                service
                    .clone()
                    .oneshot(http::Request::new(()))
                    .await
                    .unwrap();
                // Spawned as is: no wrapper, so the task holds exactly the
                // request's future.
                per_task(
                    || service.clone().oneshot(http::Request::new(())),
                    Some(&|| layer.waiting()),
                )
                .await
            }
            "governor" => {
                let gov = Arc::new(governor(Profile::Exhausted));
                let _ = gov.check();
                per_task(
                    || {
                        let gov = gov.clone();
                        async move { gov.until_ready().await }
                    },
                    None,
                )
                .await
            }
            "leaky" => {
                let leaky_bucket = Arc::new(leaky(Profile::Exhausted));
                per_task(
                    || {
                        let leaky_bucket = leaky_bucket.clone();
                        async move { leaky_bucket.acquire_one().await }
                    },
                    None,
                )
                .await
            }
            other => panic!("unknown measurement {other}"),
        }
    })
}
