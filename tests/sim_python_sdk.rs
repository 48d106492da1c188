#![cfg(feature = "sim")]
//! Together's Python SDK against the simulator over loopback HTTP. Ignored
//! by default: it needs a Python with the `together` package, named by
//! `TOGETHER_SDK_PYTHON`. Run it with `scripts/check-python-sdk.sh`.

use std::process::Command;
use std::time::Duration;

use tower_together::sim::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TOGETHER_SDK_PYTHON: run scripts/check-python-sdk.sh"]
async fn the_python_sdk_works_against_the_simulator() {
    let python = std::env::var("TOGETHER_SDK_PYTHON")
        .expect("TOGETHER_SDK_PYTHON names a Python with the together package");
    let sim = Simulator::builder()
        .api_key("sim-key")
        .fine_tune_durations(Duration::from_millis(100), Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sdk_check.py");
    let base_url = sim.base_url().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("TOGETHER_BASE_URL", base_url)
            .env("TOGETHER_API_KEY", "sim-key")
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    sim.shutdown().await;
    assert!(
        output.status.success(),
        "the SDK check failed:\n{stdout}\n{stderr}"
    );
}
