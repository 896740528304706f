//! `xdpstack capture`: every frame the stack receives and sends, in one
//! stream. The XDP program copies what it decides in-kernel (the frames it
//! answers, passes or drops, and its XDP_TX replies) into the `CAPTURE`
//! ring; the daemon taps what crosses its AF_XDP sockets (`xsk rx`,
//! `xsk tx`, the latter as a device wrapper, [`tap::Tap`]). The [`Hub`] hands both to every connected capture client;
//! `stream` is how they travel over the control socket and `pcap` how the
//! CLI writes them (PcapNG, classic pcap).

pub mod pcap;
pub mod stream;
pub mod tap;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use xdpstack_common::capture::{CaptureHeader, DIR_OUT};
use xdpstack_common::counters::Counter;

/// Which way a frame went, seen from the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

/// Which frames a client wants (`--in`, `--out`, default both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    #[default]
    Both,
    In,
    Out,
}

impl Filter {
    pub fn admits(self, dir: Direction) -> bool {
        matches!(
            (self, dir),
            (Filter::Both, _) | (Filter::In, Direction::In) | (Filter::Out, Direction::Out)
        )
    }
}

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// Wall-clock time, ns since the Unix epoch.
    pub ts_ns: u64,
    pub dir: Direction,
    /// The path it took: `xdp_tx arp_replied`, `pass passed_not_ours`,
    /// `xsk rx`, `xsk tx`.
    pub path: String,
    /// Its length on the wire; `data` may be shorter (the snap length).
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// The largest snap length a client may ask for (and the default): any
/// frame the stack handles fits.
pub const MAX_SNAPLEN: u32 = 65535;

/// Records a client may have waiting before newer ones are dropped (and
/// counted lost): about 6 MB of full-size frames.
const CLIENT_QUEUE: usize = 4096;

/// The XDP action's name as a capture path word.
pub fn action_name(action: u32) -> &'static str {
    match action {
        0 => "aborted",
        1 => "drop",
        2 => "pass",
        3 => "xdp_tx",
        4 => "redirect",
        _ => "unknown",
    }
}

/// The path of a record of the XDP program: action and reason.
pub fn xdp_path(hdr: &CaptureHeader) -> String {
    let reason = Counter::ALL
        .get(hdr.reason as usize)
        .map_or("unknown", |c| c.name());
    format!("{} {reason}", action_name(hdr.action))
}

struct Client {
    id: u64,
    filter: Filter,
    snaplen: u32,
    tx: tokio::sync::mpsc::Sender<Captured>,
    lost: Arc<AtomicU64>,
}

/// Turns the XDP program's copying on or off (the daemon sets
/// `FLAG_CAPTURE` in the config map).
pub type Switch = Box<dyn Fn(bool) + Send + Sync>;

