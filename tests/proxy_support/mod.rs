//! A real forward proxy for tests: Debian's `tinyproxy`, started on a free
//! loopback port with a config of the test's own (foreground, its log in a
//! temporary folder), stopped on drop. Never a mock.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A private `tinyproxy` on 127.0.0.1.
#[derive(Debug)]
pub struct TinyProxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// Whether `tinyproxy` is installed.
fn installed() -> bool {
    Command::new("tinyproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl TinyProxy {
    /// A fresh proxy (asking for `user`/`password` when `basic_auth` is
    /// set), or `None` (after saying so on the terminal) when `tinyproxy`
    /// is not installed and this is not CI. In CI (`CI=true`) a missing
    /// proxy fails the test.
    pub async fn start(test: &str, basic_auth: Option<(&str, &str)>) -> Option<TinyProxy> {
        if !installed() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but tinyproxy is not installed (apt-get install -y tinyproxy)"
            );
            // Straight to stderr: the test harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: tinyproxy is not installed (apt-get install -y tinyproxy)"
            );
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address").port()
        };
        let dir = std::env::temp_dir().join(format!(
            "tower-together-tinyproxy-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let mut config = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\n\
             LogLevel Info\nLogFile \"{}\"\n",
            dir.join("log").display()
        );
        if let Some((user, password)) = basic_auth {
            config.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        let config_path = dir.join("tinyproxy.conf");
        std::fs::write(&config_path, config).expect("the config is written");
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy starts");
        let proxy = TinyProxy { child, port, dir };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(proxy);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("tinyproxy did not listen within 5 s");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://user:password@127.0.0.1:PORT`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The requests the proxy received, as its log has them
    /// (`GET http://127.0.0.1:PORT/v1/models HTTP/1.1`, `CONNECT
    /// 127.0.0.1:PORT HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| line.split_once("]: Request (file descriptor "))
            .filter_map(|(_, rest)| rest.split_once("): "))
            .map(|(_, request)| request.to_owned())
            .collect()
    }

    /// The requests, once at least `n` are logged (or after 2 s).
    pub async fn wait_for_requests(&self, n: usize) -> Vec<String> {
        for _ in 0..80 {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.requests()
    }
}

impl Drop for TinyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
