//! An HTTP/1.1 responder on TCP port 80 that serves one status page: our
//! address, uptime, the ARP cache, TCP connections and every counter
//! (rendered by `present::html`, bounded whatever the load).
//! GET and HEAD on `/` and `/metrics` (the Prometheus exposition of
//! `present::metrics`); 404 for other paths, 405 for other methods, 400 and
//! friends for malformed requests (then the connection is closed, since its
//! framing is lost). Persistent connections per RFC 9112 9.3, requests
//! handled one at a time: the next request is not read until the previous
//! response is handed to TCP whole, so pipelined requests cannot make us
//! buffer without bound.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::http_parse::{self, Parsed, MAX_HEAD};
use super::tcp_conns::{accept_new, Finished};
use super::{MetricsSource, ServicesStats};
use crate::present::{html, metrics};
use crate::stack::tcp::{ConnId, KeepAlive, TcpError};
use crate::stack::time::Instant;
use crate::stack::Stack;

pub const PORT: u16 = 80;
/// A persistent connection with no request for this long is closed
/// (RFC 9112 9.8 lets a server close idle connections).
const IDLE: Duration = Duration::from_secs(30);
/// TCP keep-alive on every accepted connection, so a client that vanished
/// (no FIN, no RST) is found and reaped even when its connection is past
/// IDLE and only TCP still holds it.
const KEEPALIVE: KeepAlive = KeepAlive {
    idle: Duration::from_secs(60),
    interval: Duration::from_secs(10),
    count: 5,
};

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct HttpCounters {
    pub connections: u64,
    pub requests: u64,
    /// Responses by class.
    pub responses_2xx: u64,
    pub responses_4xx: u64,
    pub responses_5xx: u64,
    pub idle_closed: u64,
    pub refused: u64,
    pub open: u64,
}

struct Conn {
    id: ConnId,
    /// Bytes of the next request head received so far (at most MAX_HEAD+1).
    inbuf: Vec<u8>,
    /// Request body bytes still to skip.
    skip_body: usize,
    /// The response being sent, and how much of it TCP has taken.
    out: Vec<u8>,
    out_pos: usize,
    /// Close once `out` is sent.
    close_after: bool,
    closed: bool,
    last_active: Instant,
}

pub struct Http {
    conns: Vec<Conn>,
    scratch: Vec<u8>,
    /// The page being rendered, kept between requests for its capacity.
    page: String,
    counters: HttpCounters,
    metrics: Option<MetricsSource>,
}

impl Http {
    pub fn start(stack: &mut Stack) -> Result<Http, String> {
        stack
            .tcp()
            .listen(PORT)
            .map_err(|e| format!("http on TCP port {PORT}: {e:?}"))?;
        Ok(Http {
            conns: Vec::new(),
            scratch: vec![0; 16 * 1024],
            page: String::new(),
            counters: HttpCounters::default(),
            metrics: None,
        })
    }

    pub fn counters(&self) -> &HttpCounters {
        &self.counters
    }

    pub fn set_metrics(&mut self, source: MetricsSource) {
        self.metrics = Some(source);
    }

    /// Serves what it can; `wall` dates the responses (RFC 9110 6.6.1);
    /// `others` gives the other services' counters for `/metrics`.
    pub fn poll(
        &mut self,
        now: Instant,
        wall: SystemTime,
        stack: &mut Stack,
        others: &dyn Fn() -> ServicesStats,
    ) {
        let env = Env { now, wall };
        let c = &mut self.counters;
        for id in accept_new(now, stack, PORT, self.conns.len(), &mut c.refused) {
            c.connections += 1;
            // Cannot fail: the connection was just accepted.
            let _ = stack.tcp().set_keepalive(id, Some(KEEPALIVE));
            // As nginx's tcp_nodelay: a keep-alive response's short tail
            // must not wait for the client's delayed ACK of the previous
            // one (Nagle's 40 ms stall).
            let _ = stack.tcp().set_nodelay(id, true);
            self.conns.push(Conn {
                id,
                inbuf: Vec::new(),
                skip_body: 0,
                out: Vec::new(),
                out_pos: 0,
                close_after: false,
                closed: false,
                last_active: now,
            });
        }
        let bufs = &mut Buffers {
            scratch: &mut self.scratch,
            page: &mut self.page,
        };
        let counters = &mut self.counters;
        let source = MetricsCtx {
            source: self.metrics.as_ref(),
            others,
        };
        self.conns
            .retain_mut(|conn| !serve(&env, stack, conn, bufs, counters, &source).is_done());
        self.counters.open = self.conns.len() as u64;
    }
}

