//! The daemon's side of the control socket.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::protocol::{parse_request, CaptureReply, Request, Response};
use super::MAX_REQUEST;
use crate::capture::{self, Hub};

/// A bound control socket; the file is removed when this is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    /// Where `capture` requests subscribe; without it they are refused.
    capture: Option<Arc<Hub>>,
}

impl ControlSocket {
    /// Binds `path` with mode 0600 (root only). Refuses when another daemon
    /// answers there; removes a stale file left by a killed one.
    pub fn bind(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!(
                    "another xdpstack already serves this interface (control socket {} answers)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing stale {}", path.display()))?;
        }
        // Create it with no access for others, then set the exact mode: the
        // socket lets its user change the ARP cache.
        let old = unsafe { libc::umask(0o177) };
        let bound = UnixListener::bind(path);
        unsafe { libc::umask(old) };
        let listener = bound.with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
            capture: None,
        })
    }

    /// Serves `capture` requests from `hub`.
    pub fn with_capture(mut self, hub: Arc<Hub>) -> Self {
        self.capture = Some(hub);
        self
    }

    /// Serves connections until the task is dropped. Each request is passed
    /// to `handle`; a bad request gets an error response and the daemon
    /// goes on.
    pub async fn serve<H, F>(&self, handle: Arc<H>)
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Response> + Send + 'static,
    {
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let handle = handle.clone();
                    let hub = self.capture.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_connection(stream, handle, hub).await {
                            log::debug!("control connection: {e:#}");
                        }
                    });
                }
                Err(e) => {
                    log::warn!("control socket accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve_connection<H, F>(
    stream: UnixStream,
    handle: Arc<H>,
    hub: Option<Arc<Hub>>,
) -> Result<()>
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let (read, mut write) = stream.into_split();
    // One byte more than allowed, to tell "exactly the limit" from "over".
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64 + 1));
    loop {
        let mut line = String::new();
        let n = match reader.read_line(&mut line).await {
            Ok(n) => n,
            Err(e) => {
                send(
                    &mut write,
                    &Response::error(format!("unreadable request: {e}")),
                )
                .await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        if n > MAX_REQUEST || !line.ends_with('\n') && reader.get_ref().limit() == 0 {
            send(
                &mut write,
                &Response::error(format!("request longer than {MAX_REQUEST} bytes")),
            )
            .await?;
            return Ok(());
        }
        // The byte budget is per connection: refill it for the next request.
        reader.get_mut().set_limit(MAX_REQUEST as u64 + 1);
        let response = match parse_request(&line) {
            Ok(Request::Capture { snaplen, filter }) => match &hub {
                Some(hub) => {
                    let sub = hub.subscribe(filter, snaplen);
                    let reply = CaptureReply {
                        snaplen: snaplen.clamp(1, capture::MAX_SNAPLEN),
                        clients: hub.clients(),
                    };
                    send(&mut write, &Response::ok(reply)).await?;
                    return stream_capture(sub, reader, write).await;
                }
                None => Response::error("this daemon does not capture"),
            },
            Ok(req) => handle(req).await,
            Err(e) => Response::error(e),
        };
        send(&mut write, &response).await?;
    }
}

/// How often frames a client lost are reported when no frame carries the
/// count sooner.
const LOST_REPORT: std::time::Duration = std::time::Duration::from_millis(200);

/// Streams captured frames to one client until it closes the connection
/// (or dies: the socket closes then too). Dropping `sub` unsubscribes; the
/// last client leaving turns the in-kernel copy off.
async fn stream_capture<R>(
    mut sub: capture::Subscription,
    mut reader: R,
    mut write: tokio::net::unix::OwnedWriteHalf,
) -> Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
{
    let mut tick = tokio::time::interval(LOST_REPORT);
    let mut buf = Vec::new();
    let mut scratch = [0u8; 64];
    loop {
        buf.clear();
        tokio::select! {
            rec = sub.rx.recv() => {
                let Some(rec) = rec else { return Ok(()) };
                let lost = sub.take_lost();
                if lost > 0 {
                    capture::stream::encode_lost(lost, &mut buf);
                }
                capture::stream::encode_frame(&rec, &mut buf);
                // Whatever else is queued goes in the same write.
                while buf.len() < 64 * 1024 {
                    match sub.rx.try_recv() {
                        Ok(rec) => capture::stream::encode_frame(&rec, &mut buf),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => {
                let lost = sub.take_lost();
                if lost == 0 {
                    continue;
                }
                capture::stream::encode_lost(lost, &mut buf);
            }
            n = reader.read(&mut scratch) => {
                // The client sends nothing more: any read that returns means
                // it closed (0), broke the connection, or misbehaves.
                match n {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(_) => continue,
                }
            }
        }
        write.write_all(&buf).await?;
    }
}

async fn send(write: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> Result<()> {
    let mut bytes = serde_json::to_vec(r)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    Ok(())
}
