//! Counter structs as `(dotted name, value)` pairs: `stack.tcp.retransmits`,
//! `xsk.0.kernel.rx_dropped`. The structs already derive `Serialize`, so
//! the names come from their fields and new counters show up by themselves;
//! this walks them with a serde serializer that builds no JSON, no maps and
//! (for structs) no strings beyond one reused path buffer.

use std::cmp::Ordering;
use std::fmt;

use serde::ser::{self, Serialize};

/// Calls `f(name, value)` for every integer in `value`, named by its path
/// below `prefix`: struct fields and map keys joined with dots, sequence
/// items by index. Negative numbers, floats, strings, booleans and absent
/// options are not counters and are skipped.
pub fn for_each<T: Serialize + ?Sized>(value: &T, prefix: &str, f: &mut dyn FnMut(&str, u64)) {
    let mut path = String::with_capacity(64);
    path.push_str(prefix);
    let mut w = Walker { path: &mut path, f };
    // Only our own error type can come back, and the walker never makes one.
    let _ = value.serialize(&mut w);
}

/// Every counter in `value` with its name, in the order `xdpstack stats`
/// lists them: names compared part by part, numbers (socket indexes) as
/// numbers.
pub fn flatten<T: Serialize + ?Sized>(value: &T) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for_each(value, "", &mut |name, v| out.push((name.to_string(), v)));
    out.sort_by(|a, b| compare_names(&a.0, &b.0));
    out
}

/// Dotted names part by part; parts that are both numbers compare as numbers.
pub fn compare_names(a: &str, b: &str) -> Ordering {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

struct Walker<'a, 'f> {
    path: &'a mut String,
    f: &'a mut (dyn FnMut(&str, u64) + 'f),
}

impl Walker<'_, '_> {
    /// Serializes `value` one level down, under `segment`.
    fn nested<T: Serialize + ?Sized>(
        &mut self,
        segment: fmt::Arguments,
        value: &T,
    ) -> Result<(), Never> {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        fmt::Write::write_fmt(self.path, segment).map_err(|_| Never)?;
        let r = value.serialize(&mut *self);
        self.path.truncate(len);
        r
    }

    fn number(&mut self, v: u64) -> Result<(), Never> {
        (self.f)(self.path, v);
        Ok(())
    }
}

/// The walker's error type; nothing it does fails.
#[derive(Debug)]
pub struct Never;

impl fmt::Display for Never {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("counter walk failed")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Never
    }
}

/// Sequences, tuples and their variants: items by index.
struct Items<'w, 'a, 'f> {
    w: &'w mut Walker<'a, 'f>,
    index: usize,
}

impl Items<'_, '_, '_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        let i = self.index;
        self.index += 1;
        self.w.nested(format_args!("{i}"), value)
    }
}

/// Maps: keys as names (numbers and strings; anything else is skipped).
struct Entries<'w, 'a, 'f> {
    w: &'w mut Walker<'a, 'f>,
    key: Option<String>,
}