impl Http {
    /// The earliest idle deadline of a connection waiting for a request
    /// (the ones still sending or closing have none).
    pub fn poll_at(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter(|c| !c.closed && c.out.is_empty())
            .map(|c| c.last_active + IDLE)
            .min()
    }
}

/// Sends what TCP takes of the pending response; closes when asked to.
/// Err: the connection is gone.
fn flush(now: Instant, stack: &mut Stack, conn: &mut Conn) -> Result<(), ()> {
    let tcp = stack.tcp();
    while conn.out_pos < conn.out.len() {
        match tcp.send(now, conn.id, &conn.out[conn.out_pos..]) {
            Ok(0) => return Ok(()),
            Ok(n) => conn.out_pos += n,
            Err(_) => return Err(()),
        }
    }
    conn.out.clear();
    conn.out_pos = 0;
    if conn.close_after && !conn.closed {
        // Lingering close (RFC 9112 9.6): drop what the client has already
        // sent, so that the close is a FIN after the response. Closing with
        // unread data is a reset (RFC 1122 4.2.2.13), which could destroy
        // the response in the client's kernel before the client reads it.
        let mut sink = [0u8; 1024];
        while let Ok(n) = tcp.recv(now, conn.id, &mut sink) {
            if n == 0 {
                break;
            }
        }
        conn.closed = true;
        tcp.close(now, conn.id).map_err(|_| ())?;
    }
    Ok(())
}

/// What one poll's requests share: the stack's time, and the time of day
/// their `Date` header says.
struct Env {
    now: Instant,
    wall: SystemTime,
}

impl Env {
    /// An IMF-fixdate (RFC 9110 5.6.7) of `wall`; before 1970: the epoch.
    fn date(&self) -> String {
        let secs = self
            .wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        http_parse::http_date(secs)
    }
}

/// What `/metrics` is rendered from.
struct MetricsCtx<'a> {
    source: Option<&'a MetricsSource>,
    others: &'a dyn Fn() -> ServicesStats,
}

/// The stack and services part of a stats reply, for `/metrics` when the
/// daemon gave no source.
#[derive(Serialize)]
struct Partial {
    stack: crate::stack::StackStats,
    services: ServicesStats,
}

/// Buffers reused from request to request.
struct Buffers<'a> {
    scratch: &'a mut [u8],
    page: &'a mut String,
}

