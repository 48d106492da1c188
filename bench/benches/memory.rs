//! Memory per waiting request: 10 000 tasks waiting in one scope, measured
//! with a counting allocator, against a bare tokio task holding the same
//! request.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use tower::{Layer, ServiceExt};
use tower_together_bench::*;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

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

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Baseline: a task that holds the request and waits forever.
        let before = LIVE.load(Ordering::Relaxed);
        let bare: Vec<_> = (0..WAITERS)
            .map(|_| {
                let request = http::Request::new(());
                tokio::spawn(async move {
                    std::future::pending::<()>().await;
                    drop(request);
                })
            })
            .collect();
        tokio::task::yield_now().await;
        let baseline = (LIVE.load(Ordering::Relaxed) - before) as f64 / WAITERS as f64;
        for task in &bare {
            task.abort();
        }
        for task in bare {
            let _ = task.await;
        }

        // Ours: one permit taken, then every request waits for an hour.
        let layer = our_layer(Profile::Exhausted);
        let service = layer.layer(http_noop());
        service
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        let before = LIVE.load(Ordering::Relaxed);
        let waiting: Vec<_> = (0..WAITERS)
            .map(|_| tokio::spawn(service.clone().oneshot(http::Request::new(()))))
            .collect();
        // Let every task run up to its wait (bounded: a bug must not hang).
        for _ in 0..WAITERS {
            if layer.waiting() == WAITERS {
                break;
            }
            tokio::task::yield_now().await;
        }
        let ours = (LIVE.load(Ordering::Relaxed) - before) as f64 / WAITERS as f64;
        let future_size = std::mem::size_of_val(&service.clone().oneshot(http::Request::new(())));
        let request_size = std::mem::size_of::<http::Request<()>>();
        assert_eq!(layer.waiting(), WAITERS, "every request is queued");
        println!("memory per waiting task, {WAITERS} waiters");
        println!("bare tokio task holding the request: {baseline:>7.1} B");
        println!("tower-together RateLimit waiter:     {ours:>7.1} B");
        println!(
            "above the bare task:                 {:>7.1} B",
            ours - baseline
        );
        println!("size_of: request {request_size} B, waiting future {future_size} B");
        for task in waiting {
            task.abort();
        }
    });
}
