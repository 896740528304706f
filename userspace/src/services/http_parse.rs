//! The HTTP/1.1 message syntax the status page needs (RFC 9110, RFC 9112):
//! request heads parsed strictly (the syntax by `httparse`, the rules of
//! Host, lengths and persistence here) and bounded, responses written out.
//! No sockets here, so every rule is unit tested.

/// The most bytes of request line plus headers (Linux's and nginx's
/// defaults are around 8 KiB too).
pub const MAX_HEAD: usize = 8192;
/// The most bytes of request body read (and discarded) to keep the
/// connection in sync; larger bodies get 413 and a close.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, without query (origin-form, or taken from absolute-form).
    pub path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Whether the connection stays open after the response (RFC 9112 9.3).
    pub keep_alive: bool,
    /// Body bytes that follow the head (Content-Length).
    pub body_len: usize,
}

/// What the bytes received so far hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole head yet.
    Incomplete,
    /// A request whose head took `head_len` bytes.
    Request { req: Request, head_len: usize },
    /// An error to answer with this status, then close the connection
    /// (the framing of what follows cannot be trusted).
    Error(u16),
}

/// Headers read per request; more is answered 431 like an oversized head.
const MAX_HEADERS: usize = 64;

/// Parses one request head from the start of `buf`: the syntax by
/// `httparse` (RFC 9112 request line and fields: tokens, no whitespace
/// before the colon, no obsolete folding, leading empty lines skipped),
/// then the rules the status page adds (RFC 9112 3.2 Host, 6.3 lengths,
/// 9.3 persistence, the size limits).
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > MAX_HEAD {
                Parsed::Error(431)
            } else {
                Parsed::Incomplete
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Parsed::Error(431),
        Err(httparse::Error::Version) => return Parsed::Error(version_error(buf)),
        Err(_) => return Parsed::Error(400),
    };
    if head_len > MAX_HEAD {
        return Parsed::Error(431);
    }
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Parsed::Error(400);
    };
    let minor = version;
    let Some(path) = path_of(target) else {
        return Parsed::Error(400);
    };

    let mut hosts = 0;
    let mut content_length: Option<usize> = None;
    let mut close = false;
    let mut keep_alive_token = false;
    for h in parsed.headers.iter() {
        // httparse lets obs-text through in values; the page reads UTF-8 only.
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Parsed::Error(400);
        };
        let value = value.trim_matches([' ', '\t']);
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 6.3: an invalid or conflicting length is an error.
            let Some(n) = parse_length(value) else {
                return Parsed::Error(400);
            };
            if content_length.is_some_and(|c| c != n) {
                return Parsed::Error(400);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // We do not decode request bodies in chunks: RFC 9112 6.1 lets
            // a server answer 501 to a coding it does not implement.
            return Parsed::Error(501);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(|t| t.trim_matches([' ', '\t'])) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive_token |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host is 400.
    if minor == 1 && hosts != 1 || hosts > 1 {
        return Parsed::Error(400);
    }
    let body_len = content_length.unwrap_or(0);
    if body_len > MAX_BODY {
        return Parsed::Error(413);
    }
    // RFC 9112 9.3: 1.1 stays open unless "close"; 1.0 only with keep-alive.
    let keep_alive = !close && (minor == 1 || keep_alive_token);
    Parsed::Request {
        req: Request {
            method: method.to_string(),
            path,
            minor,
            keep_alive,
            body_len,
        },
        head_len,
    }
}

