//! Log lines: one line per event, in one of two formats chosen with
//! `--log-format`:
//! - `text` (default): `[2026-12-02T07:34:42Z INFO ] message`, env_logger's
//!   usual shape (which `cargo xtask lab trace` reads back);
//! - `json`: one JSON object per line, `{"ts","level","target","msg"}`, for
//!   log shippers (journald's, Vector, Promtail, Fluent Bit).
//!
//! A message that contains a line break would look like two events to a
//! line-based reader, so text lines escape it (`\n`) and JSON escapes it as
//! JSON does. `RUST_LOG` still sets the level (default `info`).

use std::io::Write;

use clap::ValueEnum;
use serde::Serialize;

/// `--log-format text|json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `[TIME LEVEL] message`, one line per event.
    #[default]
    Text,
    /// JSON lines with ts, level, target, msg.
    Json,
}

/// Installs the process's logger; call once, before anything logs.
pub fn init(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    match format {
        LogFormat::Text => builder.format(|buf, record| {
            // Only the level is coloured (on a terminal), as env_logger does;
            // padded before the colour codes go around it.
            let style = buf.default_level_style(record.level());
            let level = format!("{style}{}{style:#}", level_field(record.level()));
            let line = text_line(
                &buf.timestamp_seconds().to_string(),
                &level,
                &record.args().to_string(),
            );
            writeln!(buf, "{line}")
        }),
        LogFormat::Json => builder.format(|buf, record| {
            let line = json_line(
                &buf.timestamp_millis().to_string(),
                record.level(),
                record.target(),
                &record.args().to_string(),
            );
            writeln!(buf, "{line}")
        }),
    };
    builder.init();
}

/// `[ts LEVEL] msg`, line breaks in `msg` escaped; `level` comes from
/// [`level_field`] (possibly with colour codes around it).
pub fn text_line(ts: &str, level: &str, msg: &str) -> String {
    format!("[{ts} {level}] {}", one_line(msg))
}

/// The level padded to five characters, so messages line up.
pub fn level_field(level: log::Level) -> String {
    format!("{:<5}", level.as_str())
}

/// One JSON object, no line break inside (serde_json escapes them).
pub fn json_line(ts: &str, level: log::Level, target: &str, msg: &str) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        ts: &'a str,
        level: &'a str,
        target: &'a str,
        msg: &'a str,
    }
    let line = Line {
        ts,
        level: level.as_str(),
        target,
        msg,
    };
    // Serializing four strings cannot fail; should it, say so in the line.
    serde_json::to_string(&line)
        .unwrap_or_else(|e| format!("{{\"level\":\"ERROR\",\"msg\":\"log line: {e}\"}}"))
}

/// Escapes what would break a line: `\` first, then CR and LF.
fn one_line(msg: &str) -> std::borrow::Cow<'_, str> {
    if !msg.contains(['\n', '\r']) {
        return msg.into();
    }
    msg.replace('\\', "\\\\")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    #[test]
    fn text_is_env_loggers_shape() {
        assert_eq!(
            text_line(
                "2026-12-02T07:34:42Z",
                &level_field(Level::Info),
                "XDP native mode"
            ),
            "[2026-12-02T07:34:42Z INFO ] XDP native mode"
        );
        assert_eq!(
            text_line("t", &level_field(Level::Error), "x"),
            "[t ERROR] x",
            "five-letter levels fill the field"
        );
    }

    #[test]
    fn a_multi_line_message_stays_one_line() {
        let line = text_line("t", &level_field(Level::Warn), "first\nsecond\r\nthird \\n");
        assert_eq!(line.lines().count(), 1);
        assert_eq!(line, "[t WARN ] first\\nsecond\\r\\nthird \\\\n");
        // Without a line break nothing is escaped (paths keep their `\`).
        assert_eq!(
            text_line("t", &level_field(Level::Info), "a\\b"),
            "[t INFO ] a\\b"
        );
    }

    #[test]
    fn json_lines_parse_back() {
        let line = json_line(
            "2026-12-02T07:34:42.123Z",
            Level::Debug,
            "xdpstack::daemon",
            "quote \" and\nbreak",
        );
        assert_eq!(line.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["ts"], "2026-12-02T07:34:42.123Z");
        assert_eq!(v["level"], "DEBUG");
        assert_eq!(v["target"], "xdpstack::daemon");
        assert_eq!(v["msg"], "quote \" and\nbreak");
        assert_eq!(v.as_object().map(|o| o.len()), Some(4));
    }
}
