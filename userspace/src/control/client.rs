//! The CLI's side of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;

use super::protocol::{Request, Response};
use super::socket_path;

/// A connection to one daemon.
pub struct Client {
    stream: BufReader<UnixStream>,
    pub iface: String,
}

impl Client {
    /// Connects to the daemon of `iface`, or to the only running daemon
    /// when `iface` is `None`.
    pub fn connect(dir: &Path, iface: Option<&str>) -> Result<Client> {
        let (path, iface) = match iface {
            Some(i) => (socket_path(dir, i), i.to_string()),
            None => find_only_daemon(dir)?,
        };
        let stream = UnixStream::connect(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                anyhow!("no xdpstack daemon runs on {iface} (start one with `xdpstack run --iface {iface} --ip A.B.C.D/N`)")
            }
            std::io::ErrorKind::PermissionDenied => {
                anyhow!("permission denied on {}: the control socket is root only", path.display())
            }
            _ => anyhow!("connecting to {}: {e}", path.display()),
        })?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            stream: BufReader::new(stream),
            iface,
        })
    }

    /// Sends a request that turns the connection into a stream (`capture`):
    /// its answer, and the connection to read the stream from (bytes already
    /// buffered included). Reads time out after `poll`, so the caller can
    /// check for Ctrl-C between them.
    pub fn into_stream<T: DeserializeOwned>(
        mut self,
        req: &Request,
        poll: Duration,
    ) -> Result<(T, BufReader<UnixStream>)> {
        let reply = self.call(req)?;
        self.stream.get_ref().set_read_timeout(Some(poll))?;
        Ok((reply, self.stream))
    }

    /// Sends one request and returns its reply, as the type `req` answers
    /// with (`()` for requests that answer with none).
    pub fn call<T: DeserializeOwned>(&mut self, req: &Request) -> Result<T> {
        let mut line = serde_json::to_vec(req)?;
        line.push(b'\n');
        self.stream
            .get_mut()
            .write_all(&line)
            .context("sending the request")?;
        let mut answer = String::new();
        self.stream
            .read_line(&mut answer)
            .context("reading the response")?;
        if answer.is_empty() {
            bail!("the daemon closed the connection");
        }
        let r: Response = serde_json::from_str(&answer).context("malformed response")?;
        r.into_reply().map_err(|e| anyhow!(e))
    }
}

/// The control sockets in `dir` that a daemon answers on, with their
/// interfaces, sorted by interface.
pub fn running_daemons(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "sock") && UnixStream::connect(&p).is_ok() {
                let iface = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                found.push((p, iface));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

fn find_only_daemon(dir: &Path) -> Result<(PathBuf, String)> {
    let mut found = running_daemons(dir);
    match found.len() {
        0 => bail!("no xdpstack daemon is running (start one with `xdpstack run --iface IF --ip A.B.C.D/N`)"),
        1 => Ok(found.remove(0)),
        _ => {
            let names: Vec<_> = found.iter().map(|(_, i)| i.as_str()).collect();
            bail!("several daemons run ({}): choose one with --iface", names.join(", "))
        }
    }
}