fn serve(
    env: &Env,
    stack: &mut Stack,
    conn: &mut Conn,
    bufs: &mut Buffers,
    counters: &mut HttpCounters,
    source: &MetricsCtx,
) -> Finished {
    let now = env.now;
    let scratch = &mut *bufs.scratch;
    if flush(now, stack, conn).is_err() {
        return Finished::release(now, stack.tcp(), conn.id);
    }
    if conn.closed {
        return Finished::when_closed(now, stack.tcp(), conn.id, true);
    }
    if !conn.out.is_empty() {
        // Backpressure: no new request until this response is in TCP.
        return Finished::when_closed(now, stack.tcp(), conn.id, false);
    }
    let mut peer_done = false;
    // Read at most one byte past the head limit, so an oversized head is
    // recognised without buffering more.
    loop {
        let want = if conn.skip_body > 0 {
            conn.skip_body.min(scratch.len())
        } else {
            (MAX_HEAD + 1)
                .saturating_sub(conn.inbuf.len())
                .min(scratch.len())
        };
        if want == 0 {
            break;
        }
        match stack.tcp().recv(now, conn.id, &mut scratch[..want]) {
            Ok(0) => break,
            Ok(n) => {
                conn.last_active = now;
                if conn.skip_body > 0 {
                    conn.skip_body -= n;
                } else {
                    conn.inbuf.extend_from_slice(&scratch[..n]);
                    if parse_ready(&conn.inbuf) {
                        break;
                    }
                }
            }
            Err(TcpError::Eof) => {
                peer_done = true;
                break;
            }
            Err(_) => return Finished::release(now, stack.tcp(), conn.id),
        }
    }
    if conn.skip_body == 0 && !conn.inbuf.is_empty() {
        match http_parse::parse(&conn.inbuf) {
            Parsed::Incomplete => {}
            Parsed::Request { req, head_len } => {
                counters.requests += 1;
                conn.inbuf.drain(..head_len);
                // Body bytes already buffered count against the body.
                let buffered = conn.inbuf.len().min(req.body_len);
                conn.inbuf.drain(..buffered);
                conn.skip_body = req.body_len - buffered;
                let (status, response) = respond(env, stack, &req, bufs.page, counters, source);
                count(counters, status);
                conn.out = response;
                // A FIN after this request (and nothing after it): answer, then close.
                conn.close_after = !req.keep_alive || peer_done && conn.inbuf.is_empty();
            }
            Parsed::Error(status) => {
                counters.requests += 1;
                count(counters, status);
                let body = page(status, "Your request could not be read; see RFC 9112.");
                conn.out = http_parse::response(
                    status,
                    &env.date(),
                    "text/html; charset=utf-8",
                    body.as_bytes(),
                    false,
                    false,
                    &[],
                );
                conn.inbuf.clear();
                conn.close_after = true;
            }
        }
    }
    if conn.out.is_empty() {
        if peer_done {
            // The peer closed with no (whole) request pending: close too.
            conn.close_after = true;
        } else if now.since(conn.last_active) >= IDLE {
            counters.idle_closed += 1;
            conn.close_after = true;
        }
    }
    if flush(now, stack, conn).is_err() {
        return Finished::release(now, stack.tcp(), conn.id);
    }
    Finished::when_closed(now, stack.tcp(), conn.id, conn.closed)
}

/// A whole head is buffered (or the limit reached): stop reading.
fn parse_ready(inbuf: &[u8]) -> bool {
    !matches!(http_parse::parse(inbuf), Parsed::Incomplete)
}

fn count(c: &mut HttpCounters, status: u16) {
    match status {
        200..=299 => c.responses_2xx += 1,
        400..=499 => c.responses_4xx += 1,
        _ => c.responses_5xx += 1,
    }
}

/// The status and whole response for a well-formed request; `page` is
/// where the status page is rendered.
fn respond(
    env: &Env,
    stack: &Stack,
    req: &http_parse::Request,
    page_buf: &mut String,
    counters: &HttpCounters,
    source: &MetricsCtx,
) -> (u16, Vec<u8>) {
    let head_only = req.method == "HEAD";
    let mut html = "text/html; charset=utf-8";
    let error_body;
    let (status, body, extra): (u16, &str, &[(&str, &str)]) = if req.method != "GET" && !head_only {
        // RFC 9110 15.5.6: 405 names the allowed methods.
        error_body = page(405, "This server only answers GET and HEAD.");
        (405, &error_body, &[("Allow", "GET, HEAD")])
    } else if req.path == "/metrics" {
        let mut services = (source.others)();
        services.http = Some(counters.clone());
        *page_buf = match source.source {
            Some(render) => render(stack, &services),
            None => metrics::render(
                &Partial {
                    stack: stack.stats(),
                    services,
                },
                &metrics::Extra::default(),
            ),
        };
        html = metrics::CONTENT_TYPE;
        (200, page_buf.as_str(), &[])
    } else if req.path != "/" {
        error_body = page(404, "Only / and /metrics are served here.");
        (404, &error_body, &[])
    } else {
        page_buf.clear();
        html::status_page(page_buf, env.now, stack);
        (200, page_buf.as_str(), &[])
    };
    let response = http_parse::response(
        status,
        &env.date(),
        html,
        body.as_bytes(),
        head_only,
        req.keep_alive,
        extra,
    );
    (status, response)
}

