//! The simulator on a real loopback socket.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tower_service::Service;

use super::faults::Scripted;
use super::service::SimService;
use super::stats::Stats;

/// A running simulator, serving HTTP/1.1 on `127.0.0.1`.
///
/// Dropping it (or [`shutdown`](Simulator::shutdown)) stops the accept loop
/// and closes every connection. Any number can run at once.
#[derive(Debug)]
pub struct Simulator {
    service: SimService,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    pub(crate) async fn start(service: SimService) -> io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept(listener, service.clone(), stopped));
        Ok(Simulator {
            service,
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The base URL to give a client: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The same simulator as an in-process service (same state and counters).
    pub fn service(&self) -> SimService {
        self.service.clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.service.stats()
    }

    /// Appends outcomes to the script (see [`Scripted`]).
    pub fn script(&self, outcomes: impl IntoIterator<Item = Scripted>) {
        self.service.script(outcomes);
    }

    /// Forgets every counted request, 429 and fault (files and jobs stay).
    pub fn reset_stats(&self) {
        self.service.reset_stats();
    }

    /// Stops accepting, closes every connection and waits until it is done.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // The accept task sees this and aborts its connections; nothing to
        // wait for in a destructor.
        let _ = self.stop.send(true);
    }
}

async fn accept(listener: TcpListener, service: SimService, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, say: let some close.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let service = service.clone();
                connections.spawn(async move {
                    let serve = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        let mut service = service.clone();
                        async move { Ok::<_, Infallible>(service.call(request).await.unwrap_or_else(|never| match never {})) }
                    });
                    // Errors here are the client's doing (or a disconnect
                    // fault); the connection is simply over.
                    // The timer lets hyper drop a client that never
                    // finishes its headers (after 30 s).
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .serve_connection(TokioIo::new(stream), serve)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
        }
    }
    connections.shutdown().await;
}
