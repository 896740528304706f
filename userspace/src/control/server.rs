//! The daemon's side of the control socket.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::protocol::{parse_request, Request, Response};
use super::MAX_REQUEST;

/// A bound control socket; the file is removed when this is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
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
        })
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
                    tokio::spawn(async move {
                        if let Err(e) = serve_connection(stream, handle).await {
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

async fn serve_connection<H, F>(stream: UnixStream, handle: Arc<H>) -> Result<()>
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
            Ok(req) => handle(req).await,
            Err(e) => Response::error(e),
        };
        send(&mut write, &response).await?;
    }
}

async fn send(write: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> Result<()> {
    let mut bytes = serde_json::to_vec(r)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    Ok(())
}