/// The capture clients and the taps that feed them. The taps test one
/// atomic while no client is connected.
pub struct Hub {
    active: AtomicBool,
    clients: Mutex<Vec<Client>>,
    next_id: AtomicU64,
    switch: Mutex<Option<Switch>>,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, ns: turns the program's
    /// `bpf_ktime_get_ns` into wall-clock time.
    mono_to_unix_ns: i128,
    /// CLOCK_MONOTONIC when the first client arrived: older records in the
    /// ring are left over from an earlier capture and are skipped.
    since_mono_ns: AtomicU64,
    /// Notified when the first client arrives or the last leaves, so a
    /// loop that drains the ring only while `active` re-checks it.
    pub changed: tokio::sync::Notify,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            active: AtomicBool::new(false),
            clients: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            switch: Mutex::new(None),
            since_mono_ns: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
            mono_to_unix_ns: i128::from(clock_ns(libc::CLOCK_REALTIME))
                - i128::from(clock_ns(libc::CLOCK_MONOTONIC)),
        }
    }

    /// Called with `true` when the first client arrives and `false` when
    /// the last one leaves.
    pub fn set_switch(&self, switch: Switch) {
        *self.switch.lock().unwrap_or_else(|p| p.into_inner()) = Some(switch);
    }

    fn flip(&self, on: bool) {
        if on {
            let now = u64::try_from(clock_ns(libc::CLOCK_MONOTONIC)).unwrap_or(0);
            self.since_mono_ns.store(now, Ordering::SeqCst);
        }
        self.active.store(on, Ordering::SeqCst);
        self.changed.notify_one();
        if let Some(s) = self
            .switch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            s(on);
        }
    }

    /// True while at least one client is connected.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// How many clients are connected.
    pub fn clients(&self) -> usize {
        self.clients.lock().map_or(0, |c| c.len())
    }

    /// A new client; it stays until the returned value is dropped.
    pub fn subscribe(self: &Arc<Self>, filter: Filter, snaplen: u32) -> Subscription {
        let (tx, rx) = tokio::sync::mpsc::channel(CLIENT_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let lost = Arc::new(AtomicU64::new(0));
        let first = {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            clients.push(Client {
                id,
                filter,
                snaplen: snaplen.clamp(1, MAX_SNAPLEN),
                tx,
                lost: lost.clone(),
            });
            clients.len() == 1
        };
        if first {
            self.flip(true);
        }
        Subscription {
            hub: self.clone(),
            id,
            rx,
            lost,
        }
    }

    fn unsubscribe(&self, id: u64) {
        let last = {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            clients.retain(|c| c.id != id);
            clients.is_empty()
        };
        if last {
            self.flip(false);
        }
    }

    /// Hands a frame to every client that wants it; a client whose queue
    /// is full loses it, counted.
    pub fn tap(&self, dir: Direction, path: &str, ts_ns: u64, frame: &[u8], orig_len: u32) {
        if !self.active() {
            return;
        }
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for c in clients.iter().filter(|c| c.filter.admits(dir)) {
            let n = frame.len().min(c.snaplen as usize);
            let rec = Captured {
                ts_ns,
                dir,
                path: path.to_string(),
                orig_len,
                data: frame[..n].to_vec(),
            };
            if c.tx.try_send(rec).is_err() {
                c.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A frame crossing the daemon's AF_XDP sockets, stamped now.
    pub fn tap_xsk(&self, dir: Direction, frame: &[u8]) {
        if !self.active() {
            return;
        }
        let path = match dir {
            Direction::In => "xsk rx",
            Direction::Out => "xsk tx",
        };
        self.tap(dir, path, now_unix_ns(), frame, frame.len() as u32);
    }

    /// A record of the XDP program's `CAPTURE` ring; a malformed one is
    /// skipped (false), and so is one older than the first client now
    /// connected (true).
    pub fn tap_xdp_record(&self, bytes: &[u8]) -> bool {
        let Some(hdr) = CaptureHeader::from_bytes(bytes) else {
            return false;
        };
        if hdr.ts_ns < self.since_mono_ns.load(Ordering::Relaxed) {
            return true;
        }
        let data = &bytes[CaptureHeader::SIZE..];
        let Some(frame) = data.get(..hdr.caplen as usize) else {
            return false;
        };
        let dir = if hdr.dir == DIR_OUT {
            Direction::Out
        } else {
            Direction::In
        };
        let ts = i128::from(hdr.ts_ns) + self.mono_to_unix_ns;
        self.tap(
            dir,
            &xdp_path(&hdr),
            u64::try_from(ts).unwrap_or(0),
            frame,
            hdr.len,
        );
        true
    }
}

/// A connected client: its frames arrive on `rx`; `take_lost` says how
/// many it missed since the last call.
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    pub rx: tokio::sync::mpsc::Receiver<Captured>,
    lost: Arc<AtomicU64>,
}

impl Subscription {
    pub fn take_lost(&self) -> u64 {
        self.lost.swap(0, Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec)
}

/// Wall-clock time now, ns since the Unix epoch.
pub fn now_unix_ns() -> u64 {
    u64::try_from(clock_ns(libc::CLOCK_REALTIME)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_follows_the_first_and_last_client() {
        let hub = Arc::new(Hub::new());
        let flips = Arc::new(Mutex::new(Vec::new()));
        let f = flips.clone();
        hub.set_switch(Box::new(move |on| f.lock().unwrap().push(on)));
        assert!(!hub.active());
        let a = hub.subscribe(Filter::Both, 100);
        let b = hub.subscribe(Filter::In, 100);
        assert!(hub.active());
        drop(a);
        assert!(hub.active());
        drop(b);
        assert!(!hub.active());
        assert_eq!(*flips.lock().unwrap(), vec![true, false]);
    }

    #[test]
    fn taps_filter_truncate_and_count_what_a_full_queue_loses() {
        let hub = Arc::new(Hub::new());
        // Nothing is recorded without a client.
        hub.tap_xsk(Direction::In, &[1, 2, 3]);
        let mut both = hub.subscribe(Filter::Both, 2);
        let mut outs = hub.subscribe(Filter::Out, 100);
        hub.tap_xsk(Direction::In, &[1, 2, 3]);
        hub.tap_xsk(Direction::Out, &[4, 5, 6]);
        let r = both.rx.try_recv().unwrap();
        assert_eq!(
            (r.dir, r.path.as_str(), r.data.as_slice(), r.orig_len),
            (Direction::In, "xsk rx", &[1u8, 2][..], 3)
        );
        assert_eq!(both.rx.try_recv().unwrap().path, "xsk tx");
        let o = outs.rx.try_recv().unwrap();
        assert_eq!(o.data, vec![4, 5, 6]);
        assert!(outs.rx.try_recv().is_err());
        for _ in 0..CLIENT_QUEUE + 5 {
            hub.tap_xsk(Direction::Out, &[0; 4]);
        }
        assert_eq!(both.take_lost(), 5);
        assert_eq!(both.take_lost(), 0);
    }

    #[test]
    fn xdp_records_name_their_path() {
        let hub = Arc::new(Hub::new());
        let mut sub = hub.subscribe(Filter::Both, 1000);
        let hdr = CaptureHeader {
            ts_ns: u64::try_from(clock_ns(libc::CLOCK_MONOTONIC)).unwrap() + 1_000_000,
            len: 60,
            caplen: 4,
            action: 3,
            reason: Counter::ArpReplied.index(),
            dir: DIR_OUT,
            _pad: [0; 7],
        };
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&hdr.ts_ns.to_ne_bytes());
        for v in [hdr.len, hdr.caplen, hdr.action, hdr.reason] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        bytes.push(hdr.dir);
        bytes.extend_from_slice(&[0; 7]);
        bytes.extend_from_slice(&[9, 8, 7, 6, 0, 0]);
        assert!(hub.tap_xdp_record(&bytes));
        let r = sub.rx.try_recv().unwrap();
        assert_eq!(r.path, "xdp_tx arp_replied");
        assert_eq!(
            (r.dir, r.orig_len, r.data),
            (Direction::Out, 60, vec![9, 8, 7, 6])
        );
        // A record from before this client is left over: skipped.
        let mut old = bytes.clone();
        old[..8].copy_from_slice(&1u64.to_ne_bytes());
        assert!(hub.tap_xdp_record(&old));
        assert!(sub.rx.try_recv().is_err());
        // A record claiming more bytes than it holds is skipped.
        bytes.truncate(CaptureHeader::SIZE + 2);
        assert!(!hub.tap_xdp_record(&bytes));
    }
}