impl<'a, 'f, 'w> ser::Serializer for &'w mut Walker<'a, 'f> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Items<'w, 'a, 'f>;
    type SerializeTuple = Items<'w, 'a, 'f>;
    type SerializeTupleStruct = Items<'w, 'a, 'f>;
    type SerializeTupleVariant = Items<'w, 'a, 'f>;
    type SerializeMap = Entries<'w, 'a, 'f>;
    type SerializeStruct = &'w mut Walker<'a, 'f>;
    type SerializeStructVariant = &'w mut Walker<'a, 'f>;

    fn serialize_bool(self, _: bool) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Never> {
        match u64::try_from(v) {
            Ok(v) => self.number(v),
            Err(_) => Ok(()),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Never> {
        self.number(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Never> {
        self.number(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Never> {
        self.number(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Never> {
        self.number(v)
    }
    fn serialize_f32(self, _: f32) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.nested(format_args!("{variant}"), value)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Never> {
        Ok(Items { w: self, index: 0 })
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Never> {
        Ok(Items { w: self, index: 0 })
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Never> {
        Ok(Items { w: self, index: 0 })
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Never> {
        Ok(Items { w: self, index: 0 })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Never> {
        Ok(Entries { w: self, key: None })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Never> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Never> {
        Ok(self)
    }
}

impl ser::SerializeSeq for Items<'_, '_, '_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.item(value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeTuple for Items<'_, '_, '_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.item(value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Items<'_, '_, '_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.item(value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Items<'_, '_, '_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.item(value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeMap for Entries<'_, '_, '_> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        // Keys are rare (the XDP counters by name) and never on the status
        // page's path: reading them through a JSON value is simple enough.
        self.key = match serde_json::to_value(key) {
            Ok(serde_json::Value::String(s)) => Some(s),
            Ok(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        match self.key.take() {
            Some(k) => self.w.nested(format_args!("{k}"), value),
            None => Ok(()),
        }
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Walker<'_, '_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.nested(format_args!("{name}"), value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Walker<'_, '_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.nested(format_args!("{name}"), value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

/// The areas of `xdpstack stats`, in the order it shows them: the XDP fast
/// path first, then the stack by protocol, the services, the AF_XDP sockets.
pub const AREAS: [&str; 12] = [
    "xdp", "link", "arp", "ipv4", "icmp", "udp", "tcp", "echo", "discard", "http", "chargen", "xsk",
];

/// The services among [`AREAS`] (`xdpstack_services_<name>_*` as metrics).
pub const SERVICE_AREAS: [&str; 4] = ["echo", "discard", "http", "chargen"];

/// One counter of a stats reply, named once: `area` (one of [`AREAS`]),
/// `name` within it (dots between levels, no repeated prefix) and, for the
/// AF_XDP sockets, the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterName {
    pub area: &'static str,
    pub name: String,
    pub queue: Option<u32>,
    /// A level (open connections, sockets, bytes held), not a count of
    /// events: a Prometheus gauge.
    pub gauge: bool,
}

impl CounterName {
    /// As `xdpstack stats` lists it: `ipv4.bad_checksum`, `xsk.0.rx_frames`.
    pub fn display(&self) -> String {
        match self.queue {
            Some(q) => format!("{}.{q}.{}", self.area, self.name),
            None => format!("{}.{}", self.area, self.name),
        }
    }

    /// Position of its area in [`AREAS`].
    pub fn area_rank(&self) -> usize {
        AREAS
            .iter()
            .position(|a| *a == self.area)
            .unwrap_or(AREAS.len())
    }
}

/// Fields that are levels rather than counts of events.
const GAUGES: [&str; 8] = [
    "arp.entries",
    "udp.sockets",
    "tcp.current_connections",
    "tcp.half_open",
    "tcp.time_wait",
    "ipv4.reassembly.bytes_in_use",
    "tcp_open",
    "open",
];

/// Names the counter at `path` (a name from [`for_each`] over a stats
/// reply: `stack.stack.ipv4_bad_checksum`, `xsk.0.kernel.rx_dropped`).
/// None for paths that are not counters of a stats reply.
pub fn classify(path: &str) -> Option<CounterName> {
    let (first, rest) = path.split_once('.')?;
    let (area, name, queue): (&'static str, String, Option<u32>) = match first {
        "xdp" => ("xdp", rest.to_string(), None),
        "xsk" => {
            let (q, field) = rest.split_once('.')?;
            ("xsk", field.to_string(), Some(q.parse().ok()?))
        }
        "services" => {
            let (svc, field) = rest.split_once('.')?;
            let area = SERVICE_AREAS.into_iter().find(|a| *a == svc)?;
            (area, field.to_string(), None)
        }
        "stack" => {
            let (part, field) = rest.split_once('.').unwrap_or((rest, ""));
            match (part, field) {
                ("stack", f) => stack_field(f)?,
                ("arp_cache", f) => ("arp", format!("cache.{f}"), None),
                ("arp_defence", f) => ("arp", format!("defence.{f}"), None),
                ("reassembly", f) => ("ipv4", format!("reassembly.{f}"), None),
                ("icmp_rate_limit", f) => ("icmp", format!("rate_limit.{f}"), None),
                ("udp", f) => ("udp", f.to_string(), None),
                ("tcp", f) => ("tcp", f.to_string(), None),
                ("arp_entries", "") => ("arp", "entries".to_string(), None),
                _ => return None,
            }
        }
        _ => return None,
    };
    if name.is_empty() {
        return None;
    }
    // `us` reads as microseconds to Prometheus's linter (and to people).
    let name = if (area, name.as_str()) == ("ipv4", "not_for_us") {
        "not_ours".to_string()
    } else {
        name
    };
    let full = format!("{area}.{name}");
    let gauge = GAUGES
        .iter()
        .any(|g| full == *g || (g.find('.').is_none() && name == *g && area != "xdp"));
    Some(CounterName {
        area,
        name,
        queue,
        gauge,
    })
}

/// The stack's own counters carry their protocol as a prefix
/// (`ipv4_bad_checksum`): it becomes the area.
fn stack_field(f: &str) -> Option<(&'static str, String, Option<u32>)> {
    for (prefix, area) in [
        ("arp_", "arp"),
        ("ipv4_", "ipv4"),
        ("icmp_", "icmp"),
        ("tcp_", "tcp"),
    ] {
        if let Some(rest) = f.strip_prefix(prefix) {
            return Some((area, rest.to_string(), None));
        }
    }
    match f {
        "neigh_events" => Some(("arp", f.to_string(), None)),
        "" => None,
        _ => Some(("link", f.to_string(), None)),
    }
}

/// Every counter of a stats reply, named by [`classify`] and in the order
/// `xdpstack stats` shows them: by area, then by name (queues as numbers).
pub fn grouped<T: Serialize + ?Sized>(value: &T) -> Vec<(CounterName, u64)> {
    let mut out = Vec::new();
    for_each(value, "", &mut |path, v| {
        if let Some(n) = classify(path) {
            out.push((n, v));
        }
    });
    out.sort_by(|(a, _), (b, _)| {
        a.area_rank()
            .cmp(&b.area_rank())
            .then_with(|| a.queue.cmp(&b.queue))
            .then_with(|| compare_names(&a.name, &b.name))
    });
    out
}

/// The rows of `xdpstack stats`: display names and values, zeros left out
/// unless `all` (as `nstat` and `nstat -a`).
pub fn stats_rows<T: Serialize + ?Sized>(value: &T, all: bool) -> Vec<(String, u64)> {
    grouped(value)
        .into_iter()
        .filter(|(_, v)| all || *v != 0)
        .map(|(n, v)| (n.display(), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Kernel {
        rx_ring_full: u64,
        rx_dropped: u64,
    }

    #[derive(Serialize)]
    struct Sock {
        rx_frames: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        kernel: Option<Kernel>,
    }

    #[derive(Serialize)]
    struct Reply {
        xdp_mode: &'static str,
        xdp: BTreeMap<&'static str, u64>,
        xsk: Vec<Sock>,
        gauge: usize,
        negative: i32,
        ratio: f64,
    }

    fn reply(sockets: usize) -> Reply {
        Reply {
            xdp_mode: "skb",
            xdp: BTreeMap::from([("redirected", 9), ("arp_replied", 3)]),
            xsk: (0..sockets)
                .map(|i| Sock {
                    rx_frames: i as u64,
                    kernel: (i == 0).then_some(Kernel {
                        rx_ring_full: 0,
                        rx_dropped: 7,
                    }),
                })
                .collect(),
            gauge: 5,
            negative: -1,
            ratio: 0.5,
        }
    }

    #[test]
    fn walk_names_fields_keys_and_items_in_declaration_order() {
        let mut seen = Vec::new();
        for_each(&reply(2), "stack", &mut |n, v| {
            seen.push((n.to_string(), v))
        });
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "stack.xdp.arp_replied",
                "stack.xdp.redirected",
                "stack.xsk.0.rx_frames",
                "stack.xsk.0.kernel.rx_ring_full",
                "stack.xsk.0.kernel.rx_dropped",
                "stack.xsk.1.rx_frames",
                "stack.gauge",
            ]
        );
        assert_eq!(seen[4].1, 7);
    }

    #[test]
    fn flatten_sorts_like_the_stats_table_always_did() {
        let flat = flatten(&reply(12));
        let names: Vec<&str> = flat.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[..4],
            [
                "gauge",
                "xdp.arp_replied",
                "xdp.redirected",
                "xsk.0.kernel.rx_dropped"
            ]
        );
        assert_eq!(names[4], "xsk.0.kernel.rx_ring_full");
        assert_eq!(names[5], "xsk.0.rx_frames");
        // Socket 10 after socket 2, not between 1 and 2.
        assert_eq!(names[8], "xsk.3.rx_frames");
        assert_eq!(names.last(), Some(&"xsk.11.rx_frames"));
    }

    #[test]
    fn counters_flatten_with_paths() {
        let v = serde_json::json!({"xdp":{"arp_replied":3},"xsk":[{"rx_frames":2}]});
        assert_eq!(
            flatten(&v),
            vec![("xdp.arp_replied".into(), 3), ("xsk.0.rx_frames".into(), 2)]
        );
    }

    #[test]
    fn kernel_socket_counters_flatten_under_the_socket() {
        let v =
            serde_json::json!({"xsk":[{"rx_frames":2,"kernel":{"rx_dropped":7,"rx_ring_full":0}}]});
        assert_eq!(
            flatten(&v),
            vec![
                ("xsk.0.kernel.rx_dropped".into(), 7),
                ("xsk.0.kernel.rx_ring_full".into(), 0),
                ("xsk.0.rx_frames".into(), 2),
            ]
        );
    }
    #[test]
    fn stats_names_are_grouped_without_repeated_prefixes() {
        let v = serde_json::json!({
            "xdp_mode": "skb",
            "xdp": {"redirected": 4, "arp_replied": 0},
            "stack": {
                "stack": {"rx_frames": 5, "ipv4_bad_checksum": 1, "icmp_echo_replies_sent": 2,
                          "arp_replies_sent": 0, "tcp_not_unicast": 0, "neigh_events": 3},
                "arp_cache": {"learned": 1},
                "reassembly": {"bytes_in_use": 0},
                "icmp_rate_limit": {"allowed": 1},
                "udp": {"sent": 6},
                "tcp": {"retransmits": 7, "time_wait": 2},
                "arp_entries": 1
            },
            "services": {"http": {"requests": 8, "open": 1}, "echo": {"udp_bytes": 9}},
            "xsk": [{"rx_frames": 10, "kernel": {"rx_dropped": 0}}, {"rx_frames": 11}]
        });
        let rows = stats_rows(&v, false);
        let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "xdp.redirected",
                "link.rx_frames",
                "arp.cache.learned",
                "arp.entries",
                "arp.neigh_events",
                "ipv4.bad_checksum",
                "icmp.echo_replies_sent",
                "icmp.rate_limit.allowed",
                "udp.sent",
                "tcp.retransmits",
                "tcp.time_wait",
                "echo.udp_bytes",
                "http.open",
                "http.requests",
                "xsk.0.rx_frames",
                "xsk.1.rx_frames",
            ]
        );
        // No name repeats a prefix (the old `stack.stack.icmp_...`).
        assert!(names.iter().all(|n| !n.contains("stack")));
        // -a: the zeros too, in their groups.
        let all = stats_rows(&v, true);
        let all_names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(all_names[..2], ["xdp.arp_replied", "xdp.redirected"]);
        for zero in [
            "arp.replies_sent",
            "tcp.not_unicast",
            "ipv4.reassembly.bytes_in_use",
            "xsk.0.kernel.rx_dropped",
        ] {
            assert!(all_names.contains(&zero), "{zero} missing from -a");
            assert!(!names.contains(&zero), "{zero} shown without -a");
        }
        assert_eq!(all.len(), rows.len() + 5);
        let g = |p: &str| classify(p).unwrap().gauge;
        assert!(g("stack.tcp.time_wait") && g("services.http.open") && g("stack.arp_entries"));
        assert!(!g("stack.tcp.retransmits") && !g("xdp.redirected") && !g("xsk.0.rx_frames"));
        assert_eq!(
            classify("stack.stack.ipv4_not_for_us").map(|n| n.display()),
            Some("ipv4.not_ours".to_string())
        );
        assert_eq!(classify("xdp_mode"), None);
        assert_eq!(classify("services.telnet.x"), None);
    }
}
