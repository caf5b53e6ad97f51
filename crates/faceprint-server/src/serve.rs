//! The accept loop: a deadline for a client to say which protocol it speaks and to send its
//! headers (which also closes idle keep-alive connections), a cap on open connections, and a
//! graceful stop.
//!
//! hyper-util's `auto` builder runs no timer while it reads the first bytes to choose between
//! HTTP/1 and HTTP/2, so a client that connects and sends nothing (or half an HTTP/2 preface)
//! was never cut, and 512 of them held every connection slot. Here the first bytes are read
//! under the header deadline before the connection counts against the cap.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::AppState;

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The preface is followed at once by a SETTINGS frame, whose header is 9 bytes: an HTTP/2
/// client has said who it is only once both arrived.
const HTTP2_GREETING: usize = HTTP2_PREFACE.len() + 9;

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting and lets the
/// requests in flight finish (an enrolment that was acknowledged is committed before its
/// response is written).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = state.config.header_timeout;
    let connections = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
    // Clients that have not yet said what they speak: each is cut at the header deadline, so
    // this many silent sockets delay new clients by at most that long.
    let greeting = Arc::new(Semaphore::new(state.config.max_pending_connections.max(1)));
    let app = crate::app(state);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the cap of pending clients, stop accepting: further clients wait in the kernel's
        // queue, costing us nothing, until one is served or cut.
        let pending = tokio::select! {
            permit = greeting.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let connections = connections.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + header_timeout;
            let Ok(Ok(Some(stream))) = tokio::time::timeout_at(deadline, greeted(stream)).await else {
                return; // silent past the deadline, or gone: dropping the socket closes it
            };
            // Past the cap a client that spoke waits for a slot, but no longer than its headers
            // may take: the waiting line is bounded by the pending cap and the deadline.
            let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, connections.acquire_owned()).await else {
                return;
            };
            drop(pending);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            // A peer that stops answering pings is cut; a live HTTP/2 client keeps its slot.
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(header_timeout))
                .keep_alive_timeout(header_timeout);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let _ = watcher.watch(connection).await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Reads until the protocol is known: any first bytes that are not the HTTP/2 preface (an
/// HTTP/1 request line), or the whole preface and the header of the SETTINGS frame after it.
/// `None` when the client hung up first.
async fn greeted(mut stream: TcpStream) -> std::io::Result<Option<Greeted>> {
    let mut first = [0u8; HTTP2_GREETING];
    let mut read = 0;
    loop {
        let n = stream.read(&mut first[read..]).await?;
        if n == 0 {
            return Ok(None);
        }
        read += n;
        let preface_part = read.min(HTTP2_PREFACE.len());
        if first[..preface_part] != HTTP2_PREFACE[..preface_part] || read == HTTP2_GREETING {
            return Ok(Some(Greeted { first: first[..read].to_vec(), replayed: 0, stream }));
        }
    }
}

/// A connection whose first bytes were read to learn its protocol; they are read again first.
#[derive(Debug)]
struct Greeted {
    first: Vec<u8>,
    replayed: usize,
    stream: TcpStream,
}

impl AsyncRead for Greeted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.first.len() {
            let rest = &this.first[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Greeted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