/// httparse knows HTTP/1.0 and 1.1 only: a well-formed other version
/// (`HTTP/2.0`) is 505 (RFC 9110 15.6.6), anything else a bad request.
fn version_error(buf: &[u8]) -> u16 {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    let well_formed = version.len() == 8
        && version.starts_with(b"HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit();
    if well_formed && line.split(|&b| b == b' ').count() == 3 {
        505
    } else {
        400
    }
}

fn parse_length(v: &str) -> Option<usize> {
    if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// The path of an origin-form (`/x?q`) or absolute-form
/// (`http://host/x`) target (RFC 9112 3.2); `*` and others are refused.
fn path_of(target: &str) -> Option<String> {
    let rest = if target.starts_with('/') {
        target
    } else {
        let lower = target.get(..7)?.to_ascii_lowercase();
        if lower != "http://" {
            return None;
        }
        let after = &target[7..];
        match after.find('/') {
            Some(i) => &after[i..],
            None => "/",
        }
    };
    if rest.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let path = rest.split(['?', '#']).next().unwrap_or("/");
    Some(path.to_string())
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// A whole response: status line, headers, and the body unless `head_only`
/// (HEAD gets the same headers as GET, RFC 9110 9.3.2).
pub fn response(
    status: u16,
    date: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
    keep_alive: bool,
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nDate: {date}\r\nServer: xdpstack\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in extra_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// An IMF-fixdate (RFC 9110 5.6.7) for seconds since the Unix epoch, like
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar,
    // counted in 400-year eras that start on March 1st).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    crate::present::html::Escaped(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Request {
        match parse(s.as_bytes()) {
            Parsed::Request { req, head_len } => {
                assert_eq!(head_len, s.len());
                req
            }
            other => panic!("{s:?}: {other:?}"),
        }
    }

    fn status(s: &str) -> u16 {
        match parse(s.as_bytes()) {
            Parsed::Error(code) => code,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn curl_request() {
        let r = req(
            "GET / HTTP/1.1\r\nHost: 10.10.0.4\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
        );
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.minor),
            ("GET", "/", 1)
        );
        assert!(r.keep_alive);
        assert_eq!(r.body_len, 0);
    }

    #[test]
    fn connection_persistence_follows_rfc_9112_9_3() {
        assert!(!req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!req("GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, Close\r\n\r\n").keep_alive);
        assert!(!req("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn targets() {
        assert_eq!(req("HEAD /x?y=1 HTTP/1.0\n\n").path, "/x");
        assert_eq!(req("GET http://10.10.0.4/ HTTP/1.0\r\n\r\n").path, "/");
        assert_eq!(req("GET http://10.10.0.4 HTTP/1.0\r\n\r\n").path, "/");
        assert_eq!(status("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn incomplete_until_the_empty_line() {
        let full = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for n in 0..full.len() {
            assert_eq!(parse(&full.as_bytes()[..n]), Parsed::Incomplete, "{n}");
        }
        // Pipelined: the first head only.
        let two = format!("{full}{full}");
        assert!(
            matches!(parse(two.as_bytes()), Parsed::Request { head_len, .. } if head_len == full.len())
        );
    }

    #[test]
    fn malformed_requests_are_400() {
        for bad in [
            "GET /\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n",
            "GET / http/1.1\r\nHost: a\r\n\r\n",
            "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
            "\u{1}\r\n\r\n",
        ] {
            assert_eq!(status(bad), 400, "{bad:?}");
        }
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n"),
            Parsed::Error(400)
        );
    }

    #[test]
    fn other_errors() {
        assert_eq!(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n"),
            413
        );
        // Over the head limit, with or without an end.
        let long = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n",
            "a".repeat(MAX_HEAD)
        );
        assert_eq!(status(&long), 431);
        assert_eq!(status(&format!("{long}\r\n")), 431);
        // Body length is reported so the caller can skip it.
        assert_eq!(
            req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n").body_len,
            5
        );
    }

    #[test]
    fn too_many_fields_and_other_versions() {
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            431
        );
        assert_eq!(status("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET HTTP/2.0\r\n\r\n"), 400);
        // Empty lines before the request line are skipped (RFC 9112 2.2).
        assert_eq!(req("\r\nGET / HTTP/1.0\r\n\r\n").path, "/");
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u32 = 0x1234_5678;
        for len in 0..2000usize {
            let buf: Vec<u8> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    // Mostly printable, with CR/LF and spaces often.
                    match x % 8 {
                        0 => b'\n',
                        1 => b'\r',
                        2 => b' ',
                        3 => b':',
                        _ => b"GET/HTP1.0ostaxy"[(x as usize + i) % 16],
                    }
                })
                .collect();
            let _ = parse(&buf);
        }
    }

    #[test]
    fn responses_and_dates() {
        let r = response(200, "D", "text/plain", b"hi", false, true, &[]);
        let s = String::from_utf8(r).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\nDate: D\r\n"));
        assert!(s.contains("Content-Length: 2\r\n"));
        assert!(s.ends_with("Connection: keep-alive\r\n\r\nhi"));
        let h = response(
            405,
            "D",
            "text/plain",
            b"no",
            true,
            false,
            &[("Allow", "GET, HEAD")],
        );
        let h = String::from_utf8(h).unwrap();
        assert!(h.contains("Content-Length: 2\r\nCache-Control: no-store\r\nAllow: GET, HEAD\r\n"));
        assert!(h.ends_with("Connection: close\r\n\r\n"));
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(html_escape("<a&\">"), "&lt;a&amp;&quot;&gt;");
    }
}
