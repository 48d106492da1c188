//! A fixed loop of uncontended acquires, for instruction-count profiling:
//! `valgrind --tool=callgrind target/release/examples/profile_acquire`.

use futures_util::FutureExt;
use tower::{Layer, Service, ServiceExt};
use tower_together_bench::*;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut service = our_layer(Profile::Huge).layer(http_noop());
    for _ in 0..100_000 {
        let ready = service.ready().now_or_never().unwrap().unwrap();
        let response = ready.call(http::Request::new(())).now_or_never().unwrap();
        std::hint::black_box(response.unwrap());
    }
}
