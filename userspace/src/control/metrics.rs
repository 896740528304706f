//! The `--metrics ADDR:PORT` endpoint: a host TCP socket (bound by the
//! daemon before it drops its capabilities) answering `GET /metrics` with
//! the Prometheus exposition. One small thread accepts; each client gets a
//! thread of its own with read and write deadlines, at most
//! [`MAX_CLIENTS`] at once, so a slow or malformed client costs one thread
//! for a few seconds and never the others.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};

use crate::present::metrics::CONTENT_TYPE;
use crate::services::http_parse::{self, Parsed, MAX_HEAD};

/// Clients served at the same time; more are answered 503 and closed.
pub const MAX_CLIENTS: usize = 8;
/// How long a client may take to send its request head, and to take the
/// response.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(5);

/// Renders the exposition; None once the daemon is going away.
pub type Render = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Serves `listener` on a thread of its own until the process ends.
pub fn spawn(listener: TcpListener, render: Render) -> Result<()> {
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                    busy.fetch_sub(1, Ordering::SeqCst);
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                    let _ = (&stream).write_all(&reply(503, "text/plain", b"busy\n", false));
                    continue;
                }
                let (busy, render) = (busy.clone(), render.clone());
                let spawned = std::thread::Builder::new()
                    .name("metrics-client".into())
                    .spawn(move || {
                        serve(stream, &*render);
                        busy.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    // The closure (and its count) never ran.
                    log::warn!("metrics: could not start a client thread");
                }
            }
        })
        .map_err(|e| anyhow!("starting the metrics thread: {e}"))?;
    Ok(())
}

/// Answers one request and closes.
fn serve(mut stream: TcpStream, render: &dyn Fn() -> Option<String>) {
    let _ = stream.set_read_timeout(Some(CLIENT_DEADLINE));
    let _ = stream.set_write_timeout(Some(CLIENT_DEADLINE));
    let response = match read_head(&mut stream) {
        Some(head) => answer(&head, render),
        // Closed, or too slow: nothing to answer.
        None => return,
    };
    let _ = stream.write_all(&response);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Reads until a whole head, an error the parser names, or the limit.
fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let deadline = std::time::Instant::now() + CLIENT_DEADLINE;
    loop {
        if !matches!(http_parse::parse(&buf), Parsed::Incomplete) {
            return Some(buf);
        }
        // A client trickling one byte at a time still meets one deadline.
        if std::time::Instant::now() >= deadline {
            return None;
        }
        // At most one byte past the limit: enough for the parser to refuse it.
        let want = (MAX_HEAD + 1)
            .saturating_sub(buf.len())
            .clamp(1, chunk.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The whole response to a request head.
pub fn answer(head: &[u8], render: &dyn Fn() -> Option<String>) -> Vec<u8> {
    let req = match http_parse::parse(head) {
        Parsed::Request { req, .. } => req,
        Parsed::Error(status) => return reply(status, "text/plain", b"bad request\n", false),
        Parsed::Incomplete => return reply(400, "text/plain", b"bad request\n", false),
    };
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        // RFC 9110 15.5.6: 405 names the allowed methods.
        return reply_with(
            405,
            "text/plain",
            b"only GET and HEAD\n",
            false,
            &[("Allow", "GET, HEAD")],
        );
    }
    if req.path != "/metrics" {
        return reply(404, "text/plain", b"see /metrics\n", head_only);
    }
    match render() {
        Some(text) => reply(200, CONTENT_TYPE, text.as_bytes(), head_only),
        None => reply(503, "text/plain", b"shutting down\n", head_only),
    }
}

fn reply(status: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    reply_with(status, content_type, body, head_only, &[])
}

fn reply_with(
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    http_parse::response(
        status,
        &http_parse::http_date(secs),
        content_type,
        body,
        head_only,
        false,
        extra,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: &[u8]) -> &str {
        std::str::from_utf8(&r[9..12]).unwrap()
    }

    #[test]
    fn get_metrics_only() {
        let render = || Some("# EOF\n".to_string());
        let ok = answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &render);
        assert_eq!(status(&ok), "200");
        let text = String::from_utf8(ok).unwrap();
        assert!(text.contains("Content-Type: application/openmetrics-text"));
        assert!(text.ends_with("\r\n\r\n# EOF\n"));
        let head = answer(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &render);
        assert!(String::from_utf8(head).unwrap().ends_with("\r\n\r\n"));
        let post = answer(
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            &render,
        );
        assert_eq!(status(&post), "405");
        assert!(String::from_utf8(post)
            .unwrap()
            .contains("Allow: GET, HEAD"));
        assert_eq!(
            status(&answer(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &render)),
            "404"
        );
        assert_eq!(status(&answer(b"\x00\x01garbage\r\n\r\n", &render)), "400");
        assert_eq!(
            status(&answer(
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                &|| None
            )),
            "503"
        );
    }

    #[test]
    fn a_silent_client_does_not_stop_the_next() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        spawn(listener, Arc::new(|| Some("# EOF\n".to_string()))).unwrap();
        // Connects and says nothing.
        let _silent = TcpStream::connect(addr).unwrap();
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    }
}