fn page(status: u16, text: &str) -> String {
    html::error_page(status, http_parse::reason(status), text)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::services::{ServiceName, Services};
    use crate::stack::test_peer::Peer;
    use crate::stack::StackConfig;
    use crate::wire::{MacAddr, TcpFlags};

    /// RFC 9110 5.6.7's example date.
    const WALL_SECS: u64 = 784_111_777;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Sends `request` on a new connection and returns what came back.
    fn exchange(request: &[u8], wall: SystemTime) -> String {
        let mut s = Stack::new(
            StackConfig {
                ip: Ipv4Addr::new(10, 10, 0, 4),
                prefix: 24,
                mac: MacAddr([2, 0, 0, 0, 0, 4]),
                gateway: None,
                ip6: Vec::new(),
                gateway6: None,
                mtu: 1500,
                arp_timeout: Duration::from_secs(60),
                arp_max: 1024,
                seed: [7; 32],
            },
            t(0),
        );
        let mut services = Services::start(&mut s, &[ServiceName::Http]).unwrap();
        let peer = Peer::new(
            &mut s,
            t(1),
            Ipv4Addr::new(10, 10, 0, 2),
            MacAddr([2, 0, 0, 0, 0, 2]),
        );
        let seqs = peer.connect(&mut s, t(1), 40_000, PORT);
        let psh = TcpFlags(TcpFlags::ACK.0 | TcpFlags::PSH.0);
        peer.send(
            &mut s,
            t(2),
            40_000,
            PORT,
            psh,
            seqs.ours,
            seqs.theirs,
            request,
        );
        services.poll(t(2), wall, &mut s);
        let mut bytes: Vec<u8> = Vec::new();
        // Acknowledge what came until nothing more does: a response longer
        // than the first window (the metrics) arrives whole.
        for _ in 0..64 {
            let sent = peer.take(&mut s, t(2));
            let Some(last) = sent.iter().rfind(|x| !x.payload.is_empty()) else {
                break;
            };
            let acked = last.seq.wrapping_add(last.payload.len() as u32);
            bytes.extend(sent.iter().flat_map(|x| x.payload.clone()));
            peer.send(
                &mut s,
                t(2),
                40_000,
                PORT,
                TcpFlags::ACK,
                seqs.ours + request.len() as u32,
                acked,
                &[],
            );
            services.poll(t(2), wall, &mut s);
        }
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn metrics_are_served_beside_the_page() {
        let wall = UNIX_EPOCH + Duration::from_secs(WALL_SECS);
        let got = exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", wall);
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.contains("Content-Type: application/openmetrics-text"));
        // This request is counted before the page is rendered.
        assert!(
            got.contains("\nxdpstack_services_http_requests_total 1\n"),
            "{got}"
        );
        assert!(
            got.contains("\nxdpstack_tcp_passive_opens_total 1\n"),
            "{got}"
        );
        assert!(got.ends_with("# EOF\n"), "{got}");
        let post = exchange(
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            wall,
        );
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    }

    #[test]
    fn date_header_comes_from_the_wall_clock_passed_in() {
        let wall = UNIX_EPOCH + Duration::from_secs(WALL_SECS);
        let ok = exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", wall);
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            "{ok}"
        );
        assert!(ok.contains("<h1>xdpstack at 10.10.0.4/24</h1>"), "{ok}");
        // Error responses carry the same clock.
        let later = wall + Duration::from_secs(86_400);
        let missing = exchange(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n", later);
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{missing}"
        );
        assert!(
            missing.contains("\r\nDate: Mon, 07 Nov 1994 08:49:37 GMT\r\n"),
            "{missing}"
        );
        let bad = exchange(b"GET / HTTP/1.1\r\nno colon\r\n\r\n", wall);
        assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
        assert!(
            bad.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            "{bad}"
        );
        // A clock before 1970 is dated at the epoch rather than refused.
        let early = exchange(
            b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
            UNIX_EPOCH - Duration::from_secs(5),
        );
        assert!(
            early.contains("\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
            "{early}"
        );
    }
}
