//! One connection's state machine: segment arrival (RFC 9293 3.10.7),
//! output, timers, RTO (RFC 6298), loss recovery (RFC 5681, 6582) with the
//! window arithmetic in `congestion/` (NewReno, CUBIC RFC 9438),
//! SACK both ways with RFC 6675 recovery (RFC 2018, 2883), losses found
//! by RACK (RFC 8985 6) and the tail loss probe (RFC 8985 7), recovery
//! paced by PRR (RFC 6937), timestamps and PAWS (RFC 7323), path MTU
//! (RFC 1191), keep-alive (RFC 9293 3.8.4).
//!
//! A `Conn` never touches the connection tables; it changes its own state
//! and [`super::Tcp`] settles the tables afterwards (accept queue,
//! TIME-WAIT list, removal).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::congestion::{Algorithm, Congestion, Controller, HyStart, Phase, CSS_GROWTH_DIVISOR};
use super::seq;
use super::{Ctx, KeepAlive, TcpConfig, TcpError, TcpState};
use crate::stack::time::Instant;
use crate::wire::tcp::{Flags, SackBlocks, TcpOptions, TcpRepr};

/// RFC 6298 2.1: the RTO before any RTT sample.
const INITIAL_RTO: Duration = Duration::from_secs(1);
/// RFC 6298 2.4 recommends 1 s; like Linux we use 200 ms, which RFC 6298
/// allows ("SHOULD"), so that a lost tail on a LAN costs little.
const MIN_RTO: Duration = Duration::from_millis(200);
/// RFC 6298 2.5: a maximum of at least 60 s may be placed on the RTO.
const MAX_RTO: Duration = Duration::from_secs(60);
/// Clock granularity G in RFC 6298 2.3.
const CLOCK_G: Duration = Duration::from_millis(1);
/// Retransmissions of data or FIN before the connection is aborted
/// (RFC 9293 3.8.3 R2; Linux's tcp_retries2 is 15).
const MAX_RETRIES: u32 = 12;
/// Retransmissions of a SYN or SYN-ACK (Linux: tcp_syn_retries 6, synack 5).
const MAX_SYN_RETRIES: u32 = 5;
/// RFC 1122 4.2.3.2: delay an ACK less than 0.5 s; 40 ms is Linux's minimum.
const DELACK: Duration = Duration::from_millis(40);
/// Out-of-order segments kept per connection; more are dropped (counted).
const MAX_OOO_SEGMENTS: usize = 64;
/// RFC 9293 3.7.1 / RFC 1122 4.2.2.6: the MSS when the peer sends none.
const DEFAULT_MSS: u32 = 536;
/// RFC 7323 2.3: the largest shift count.
const MAX_WSCALE: u8 = 14;
/// The persist timer backs off to at most this (RFC 1122 4.2.2.17).
const MAX_PERSIST: Duration = Duration::from_secs(60);
/// RFC 7323 5.5: TS.Recent older than 24 days is no longer valid for PAWS.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);
/// RFC 6675 2: DupThresh.
const DUP_THRESH: u32 = 3;
/// RFC 8985 7.2 WCDelAckT: the worst-case delayed ACK a probe waits for
/// when one segment is in flight.
const TLP_DELACK: Duration = Duration::from_millis(200);
/// Added to 2 SRTT when more than one segment is in flight, as Linux adds
/// TCP_TIMEOUT_MIN (two jiffies) in tcp_schedule_loss_probe. On a LAN
/// SRTT is tens of µs, while a receiver that acknowledges once per read of
/// its application (Linux's, when the reader lags) answers a flight a
/// millisecond or more later: a probe at bare 2 SRTT goes before that ACK,
/// spends the episode's one probe, and if the ACK is then lost the flight
/// waits for the RTO.
const TLP_MIN_EXTRA: Duration = Duration::from_millis(2);
/// PAWS tolerates a TSval this much older than TS.Recent (Linux's
/// TCP_PAWS_WINDOW): a peer's segments sent within one tick may arrive
/// with their timestamps a little out of order.
const PAWS_WINDOW: u32 = 1;
/// At most one ACK per this interval answers segments without data that
/// are out of the window, fail PAWS or call for a challenge ACK (Linux's
/// tcp_invalid_ratelimit, RFC 5961 7's aim): two stacks that disagree
/// about the window cannot ping-pong ACKs at line rate.
const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);
/// The smallest MSS a peer can make us use, as Linux's tcp_min_snd_mss:
/// a SYN claiming MSS 1 cannot make a connection cost one segment per
/// byte (CVE-2019-11479); with timestamps a segment then carries 36
/// bytes, as Linux's do.
const MIN_SND_MSS: u32 = 48;
/// Segments in the initial window (RFC 6928; Linux's TCP_INIT_CWND).
const INITIAL_WINDOW_SEGMENTS: u32 = 10;
/// A FIN-WAIT-2 connection the application released waits this long for
/// the peer's FIN, then goes (Linux's tcp_fin_timeout), so a silent peer
/// cannot hold a slot forever.
const FIN_WAIT_2_TIMEOUT: Duration = Duration::from_secs(60);

/// One segment on the scoreboard.
#[derive(Clone, Copy, Debug)]
struct Sent {
    start: u32,
    /// One past its last sequence number (a SYN or FIN counts one).
    end: u32,
    /// When it was last sent (RFC 8985 Segment.xmit_ts).
    xmit: Instant,
    /// The connection's count of sendings when it was last sent: which of
    /// two segments left later, where their `xmit` (one batch's clock
    /// reading) ties.
    order: u64,
    retransmitted: bool,
    sacked: bool,
    /// Marked lost and not sent again since.
    lost: bool,
}

impl Sent {
    fn len(&self) -> u32 {
        self.end.wrapping_sub(self.start)
    }
}

/// RFC 8985 6: the state of RACK's time-based loss detection.
#[derive(Clone, Debug)]
struct Rack {
    /// The most recently sent segment known delivered: its send order and
    /// end (RACK.xmit_ts, RACK.end_seq); `None` before any delivery.
    xmit: Option<(u64, u32)>,
    /// The RTT of that delivery (RACK.rtt).
    rtt: Duration,
    /// The smallest RTT seen (RACK.min_RTT; like Linux's, over the
    /// connection's life here, not windowed).
    min_rtt: Option<Duration>,
    /// The highest end of a delivered segment (RACK.fack).
    fack: u32,
    /// Reordering was seen (RACK.reord): a segment never retransmitted
    /// was delivered below `fack`.
    reord: bool,
    /// RACK.reo_wnd_mult, RACK.reo_wnd_persist and RACK.dsack_round (6.2).
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    dsack_round: Option<u32>,
    /// The reordering timer (6.2 step 5's RACK timer).
    timer: Option<Instant>,
    /// The end of the highest retransmission: a D-SACK below it reports
    /// a retransmission that was not needed.
    rtx_high: u32,
}

impl Rack {
    fn new(fack: u32) -> Rack {
        Rack {
            xmit: None,
            rtt: Duration::ZERO,
            min_rtt: None,
            fack,
            reord: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            dsack_round: None,
            timer: None,
            rtx_high: fack,
        }
    }
}

/// RFC 8985 6.2 RACK_sent_after: sent later, or at the same time and
/// ending higher. "Later" is by send order, not by the clock: every
/// segment of one batch carries the same clock reading, and the RFC's tie
/// on sequence would then call a retransmission that left after new data
/// "sent before" it, marking it lost again as soon as that data is SACKed.
fn sent_after(o1: u64, end1: u32, o2: u64, end2: u32) -> bool {
    o1 > o2 || (o1 == o2 && seq::gt(end1, end2))
}

pub(super) struct Conn {
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The listening port whose backlog this connection counts against,
    /// until it is accepted.
    pub listener: Option<u16>,
    /// In the listener's accept queue.
    pub queued: bool,
    /// The application has it (accepted or connected) and has not released it.
    pub held: bool,
    /// Why it closed, if not gracefully.
    pub error: Option<TcpError>,
    pub tw_until: Instant,
    /// When FIN-WAIT-2 was entered.
    fin_wait_2_since: Instant,
    /// Listed in the engine's TIME-WAIT queue.
    pub tw_queued: bool,
    pub retransmits: u64,

    // Send sequence space (RFC 9293 3.3.1). `snd_max` is the highest
    // sequence number sent: after a timeout `snd_nxt` goes back to `snd_una`.
    iss: u32,
    snd_una: u32,
    snd_nxt: u32,
    snd_max: u32,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: u32,
    snd_wl2: u32,
    snd_mss: u32,
    /// The largest segment the path takes, from ICMP "fragmentation
    /// needed" (RFC 1191): MTU - 40. u32::MAX until one arrives.
    path_mss: u32,
    snd_shift: u8,
    /// Bytes from `snd_buf_seq` on: sent but unacknowledged, then unsent.
    snd_buf: VecDeque<u8>,
    snd_buf_seq: u32,
    snd_cap: usize,
    /// The application closed: a FIN follows the queued data.
    fin_queued: bool,

    // Receive sequence space.
    irs: u32,
    rcv_nxt: u32,
    /// The right edge last advertised; never moved left (RFC 9293 3.8.6).
    rcv_adv: u32,
    rcv_shift: u8,
    rcv_mss: u32,
    /// In-order bytes not yet read by the application.
    rcv_buf: VecDeque<u8>,
    rcv_cap: usize,
    /// Out-of-order data: sorted by sequence number, not overlapping, all
    /// inside the advertised window (so bounded by the buffer space).
    ooo: Vec<(u32, Vec<u8>)>,
    /// A FIN that arrived ahead of missing data: its sequence number.
    ooo_fin: Option<u32>,
    fin_received: bool,
    /// The peer offered window scaling in its SYN.
    peer_ws: bool,

    // RTO (RFC 6298).
    rto: Duration,
    srtt: Option<Duration>,
    rttvar: Duration,
    /// One segment timed at a time: (sequence number that acks it, sent at).
    rtt_probe: Option<(u32, Instant)>,
    rtx_at: Option<Instant>,
    retries: u32,

    // ACK generation (RFC 1122 4.2.3.2, RFC 5681 4.2).
    ack_now: bool,
    /// When the last rate-limited ACK went (`OOW_ACK_INTERVAL`).
    last_oow_ack: Option<Instant>,
    /// Nagle's algorithm (RFC 896, RFC 1122 4.2.3.4) in Linux's form
    /// (Minshall's): the end of the last short segment of new data sent;
    /// while it is unacknowledged, another short one waits. Off with
    /// `nodelay` (TCP_NODELAY).
    snd_sml: u32,
    nodelay: bool,
    /// The sequence number of the urgent byte not yet received, which is
    /// kept out of the stream the application reads.
    urg_seq: Option<u32>,
    delack_at: Option<Instant>,
    segs_unacked: u32,

    // Tail loss probe (RFC 8985 7): armed while data is in flight and no
    // recovery runs; one probe per episode, until `tlp_end` is acked.
    tlp_at: Option<Instant>,
    tlp_end: Option<u32>,
    /// A probe went out and no D-SACK has said its segment had arrived:
    /// if its episode ends so, it repaired a loss (7.4).
    tlp_rtx: bool,
    /// Sendings noted on the scoreboard so far (`Sent::order`).
    sendings: u64,

    // Keep-alive (RFC 9293 3.8.4, RFC 1122 4.2.3.6): off unless set.
    keepalive: Option<KeepAlive>,
    /// When the peer last sent us an acceptable segment.
    last_heard: Instant,
    /// Keep-alive probes sent since then, unanswered.
    ka_probes: u32,
    /// When the last of them went.
    ka_sent_at: Instant,

    // Zero-window probing (RFC 9293 3.8.6.1).
    persist_at: Option<Instant>,
    persist_backoff: u32,

    // Timestamps (RFC 7323): both SYNs carried the option.
    ts_ok: bool,
    /// Added to our millisecond clock, per connection (RFC 7323 7.1).
    ts_offset: u32,
    ts_recent: u32,
    ts_recent_at: Instant,
    /// RCV.NXT in the last ACK we sent (RFC 7323 4.3).
    last_ack_sent: u32,

    // SACK (RFC 2018): both SYNs carried SACK-permitted.
    sack_ok: bool,
    /// The most recent out-of-order segment: its block is reported first.
    last_ooo: Option<u32>,
    /// A duplicate to report once as the first block (D-SACK, RFC 2883).
    dsack: Option<(u32, u32)>,
    /// The scoreboard: every segment sent and not yet cumulatively
    /// acknowledged, SND.UNA to SND.MAX in order, with when it last went
    /// out and whether it is SACKed or lost (RFC 6675 4, RFC 8985 6.1).
    sent: VecDeque<Sent>,
    /// Bytes of `sent` SACKed, and how many segments.
    sacked_bytes: u32,
    sacked_segs: u32,
    /// Bytes of `sent` marked lost and not yet retransmitted.
    lost_bytes: u32,
    rack: Rack,

    // Proportional rate reduction (RFC 6937) during fast recovery.
    prr_delivered: u32,
    prr_out: u32,
    /// The window when the recovery began (RFC 6937's RecoverFS).
    prior_cwnd: u32,
    /// The recovery was started by a timeout (RFC 8985 6.3, RFC 5681 3.1:
    /// slow start from one segment) rather than a fast retransmit.
    rto_recovery: bool,

    // Congestion control: the window's growth and ssthresh on a loss
    // come from `cc` (congestion/); recovery (NewReno RFC 6582, SACK
    // RFC 6675) is here.
    cc: Congestion,
    /// HyStart++ (RFC 9406) for CUBIC's initial slow start.
    hystart: HyStart,
    /// The RTT of the newest segment sent once that this ACK delivered.
    ack_rtt: Option<Duration>,
    /// The RTT of the oldest segment sent once that this ACK cumulatively
    /// acknowledged (RFC 6298's sample, to the microsecond).
    cum_rtt: Option<Duration>,
    cwnd: u32,
    ssthresh: u32,
    dup_acks: u32,
    in_recovery: bool,
    recover: u32,
    // Congestion window validation, as Linux's tcp_cwnd_validate (the aim
    // of RFC 7661): the window grows only while it limits the sender.
    /// The last window of data sent (up to `cwnd_usage_seq`) was held
    /// back by cwnd.
    cwnd_limited: bool,
    /// The most bytes in flight in that window.
    max_flight: u32,
    /// Where that window ends: SND.NXT when it began.
    cwnd_usage_seq: u32,
    /// When new data last went (Linux's lsndtime): a sender idle longer
    /// than an RTO restarts from the initial window (RFC 5681 4.1).
    last_data_sent: Option<Instant>,
}

/// The smallest shift that lets a window field describe `cap` bytes.
fn shift_for(cap: usize) -> u8 {
    let mut s = 0;
    while s < MAX_WSCALE && (cap >> s) > usize::from(u16::MAX) {
        s += 1;
    }
    s
}

/// The window a cookie's SYN-ACK offers: unscaled, since a cookie keeps no
/// window scale (RFC 7323 2.2: scaling needs the option in both SYNs).
pub(super) fn cookie_window(cfg: &TcpConfig) -> u16 {
    cfg.rcv_buf.min(usize::from(u16::MAX)) as u16
}

/// The initial window: ten segments, as Linux (TCP_INIT_CWND) and RFC
/// 6928 2 (which would also cap it at 14600 bytes when the MSS exceeds
/// 1460; Linux does not, and neither do we). RFC 5681 3.1's three or
/// four segments would take two more round trips to send what Linux
/// sends in its first flight.
fn initial_cwnd(mss: u32) -> u32 {
    INITIAL_WINDOW_SEGMENTS * mss
}

impl Conn {
    fn new(cfg: &TcpConfig, local: SocketAddr, remote: SocketAddr, iss: u32) -> Conn {
        Conn {
            state: TcpState::Closed,
            local,
            remote,
            listener: None,
            queued: false,
            held: false,
            error: None,
            tw_until: Instant::ZERO,
            fin_wait_2_since: Instant::ZERO,
            tw_queued: false,
            retransmits: 0,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: 0,
            snd_wl2: 0,
            snd_mss: DEFAULT_MSS.min(u32::from(cfg.mss_for(local.ip()))),
            path_mss: u32::MAX,
            snd_shift: 0,
            snd_buf: VecDeque::new(),
            snd_buf_seq: iss.wrapping_add(1),
            snd_cap: cfg.snd_buf,
            fin_queued: false,
            irs: 0,
            rcv_nxt: 0,
            rcv_adv: 0,
            rcv_shift: shift_for(cfg.rcv_buf),
            rcv_mss: u32::from(cfg.mss_for(local.ip())),
            rcv_buf: VecDeque::new(),
            rcv_cap: cfg.rcv_buf,
            ooo: Vec::new(),
            ooo_fin: None,
            fin_received: false,
            peer_ws: false,
            rto: INITIAL_RTO,
            srtt: None,
            rttvar: Duration::ZERO,
            rtt_probe: None,
            rtx_at: None,
            retries: 0,
            ack_now: false,
            last_oow_ack: None,
            snd_sml: iss,
            nodelay: false,
            urg_seq: None,
            delack_at: None,
            segs_unacked: 0,
            persist_at: None,
            persist_backoff: 0,
            tlp_at: None,
            tlp_end: None,
            tlp_rtx: false,
            sendings: 0,
            keepalive: None,
            last_heard: Instant::ZERO,
            ka_probes: 0,
            ka_sent_at: Instant::ZERO,
            cc: Congestion::new(cfg.congestion),
            hystart: HyStart::default(),
            ack_rtt: None,
            cum_rtt: None,
            cwnd: 0,
            ssthresh: u32::MAX,
            dup_acks: 0,
            in_recovery: false,
            recover: iss,
            ts_ok: false,
            ts_offset: {
                let mut tuple = [0u8; super::isn::TUPLE_MAX];
                let n = super::isn::tuple_bytes(local, remote, &mut tuple);
                let mut m = [0u8; 2 + super::isn::TUPLE_MAX];
                m[..2].copy_from_slice(b"ts");
                m[2..2 + n].copy_from_slice(&tuple[..n]);
                super::isn::siphash24(&cfg.isn_secret, &m[..2 + n]) as u32
            },
            ts_recent: 0,
            ts_recent_at: Instant::ZERO,
            last_ack_sent: 0,
            sack_ok: false,
            last_ooo: None,
            dsack: None,
            sent: VecDeque::new(),
            sacked_bytes: 0,
            sacked_segs: 0,
            lost_bytes: 0,
            rack: Rack::new(iss),
            prr_delivered: 0,
            prr_out: 0,
            prior_cwnd: 0,
            cwnd_limited: false,
            max_flight: 0,
            cwnd_usage_seq: iss,
            last_data_sent: None,
            rto_recovery: false,
        }
    }

    /// An active open (RFC 9293 3.10.1): SYN-SENT, the SYN goes out on `output`.
    pub fn new_active(
        ctx: &mut Ctx,
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
    ) -> Conn {
        let mut c = Conn::new(cfg, local, remote, iss);
        c.set_state(ctx, TcpState::SynSent);
        c.output(ctx);
        c
    }

    /// A SYN to a listener (RFC 9293 3.10.7.2): SYN-RECEIVED, SYN-ACK sent.
    pub fn new_passive(
        ctx: &mut Ctx,
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        syn: &TcpRepr,
    ) -> Conn {
        let mut c = Conn::new(cfg, local, remote, iss);
        c.irs = syn.seq;
        c.rcv_nxt = syn.seq.wrapping_add(1);
        c.rcv_adv = c.rcv_nxt;
        c.take_syn_options(ctx.now, &syn.options);
        // The window in a SYN is never scaled (RFC 7323 2.2).
        c.snd_wnd = u32::from(syn.window);
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = syn.seq;
        c.set_state(ctx, TcpState::SynReceived);
        c.output(ctx);
        c
    }

    /// MSS, window scale, SACK-permitted and timestamps from the peer's SYN
    /// or SYN-ACK. We offer SACK and timestamps in every SYN, and in a
    /// SYN-ACK when the SYN did: so the peer's option decides (RFC 2018 2,
    /// RFC 7323 3.2).
    fn take_syn_options(&mut self, now: Instant, o: &TcpOptions) {
        self.sack_ok = o.sack_permitted;
        match o.timestamps {
            Some((val, _)) => {
                self.ts_ok = true;
                self.ts_recent = val;
                self.ts_recent_at = now;
            }
            None => self.ts_ok = false,
        }
        let peer_mss = o.mss.map(u32::from).unwrap_or(DEFAULT_MSS);
        // Never below MIN_SND_MSS, whatever the peer claims.
        self.snd_mss = peer_mss
            .min(self.rcv_mss)
            .min(self.path_mss)
            .max(MIN_SND_MSS);
        match o.window_scale {
            // RFC 7323 2.3: a shift above 14 is used as 14.
            Some(ws) => {
                self.peer_ws = true;
                self.snd_shift = ws.min(MAX_WSCALE);
            }
            // RFC 7323 2.2: scaling is on only if both sides sent the option.
            None => {
                self.peer_ws = false;
                self.snd_shift = 0;
                self.rcv_shift = 0;
            }
        }
        self.cwnd = initial_cwnd(self.snd_mss);
    }

    /// ESTABLISHED from the ACK that returned a valid SYN cookie (RFC 4987
    /// 3.6): our SYN-ACK had ISN `iss`, the MSS the cookie carried and no
    /// window scale; the peer's ISN is the ACK's sequence number minus one.
    /// The caller then processes the segment itself (its data, its FIN).
    pub fn new_from_cookie(
        ctx: &mut Ctx,
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        mss: u16,
        ack: &TcpRepr,
    ) -> Conn {
        let mut c = Conn::new(cfg, local, remote, iss);
        c.irs = ack.seq.wrapping_sub(1);
        c.rcv_nxt = ack.seq;
        c.rcv_shift = 0;
        c.rcv_adv = c.rcv_nxt.wrapping_add(u32::from(cookie_window(cfg)));
        c.snd_mss = u32::from(mss).min(c.rcv_mss).max(MIN_SND_MSS);
        c.cwnd = initial_cwnd(c.snd_mss);
        c.snd_una = iss.wrapping_add(1);
        c.snd_nxt = c.snd_una;
        c.snd_max = c.snd_una;
        c.snd_wnd = u32::from(ack.window);
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = ack.seq;
        c.snd_wl2 = ack.ack;
        c.set_state(ctx, TcpState::Established);
        c
    }

    /// Changes state, keeping the gauges in `ctx.counters` right.
    pub fn set_state(&mut self, ctx: &mut Ctx, new: TcpState) {
        let old = self.state;
        if old == new {
            return;
        }
        let c = &mut *ctx.counters;
        for (state, delta) in [(old, -1i64), (new, 1i64)] {
            let gauge = match state {
                TcpState::SynSent | TcpState::SynReceived => &mut c.half_open,
                TcpState::TimeWait => &mut c.time_wait,
                TcpState::Listen | TcpState::Closed => continue,
                _ => &mut c.current_connections,
            };
            *gauge = gauge.saturating_add_signed(delta);
        }
        self.state = new;
        match new {
            TcpState::Established => self.last_heard = ctx.now,
            TcpState::FinWait2 => self.fin_wait_2_since = ctx.now,
            TcpState::TimeWait => {
                self.tw_until = ctx.now + ctx.time_wait;
                self.drop_send_side();
            }
            TcpState::Closed => {
                self.drop_send_side();
                self.delack_at = None;
                self.ack_now = false;
            }
            _ => {}
        }
    }

    /// Frees what a connection that will send nothing more does not need.
    fn drop_send_side(&mut self) {
        self.snd_buf = VecDeque::new();
        self.ooo = Vec::new();
        self.sent = VecDeque::new();
        self.sacked_bytes = 0;
        self.sacked_segs = 0;
        self.lost_bytes = 0;
        self.rack.timer = None;
        self.rtx_at = None;
        self.persist_at = None;
        self.tlp_at = None;
    }

    /// Closes on an error: the queues are flushed (RFC 9293 3.10.7.4).
    pub fn fail(&mut self, ctx: &mut Ctx, err: TcpError) {
        self.error = Some(err);
        self.rcv_buf = VecDeque::new();
        self.set_state(ctx, TcpState::Closed);
    }

    // ----- the application's side -----

    pub fn recv_queue(&self) -> usize {
        self.rcv_buf.len()
    }

    pub fn send_queue(&self) -> usize {
        self.snd_buf.len()
    }

    pub fn rto(&self) -> Duration {
        self.rto
    }

    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// The slow start threshold; `None` until a loss or HyStart set it.
    pub fn ssthresh(&self) -> Option<u32> {
        (self.ssthresh != u32::MAX).then_some(self.ssthresh)
    }

    /// The smoothed round-trip time (RFC 6298); `None` before a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub fn congestion(&self) -> Algorithm {
        self.cc.algorithm()
    }

    pub fn send_capacity(&self) -> usize {
        match self.state {
            TcpState::SynSent
            | TcpState::SynReceived
            | TcpState::Established
            | TcpState::CloseWait
                if !self.fin_queued =>
            {
                self.snd_cap.saturating_sub(self.snd_buf.len())
            }
            _ => 0,
        }
    }

    pub fn recv(&mut self, ctx: &mut Ctx, buf: &mut [u8]) -> Result<usize, TcpError> {
        if self.rcv_buf.is_empty() {
            if let Some(e) = &self.error {
                return Err(e.clone());
            }
            if self.fin_received {
                return Err(TcpError::Eof);
            }
            return match self.state {
                TcpState::Closed => Err(TcpError::Closed),
                _ => Ok(0),
            };
        }
        let n = buf.len().min(self.rcv_buf.len());
        let (a, b) = self.rcv_buf.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.rcv_buf.drain(..n);
        // RFC 1122 4.2.3.3: tell the peer when the window opened enough,
        // e.g. from zero; like Linux, when it at least doubled.
        if matches!(
            self.state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        ) {
            let now_wnd = self.advertised_window();
            let could = self.free_space();
            if could >= now_wnd.saturating_mul(2) && self.edge_may_advance() {
                self.ack_now = true;
                self.output(ctx);
            }
        }
        Ok(n)
    }

    pub fn send(&mut self, ctx: &mut Ctx, data: &[u8]) -> Result<usize, TcpError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        match self.state {
            TcpState::Closed => return Err(TcpError::Closed),
            TcpState::SynSent
            | TcpState::SynReceived
            | TcpState::Established
            | TcpState::CloseWait
                if !self.fin_queued => {}
            _ => return Err(TcpError::InvalidState),
        }
        let n = data
            .len()
            .min(self.snd_cap.saturating_sub(self.snd_buf.len()));
        self.snd_buf.extend(&data[..n]);
        self.output(ctx);
        Ok(n)
    }

    /// The CLOSE call (RFC 9293 3.10.4).
    /// Bytes received in order that the application has not read.
    pub fn has_unread_data(&self) -> bool {
        !self.rcv_buf.is_empty()
    }

    pub fn close(&mut self, ctx: &mut Ctx) {
        match self.state {
            TcpState::SynSent => {
                self.error = Some(TcpError::Closed);
                self.set_state(ctx, TcpState::Closed);
            }
            // The FIN goes after ESTABLISHED is reached.
            TcpState::SynReceived => self.fin_queued = true,
            TcpState::Established => {
                self.fin_queued = true;
                self.set_state(ctx, TcpState::FinWait1);
                self.output(ctx);
            }
            TcpState::CloseWait => {
                self.fin_queued = true;
                self.set_state(ctx, TcpState::LastAck);
                self.output(ctx);
            }
            _ => {}
        }
    }

    /// The ABORT call (RFC 9293 3.10.5): a RST if synchronized.
    pub fn abort(&mut self, ctx: &mut Ctx) {
        if matches!(
            self.state,
            TcpState::SynReceived
                | TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait
        ) {
            self.send_active_rst(ctx);
        }
        self.fail(ctx, TcpError::Closed);
    }

    /// The RST of a connection that gives up (an abort, a close with
    /// unread data, a keep-alive timeout), as Linux's
    /// tcp_send_active_reset sends it: `<SEQ=SND.MAX><ACK=RCV.NXT>
    /// <CTL=RST,ACK>` with the window and, once negotiated, timestamps
    /// (RFC 7323 3.2: on every segment). RFC 9293 3.10.5 asks only for
    /// `<SEQ=SND.NXT><CTL=RST>`; the ACK and TSecr let a Linux peer check
    /// it like any segment. SND.MAX is Linux's snd_nxt (ours steps back
    /// to resend after a timeout; Linux's does not).
    fn send_active_rst(&mut self, ctx: &mut Ctx) {
        let mut options = TcpOptions::default();
        if self.ts_ok {
            options.timestamps = Some((self.ts_now(ctx.now), self.ts_recent));
        }
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: self.snd_max,
            ack: self.rcv_nxt,
            flags: Flags::RST | Flags::ACK,
            window: self.window_field(false),
            urgent: 0,
            options,
            payload: &[],
        };
        super::push_segment(
            ctx,
            self.local.ip(),
            self.remote.ip(),
            &repr,
            self.snd_max,
            0,
        );
    }

    /// A SYN that may reopen this TIME-WAIT connection: its sequence number
    /// is above anything the old incarnation used (RFC 9293 3.10.7.4, RFC 6191).
    pub fn accepts_new_syn(&self, seg: &TcpRepr) -> bool {
        let f = seg.flags;
        if !f.syn() || f.ack() || f.rst() {
            return false;
        }
        // RFC 6191 2: with timestamps on both, a newer TSval decides; an
        // older one never reopens; an equal one falls back to sequence numbers.
        if let (true, Some((val, _))) = (self.ts_ok, seg.options.timestamps) {
            if val != self.ts_recent {
                return seq::gt(val, self.ts_recent);
            }
        }
        seq::gt(seg.seq, self.rcv_nxt)
    }

    /// ICMP "fragmentation needed" quoting our segment with sequence number
    /// `quoted_seq`: the path takes at most `mss` bytes of data (RFC 1191).
    /// Accepted only if the quoted number is one we sent and is not yet
    /// acknowledged (RFC 5927 5.1, against blind spoofing); then the segment
    /// size drops and everything unacknowledged goes again in the new size,
    /// without touching the congestion window (RFC 1191 6.5: not a
    /// congestion signal; Linux's tcp_simple_retransmit). True if applied.
    pub fn on_path_mtu(&mut self, ctx: &mut Ctx, quoted_seq: u32, mss: u32) -> bool {
        if matches!(
            self.state,
            TcpState::Closed | TcpState::Listen | TcpState::TimeWait
        ) {
            return false;
        }
        if !(seq::le(self.snd_una, quoted_seq) && seq::lt(quoted_seq, self.snd_max)) {
            return false;
        }
        if mss >= self.snd_mss {
            return false;
        }
        self.path_mss = mss;
        self.snd_mss = mss;
        self.rtt_probe = None;
        if self.sack_mode() {
            // The oversized segments in flight were dropped on the way:
            // lost, resent in the new size (Linux's tcp_simple_retransmit).
            let fits = self.seg_mss();
            let mut newly_lost = 0u32;
            for g in self.sent.iter_mut() {
                if !g.sacked && !g.lost && g.len() > fits {
                    g.lost = true;
                    newly_lost = newly_lost.saturating_add(g.len());
                }
            }
            self.lost_bytes = self.lost_bytes.saturating_add(newly_lost);
            // Room for the first resend whatever the pipe holds.
            self.cwnd = self.cwnd.max(self.pipe().saturating_add(mss));
        } else {
            // Resend from SND.UNA (go-back-N within the windows, as after
            // a timeout).
            self.snd_nxt = self.snd_una;
        }
        self.output(ctx);
        true
    }

    // ----- segment arrival (RFC 9293 3.10.7.3 and 3.10.7.4) -----

    pub fn on_segment(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        match self.state {
            TcpState::SynSent => return self.on_segment_syn_sent(ctx, seg),
            TcpState::Closed | TcpState::Listen => return,
            _ => {}
        }
        let f = seg.flags;

        // A RST in TIME-WAIT: Linux by default (tcp_rfc1337 = 0) lets one
        // at exactly RCV.NXT end it, and so do we; any other is ignored.
        // RFC 1337's full protection (ignore them all) is what Linux's
        // sysctl turns on.
        if self.state == TcpState::TimeWait && f.rst() {
            if seg.seq == self.rcv_nxt {
                ctx.counters.resets_received += 1;
                self.set_state(ctx, TcpState::Closed);
            }
            return;
        }

        // RFC 7323 5.3 R1 (PAWS): an older TSval than TS.Recent marks an old
        // duplicate: dropped and answered with an ACK. RSTs are exempt
        // (RFC 7323 5.2), as is a TS.Recent idle for 24 days (5.5). As
        // Linux (tcp_validate_incoming): a TSval one tick old passes, a
        // SYN gets a challenge ACK, an old pure ACK is dropped silently,
        // and a duplicate ACK at RCV.NXT within an RTO's worth of ticks
        // is taken (tcp_disordered_ack_check).
        if let (true, Some((val, _))) = (self.ts_ok, seg.options.timestamps) {
            if !f.rst() && !self.paws_ok(ctx.now, val) {
                if f.syn() {
                    self.challenge_ack(ctx);
                    return;
                }
                let pure_ack = f.ack() && seg.segment_len() == 0;
                if pure_ack && seq::lt(seg.seq, self.rcv_nxt) {
                    ctx.counters.paws_rejected += 1;
                    return;
                }
                if !(pure_ack && self.disordered_ack(seg, val)) {
                    ctx.counters.paws_rejected += 1;
                    self.oow_ack(ctx, seg);
                    return;
                }
            }
        }

        // First: the sequence number (RFC 9293 3.10.7.4, first check).
        if !self.acceptable(seg) {
            // Data we already have: reported as a D-SACK (RFC 2883 4.1).
            let end = seg.seq.wrapping_add(seg.payload.len() as u32);
            if self.sack_ok && !seg.payload.is_empty() && seq::le(end, self.rcv_nxt) {
                self.dsack = Some((seg.seq, end));
            }
            if self.state == TcpState::SynReceived && f.syn() && !f.ack() && seg.seq == self.irs {
                // The peer did not get our SYN-ACK: send it again now.
                self.snd_nxt = self.iss;
                self.output(ctx);
                return;
            }
            if self.state == TcpState::TimeWait && f.fin() {
                // A retransmitted FIN: our last ACK was lost (3.10.7.4 eighth).
                self.tw_until = ctx.now + ctx.time_wait;
            }
            if f.syn() {
                self.challenge_ack(ctx);
            } else if !f.rst() {
                self.oow_ack(ctx, seg);
            } else if self.reset_after_fin(seg) {
                self.reset_by_peer(ctx);
            }
            return;
        }

        // The peer is alive (RFC 1122 4.2.3.6): the keep-alive idle time
        // starts again.
        self.last_heard = ctx.now;
        self.ka_probes = 0;

        // Second: RST (RFC 5961 3.2): only an exact match resets; anything
        // else in the window gets a challenge ACK.
        if f.rst() {
            if seg.seq == self.rcv_nxt || self.reset_after_fin(seg) {
                self.reset_by_peer(ctx);
            } else {
                self.challenge_ack(ctx);
            }
            return;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 4.2, RFC 9293 3.10.7.4).
        if f.syn() {
            self.challenge_ack(ctx);
            return;
        }

        // Fifth: ACK.
        if !f.ack() {
            return;
        }
        if self.state == TcpState::SynReceived {
            if seq::lt(self.snd_una, seg.ack) && seq::le(seg.ack, self.snd_max) {
                self.snd_wnd = u32::from(seg.window) << self.snd_shift;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                let next = if self.fin_queued {
                    TcpState::FinWait1
                } else {
                    TcpState::Established
                };
                self.set_state(ctx, next);
            } else {
                super::send_rst(ctx, self.local, self.remote, seg.ack, None);
                return;
            }
        }
        // RFC 5961 5.2: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
        if seq::gt(seg.ack, self.snd_max)
            || seq::lt(seg.ack, self.snd_una.wrapping_sub(self.max_snd_wnd))
        {
            self.challenge_ack(ctx);
            return;
        }
        // RFC 7323 4.3 (R3): remember the newest TSval of a segment that
        // covers the left edge of the window, for our TSecr and for PAWS;
        // only from a segment accepted this far (as Linux, which updates it
        // with the ACK: a RST, SYN or bad ACK leaves it alone).
        if let (true, Some((val, _))) = (self.ts_ok, seg.options.timestamps) {
            if seq::le(seg.seq, self.last_ack_sent) && seq::ge(val, self.ts_recent) {
                self.ts_recent = val;
                self.ts_recent_at = ctx.now;
            }
        }
        self.on_ack(ctx, seg);
        let fin_acked = self.fin_acked();
        match self.state {
            TcpState::FinWait1 if fin_acked => self.set_state(ctx, TcpState::FinWait2),
            TcpState::Closing if fin_acked => {
                self.set_state(ctx, TcpState::TimeWait);
                return;
            }
            TcpState::LastAck if fin_acked => {
                self.set_state(ctx, TcpState::Closed);
                return;
            }
            _ => {}
        }

        // Sixth: the urgent pointer (RFC 9293 3.10.7.4 sixth, RFC 6093).
        // As Linux without SO_OOBINLINE: the pointer names the byte after
        // the urgent one (the BSD reading RFC 6093 3 documents), and that
        // one byte goes out of band: acknowledged, never in the stream.
        if seg.flags.urg()
            && seg.urgent > 0
            && matches!(
                self.state,
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
            )
        {
            let p = seg.seq.wrapping_add(u32::from(seg.urgent) - 1);
            if seq::ge(p, self.rcv_nxt) && self.urg_seq.is_none_or(|u| seq::gt(p, u)) {
                self.urg_seq = Some(p);
            }
        }

        // Seventh: the data.
        if !seg.payload.is_empty()
            && matches!(
                self.state,
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
            )
        {
            self.on_data(ctx, seg.seq, seg.payload);
        }

        // Eighth: FIN, once every byte before it is in.
        if f.fin() && !self.fin_received {
            let fin_seq = seg.seq.wrapping_add(seg.payload.len() as u32);
            if seq::ge(fin_seq, self.rcv_nxt) {
                self.ooo_fin = Some(fin_seq);
            }
        }
        self.maybe_take_fin(ctx);
        if f.fin() && !self.fin_received {
            // RFC 5681 4.2: a FIN above a hole is out-of-order data too,
            // answered at once with a duplicate ACK.
            self.ack_now = true;
        }
        self.output(ctx);
    }

    /// RFC 9293 3.10.7.3.
    fn on_segment_syn_sent(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        let f = seg.flags;
        if f.ack() && (seq::le(seg.ack, self.iss) || seq::gt(seg.ack, self.snd_max)) {
            if !f.rst() {
                super::send_rst(ctx, self.local, self.remote, seg.ack, None);
            }
            return;
        }
        if f.rst() {
            // Only with an acceptable ACK: "connection refused".
            if f.ack() {
                self.reset_by_peer(ctx);
            }
            return;
        }
        if !f.syn() {
            return;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq.wrapping_add(1);
        self.rcv_adv = self.rcv_nxt;
        self.take_syn_options(ctx.now, &seg.options);
        self.snd_wnd = u32::from(seg.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        if f.ack() {
            self.on_ack(ctx, seg);
            self.set_state(ctx, TcpState::Established);
            self.ack_now = true;
        } else {
            // Simultaneous open (RFC 9293 3.5, figure 8): SYN-ACK from SYN-RECEIVED.
            self.set_state(ctx, TcpState::SynReceived);
            // The SYN-ACK repeats our SYN's number but is no retransmission.
            self.snd_nxt = self.iss;
            self.snd_max = self.iss;
            self.sent.clear();
            self.rtt_probe = None;
            self.rtx_at = None;
        }
        self.output(ctx);
    }

    /// The peer reset the connection: counted, and the application learns.
    fn reset_by_peer(&mut self, ctx: &mut Ctx) {
        ctx.counters.resets_received += 1;
        self.fail(ctx, TcpError::Reset);
    }

    /// Linux's tcp_reset_check: a peer that resets right after its FIN
    /// may number the RST as the FIN itself (RCV.NXT - 1).
    fn reset_after_fin(&self, seg: &TcpRepr) -> bool {
        seg.seq == self.rcv_nxt.wrapping_sub(1)
            && matches!(
                self.state,
                TcpState::CloseWait | TcpState::LastAck | TcpState::Closing
            )
    }

    /// RFC 9293 3.10.7.4 first check, with the special cases for a zero
    /// window (a probe at RCV.NXT is processed for its ACK).
    fn acceptable(&self, seg: &TcpRepr) -> bool {
        let len = seg.segment_len();
        let wnd = self.rcv_adv.wrapping_sub(self.rcv_nxt);
        let wnd = if seq::lt(self.rcv_adv, self.rcv_nxt) {
            0
        } else {
            wnd
        };
        let in_window =
            |s: u32| seq::le(self.rcv_nxt, s) && seq::lt(s, self.rcv_nxt.wrapping_add(wnd));
        if seg.seq == self.rcv_nxt {
            return true;
        }
        // As Linux's tcp_sequence: a segment that starts before RCV.NXT
        // but ends at or after the last ACK we sent (its RCV.WUP) is taken
        // too, so a retransmission of data we acknowledged a moment ago,
        // or a pure ACK overtaken by the data sent after it, still has its
        // ACK and TSval processed (a duplicate's data then gets a D-SACK).
        // RFC 9293 would drop both with only an ACK in reply.
        if seq::lt(seg.seq, self.rcv_nxt)
            && seq::ge(seg.seq.wrapping_add(len), self.last_ack_sent)
            && self.state != TcpState::SynReceived
        {
            return true;
        }
        match (len, wnd) {
            (0, 0) => false,
            (0, _) => in_window(seg.seq),
            (_, 0) => false,
            _ => in_window(seg.seq) || in_window(seg.seq.wrapping_add(len - 1)),
        }
    }

    /// True once our FIN has been sent and acknowledged.
    fn fin_acked(&self) -> bool {
        self.fin_queued
            && seq::gt(
                self.snd_una,
                self.snd_buf_seq.wrapping_add(self.snd_buf.len() as u32),
            )
    }

    /// An acceptable ACK (RFC 9293 3.10.7.4 fifth, RFC 5681, RFC 6582,
    /// RFC 6298; with SACK: RFC 6675's scoreboard, RACK (RFC 8985 6) to
    /// find losses and PRR (RFC 6937) to pace the recovery).
    fn on_ack(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        let ack = seg.ack;
        let new_wnd = if seg.flags.syn() {
            u32::from(seg.window)
        } else {
            u32::from(seg.window) << self.snd_shift
        };
        let sack_mode = self.sack_mode();
        // RFC 2883 4: a first block at or below the ACK reports a duplicate.
        let dsack = self.sack_ok
            && seg
                .options
                .sack
                .as_slice()
                .first()
                .is_some_and(|&(_, r)| seq::le(r, ack));
        // RFC 8985 7.4: a D-SACK of the probe says its original got
        // through: no loss was repaired.
        if self.tlp_rtx && dsack {
            self.tlp_rtx = false;
        }
        let echo = match (self.ts_ok, seg.options.timestamps) {
            (true, Some((_, ecr))) if ecr != 0 => Some(ecr),
            _ => None,
        };
        let prior_sacked = self.sacked_bytes;
        self.ack_rtt = None;
        self.cum_rtt = None;
        let advanced = seq::gt(ack, self.snd_una);
        let mut acked = 0;
        let mut flight = 0;
        if advanced {
            acked = ack.wrapping_sub(self.snd_una);
            // Data leaves the send buffer (SYN and FIN occupy no bytes of it).
            let mut data_acked = 0;
            if seq::gt(ack, self.snd_buf_seq) {
                data_acked = (ack.wrapping_sub(self.snd_buf_seq) as usize).min(self.snd_buf.len());
                self.snd_buf.drain(..data_acked);
                self.snd_buf_seq = self.snd_buf_seq.wrapping_add(data_acked as u32);
            }
            flight = self.snd_max.wrapping_sub(self.snd_una);
            self.snd_una = ack;
            if seq::lt(self.snd_nxt, ack) {
                self.snd_nxt = ack;
            }
            self.take_cumulative(ctx.now, ack, echo, sack_mode);
            // Every ACK of new data is an RTT sample, weighted by the
            // samples expected per RTT (RFC 7323 G): from the scoreboard's
            // send times when it acknowledges a segment sent once (to the
            // microsecond, as Linux measures; the TSval clock counts
            // milliseconds, too coarse on a LAN), else with timestamps
            // from TSecr, which also times retransmissions (RFC 7323 4).
            let ts_rtt = echo
                .map(|ecr| self.ts_now(ctx.now).wrapping_sub(ecr))
                .filter(|ms| *ms < 60_000);
            if let Some(r) = self.cum_rtt.take() {
                self.rtt_probe = None;
                let expected = flight.div_ceil(2 * self.snd_mss.max(1)).max(1);
                self.rtt_sample_weighted(r, expected);
            } else if let Some(ms) = ts_rtt {
                self.rtt_probe = None;
                let expected = flight.div_ceil(2 * self.snd_mss.max(1)).max(1);
                self.rtt_sample_weighted(Duration::from_millis(u64::from(ms)), expected);
            } else if let Some((s, at)) = self.rtt_probe {
                if seq::ge(ack, s) {
                    self.rtt_probe = None;
                    self.rtt_sample(ctx.now.since(at));
                    self.ack_rtt = Some(ctx.now.since(at));
                }
            }
            self.retries = 0;
            let mss = self.snd_mss;
            if self.in_recovery {
                if seq::ge(ack, self.recover) {
                    // RFC 6582 3.2 step 3, RFC 6675 5: full acknowledgment,
                    // leave recovery; after a fast recovery the window is
                    // ssthresh (RFC 6937), after a timeout it kept growing
                    // in slow start.
                    self.in_recovery = false;
                    if std::mem::take(&mut self.rto_recovery) {
                        // Slow start kept growing it.
                    } else if sack_mode {
                        // RFC 6937 3: PRR ends with cwnd = ssthresh (not
                        // the flight, which a stretch ACK may have drained).
                        self.cwnd = self.ssthresh;
                    } else {
                        let flight = self.snd_max.wrapping_sub(self.snd_una);
                        self.cwnd = self.ssthresh.min(flight.max(mss) + mss);
                    }
                    // RFC 8985 6.2 step 4: the reordering window's growth
                    // lasts 16 recoveries without a D-SACK.
                    self.rack.reo_wnd_persist = self.rack.reo_wnd_persist.saturating_sub(1);
                    if self.rack.reo_wnd_persist == 0 {
                        self.rack.reo_wnd_mult = 1;
                    }
                } else if self.rto_recovery && self.cwnd_may_grow() {
                    // RFC 5681 3.1: after a timeout, slow start.
                    self.cwnd = self.cc.on_ack(
                        ctx.now,
                        self.cwnd,
                        self.ssthresh,
                        data_acked as u32,
                        mss,
                        self.srtt,
                    );
                } else if !sack_mode {
                    // RFC 6582 3.2 step 4: partial ACK, retransmit the next hole.
                    self.retransmit_first(ctx);
                    self.cwnd = self.cwnd.saturating_sub(acked).max(mss);
                    if acked >= mss {
                        self.cwnd = self.cwnd.saturating_add(mss);
                    }
                }
            } else {
                // CUBIC's initial slow start (ssthresh not yet set) runs
                // HyStart++ (RFC 9406 4.2).
                let phase = if self.ssthresh == u32::MAX && self.cc.algorithm() == Algorithm::Cubic
                {
                    self.hystart.on_ack(ack, self.snd_nxt, self.ack_rtt)
                } else {
                    Phase::SlowStart
                };
                match phase {
                    Phase::Exit => {
                        ctx.counters.hystart_exits += 1;
                        self.ssthresh = self.cwnd;
                    }
                    // Not limited by the window: what it allows is untested.
                    _ if !self.cwnd_may_grow() => {}
                    Phase::Conservative => {
                        let grow = (data_acked as u32).min(mss) / CSS_GROWTH_DIVISOR;
                        self.cwnd = self.cwnd.saturating_add(grow.max(1));
                    }
                    // Slow start or congestion avoidance: the algorithm's.
                    Phase::SlowStart => {
                        self.cwnd = self.cc.on_ack(
                            ctx.now,
                            self.cwnd,
                            self.ssthresh,
                            data_acked as u32,
                            mss,
                            self.srtt,
                        );
                    }
                }
            }
            self.dup_acks = 0;
            // RFC 6298 5.2/5.3: stop the timer when all is acked, else restart it.
            self.rtx_at = if self.snd_una == self.snd_max {
                None
            } else {
                Some(ctx.now + self.rto)
            };
        } else if ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.syn()
            && !seg.flags.fin()
            && new_wnd == self.snd_wnd
            && new_wnd != 0
            && self.snd_max != self.snd_una
        {
            // RFC 5681 2 (e) is met by repeated zero windows too, but those
            // ACKs answer window probes; they say nothing about a loss.
            // RFC 5681 2: a duplicate ACK.
            ctx.counters.dup_acks_received += 1;
            self.dup_acks += 1;
            let mss = self.snd_mss;
            if sack_mode {
                // RACK, below.
            } else if self.dup_acks == 3 && !self.in_recovery {
                // RFC 6582 3.2 step 2: only if this ACK covers more than
                // `recover` (the highest byte sent, SND.MAX - 1 here).
                if seq::ge(ack, self.recover) {
                    // RFC 5681 3.2 step 2: what limited transmit sent
                    // (beyond cwnd) does not count in FlightSize.
                    let flight = self.snd_max.wrapping_sub(self.snd_una).min(self.cwnd);
                    self.ssthresh = self.cc.on_congestion(ctx.now, self.cwnd, flight, mss);
                    self.recover = self.snd_max;
                    self.in_recovery = true;
                    ctx.counters.fast_retransmits += 1;
                    self.retransmit_first(ctx);
                    self.cwnd = self.ssthresh + 3 * mss;
                }
            } else if self.in_recovery && self.dup_acks > 3 {
                // RFC 5681 3.2 step 4: inflate for each segment that left.
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
        if self.sack_ok {
            self.take_sack(ctx.now, seg, echo);
        }
        if sack_mode {
            if dsack {
                if let Some(&b) = seg.options.sack.as_slice().first() {
                    self.rack_on_dsack(b);
                }
            }
            // RFC 8985 6.2 step 5: losses by time; RFC 6675 5: a loss
            // starts a recovery (once per window: `recover`).
            if self.sacked_segs > 0 || self.in_recovery {
                self.rack_detect_loss(ctx);
            }
            if !self.in_recovery && self.lost_bytes > 0 {
                self.enter_recovery(ctx);
            }
            if self.in_recovery && !self.rto_recovery {
                let delivered = acked
                    .saturating_add(self.sacked_bytes)
                    .saturating_sub(prior_sacked);
                self.prr_update(delivered);
            }
        }
        if advanced {
            // RFC 8985 7.4: the probe's episode ends when its data is
            // acked; if the probe resent the last segment and no D-SACK
            // came, it repaired a loss: the congestion response of a fast
            // recovery.
            if self.tlp_end.is_some_and(|end| seq::ge(ack, end)) {
                self.tlp_end = None;
                if std::mem::take(&mut self.tlp_rtx) && !self.in_recovery {
                    ctx.counters.tail_loss_probe_recoveries += 1;
                    let mss = self.snd_mss;
                    self.ssthresh = self.cc.on_congestion(ctx.now, self.cwnd, flight, mss);
                    self.cwnd = self.ssthresh;
                }
            }
        }
        // An ACK of new data, or with SACK any ACK (the path is alive):
        // the probe waits a PTO from now, or not at all while RACK's timer
        // watches (see `arm_tlp`).
        if advanced || sack_mode {
            self.arm_tlp(ctx.now);
        }
        // RFC 9293 3.10.7.4: update the send window from the newest segment.
        if seq::lt(self.snd_wl1, seg.seq) || (self.snd_wl1 == seg.seq && seq::le(self.snd_wl2, ack))
        {
            self.snd_wnd = new_wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(new_wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if new_wnd > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
    }

    /// SACK recovery and RACK run once the handshake is over.
    fn sack_mode(&self) -> bool {
        self.sack_ok && !matches!(self.state, TcpState::SynSent | TcpState::SynReceived)
    }

    /// Starts a fast recovery (RFC 6675 5 steps 4.1-4.2, RFC 6937): the
    /// algorithm's ssthresh; PRR paces the window down to it.
    fn enter_recovery(&mut self, ctx: &mut Ctx) {
        let mss = self.snd_mss;
        let flight = self.snd_max.wrapping_sub(self.snd_una);
        self.ssthresh = self.cc.on_congestion(ctx.now, self.cwnd, flight, mss);
        self.prior_cwnd = self.cwnd.max(mss);
        self.prr_delivered = 0;
        self.prr_out = 0;
        self.recover = self.snd_max;
        self.in_recovery = true;
        self.rto_recovery = false;
        self.tlp_at = None;
        ctx.counters.fast_retransmits += 1;
    }

    /// RFC 6937 3: the window for this ACK of `delivered` bytes (newly
    /// acknowledged or SACKed): in proportion to the deliveries while
    /// the pipe is above ssthresh, then slow start back up to it
    /// (PRR-SSRB); at least one segment goes at the start of a recovery
    /// (the fast retransmit).
    fn prr_update(&mut self, delivered: u32) {
        let mss = self.snd_mss;
        self.prr_delivered = self.prr_delivered.saturating_add(delivered);
        let pipe = self.pipe();
        let mut sndcnt = if pipe > self.ssthresh {
            let target = (u64::from(self.prr_delivered) * u64::from(self.ssthresh))
                .div_ceil(u64::from(self.prior_cwnd.max(1)));
            (target.min(u64::from(u32::MAX)) as u32).saturating_sub(self.prr_out)
        } else {
            let limit = self
                .prr_delivered
                .saturating_sub(self.prr_out)
                .max(delivered)
                .saturating_add(mss);
            limit.min(self.ssthresh - pipe)
        };
        if self.prr_out == 0 {
            sndcnt = sndcnt.max(mss);
        }
        self.cwnd = pipe.saturating_add(sndcnt);
    }

    /// RFC 6675 4 SetPipe, as Linux's packets in flight: the bytes sent
    /// and neither acknowledged, SACKed nor marked lost (a retransmitted
    /// segment counts once, until it is marked lost again).
    fn pipe(&self) -> u32 {
        self.snd_max
            .wrapping_sub(self.snd_una)
            .saturating_sub(self.sacked_bytes)
            .saturating_sub(self.lost_bytes)
    }

    /// Drops the cumulatively acknowledged segments from the scoreboard;
    /// with SACK, each one not SACKed before is a delivery for RACK.
    fn take_cumulative(&mut self, now: Instant, ack: u32, echo: Option<u32>, rack: bool) {
        while let Some(first) = self.sent.front_mut() {
            if seq::le(first.end, ack) {
                let g = *first;
                self.sent.pop_front();
                self.forget(&g);
                if !g.retransmitted && self.cum_rtt.is_none() {
                    self.cum_rtt = Some(now.since(g.xmit));
                }
                if rack && !g.sacked {
                    self.rack_delivered(now, &g, echo);
                }
            } else {
                // Part of a segment (re-segmented, or a receiver that
                // trimmed it): the rest stays.
                if seq::lt(first.start, ack) {
                    let cut = ack.wrapping_sub(first.start);
                    if first.sacked {
                        self.sacked_bytes = self.sacked_bytes.saturating_sub(cut);
                    }
                    if first.lost {
                        self.lost_bytes = self.lost_bytes.saturating_sub(cut);
                    }
                    first.start = ack;
                }
                break;
            }
        }
    }

    /// Takes a segment leaving the scoreboard out of its counts.
    fn forget(&mut self, g: &Sent) {
        if g.sacked {
            self.sacked_bytes = self.sacked_bytes.saturating_sub(g.len());
            self.sacked_segs = self.sacked_segs.saturating_sub(1);
        }
        if g.lost {
            self.lost_bytes = self.lost_bytes.saturating_sub(g.len());
        }
    }

    /// RFC 8985 6.2 steps 2 and 3 for one newly delivered segment: the
    /// most recently sent delivery and its RTT, and reordering.
    fn rack_delivered(&mut self, now: Instant, g: &Sent, echo: Option<u32>) {
        // Step 3: a segment never resent, delivered below one sent after
        // it that was delivered first: the network reordered them.
        if seq::gt(g.end, self.rack.fack) {
            self.rack.fack = g.end;
        } else if seq::lt(g.end, self.rack.fack) && !g.retransmitted {
            self.rack.reord = true;
        }
        let rtt = now.since(g.xmit);
        if g.retransmitted {
            // Step 2: the ACK may be for the original: then the echo is
            // older than the retransmission, or the RTT implausibly short.
            if echo.is_some_and(|ecr| seq::lt(ecr, self.ts_now(g.xmit))) {
                return;
            }
            if self.rack.min_rtt.is_some_and(|m| rtt < m) {
                return;
            }
        } else {
            if self.rack.min_rtt.is_none_or(|m| rtt < m) {
                self.rack.min_rtt = Some(rtt);
            }
            self.ack_rtt = Some(rtt);
        }
        self.rack.rtt = rtt;
        let later = match self.rack.xmit {
            None => true,
            Some((o, end)) => sent_after(g.order, g.end, o, end),
        };
        if later {
            self.rack.xmit = Some((g.order, g.end));
        }
    }

    /// RFC 8985 6.2 step 4, the D-SACK part: a D-SACK in a new round
    /// widens the reordering window by a quarter of min RTT more, for the
    /// next 16 recoveries. A D-SACK also means a retransmission was
    /// spurious (RFC 3708): the original was delayed, not lost, which is
    /// reordering (RACK.reord), as Linux counts it; without this the
    /// window would stay 0 and every such delay cost a retransmission.
    fn rack_on_dsack(&mut self, block: (u32, u32)) {
        if seq::lt(block.0, self.rack.rtx_high) {
            self.rack.reord = true;
        }
        if self
            .rack
            .dsack_round
            .is_some_and(|r| seq::ge(self.snd_una, r))
        {
            self.rack.dsack_round = None;
        }
        if self.rack.dsack_round.is_none() {
            self.rack.dsack_round = Some(self.snd_max);
            self.rack.reo_wnd_mult = self.rack.reo_wnd_mult.saturating_add(1).min(64);
            self.rack.reo_wnd_persist = 16;
        }
    }

    /// RFC 8985 6.2 step 4: the reordering window. None (0) while no
    /// reordering was seen and either a recovery runs or DupThresh
    /// segments are SACKed (then RACK acts as RFC 6675's DupThresh);
    /// otherwise a quarter of the minimum RTT per multiple, at most SRTT.
    fn reo_wnd(&self) -> Duration {
        if !self.rack.reord && (self.in_recovery || self.sacked_segs >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let Some(min_rtt) = self.rack.min_rtt else {
            return Duration::ZERO;
        };
        let w = min_rtt * self.rack.reo_wnd_mult / 4;
        match self.srtt {
            Some(srtt) => w.min(srtt),
            None => w,
        }
    }

    /// RFC 8985 6.2 step 5: every segment sent before the most recently
    /// sent delivered one, not SACKed, is lost once RACK.rtt + reo_wnd
    /// has passed since it was sent; for the others not yet due the RACK
    /// timer is armed. Returns whether any was newly marked.
    fn rack_detect_loss(&mut self, ctx: &mut Ctx) -> bool {
        self.rack.timer = None;
        let Some((rack_o, rack_end)) = self.rack.xmit else {
            return false;
        };
        let wait = self.rack.rtt + self.reo_wnd();
        let now = ctx.now;
        let mut timer: Option<Instant> = None;
        let mut marked = 0u32;
        let mut newly_lost = 0u32;
        for g in self.sent.iter_mut() {
            if g.sacked || g.lost {
                continue;
            }
            if !sent_after(rack_o, rack_end, g.order, g.end) {
                // Segments sent once go out in order: none past this one
                // was sent before RACK.xmit_ts (a resent one went later
                // than its original).
                if !g.retransmitted {
                    break;
                }
                continue;
            }
            let due = g.xmit + wait;
            if due <= now {
                g.lost = true;
                newly_lost = newly_lost.saturating_add(g.len());
                marked += 1;
            } else {
                timer = Some(timer.map_or(due, |t| t.max(due)));
            }
        }
        self.lost_bytes = self.lost_bytes.saturating_add(newly_lost);
        ctx.counters.rack_marked_lost += u64::from(marked);
        self.rack.timer = timer;
        marked > 0
    }

    /// The RACK timer expired (RFC 8985 6.2 step 5): the segments it
    /// waited for are lost if nothing arrived for them meanwhile.
    fn on_rack_timer(&mut self, ctx: &mut Ctx) {
        self.rack.timer = None;
        if !self.sack_mode() {
            return;
        }
        if self.rack_detect_loss(ctx) {
            ctx.counters.rack_timer_losses += 1;
            if !self.in_recovery {
                self.enter_recovery(ctx);
                self.prr_update(0);
            }
            self.output(ctx);
        }
    }

    /// RFC 6298 2.2 and 2.3.
    fn rtt_sample(&mut self, r: Duration) {
        self.rtt_sample_weighted(r, 1);
    }

    /// RFC 6298 2.3 with alpha and beta divided by the samples expected in
    /// one RTT (RFC 7323 appendix G), so per-ACK samples weigh as one.
    fn rtt_sample_weighted(&mut self, r: Duration, expected: u32) {
        let k = expected.max(1);
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(r);
                self.rttvar = self.rttvar - self.rttvar / (4 * k) + diff / (4 * k);
                self.srtt = Some(srtt - srtt / (8 * k) + r / (8 * k));
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.rto = (srtt + CLOCK_G.max(self.rttvar * 4)).clamp(MIN_RTO, MAX_RTO);
    }

    /// Resends one segment from SND.UNA (fast retransmit, partial ACK),
    /// never past the send window (RFC 9293 3.8.6: the window may have shrunk
    /// or closed since the data first went out; the persist timer handles 0).
    fn retransmit_first(&mut self, ctx: &mut Ctx) {
        if self.snd_wnd == 0 {
            return;
        }
        let (len, fin) = self.segment_at(self.snd_una, self.snd_wnd);
        if len > 0 || fin {
            self.emit(ctx, self.snd_una, len, fin, false);
        }
    }

    /// In-order data goes to the application's buffer; the rest is kept
    /// in order (RFC 9293 3.10.7.4 seventh, RFC 5681 4.2 for the ACKs).
    fn on_data(&mut self, ctx: &mut Ctx, mut s: u32, mut data: &[u8]) {
        if seq::lt(s, self.rcv_nxt) {
            let skip = self.rcv_nxt.wrapping_sub(s) as usize;
            if self.sack_ok {
                // The part we had already: a D-SACK (RFC 2883 4.1).
                let dup_end = s.wrapping_add(skip.min(data.len()) as u32);
                self.dsack = Some((s, dup_end));
            }
            if skip >= data.len() {
                self.ack_now = true;
                return;
            }
            data = &data[skip..];
            s = self.rcv_nxt;
        }
        // Never store more than the buffer has room for.
        let room = self.free_space() as usize;
        let off = s.wrapping_sub(self.rcv_nxt) as usize;
        if off >= room {
            self.ack_now = true;
            return;
        }
        data = &data[..data.len().min(room - off)];
        if s == self.rcv_nxt {
            self.append(data);
            if self.ooo.is_empty() {
                // RFC 1122 4.2.3.2: ACK at least every second full segment,
                // otherwise within DELACK.
                self.segs_unacked += 1;
                if self.segs_unacked >= 2 {
                    self.ack_now = true;
                } else if self.delack_at.is_none() {
                    self.delack_at = Some(ctx.now + DELACK);
                }
            } else {
                // RFC 5681 4.2: ACK at once when a segment fills a hole.
                self.drain_ooo();
                self.ack_now = true;
            }
        } else {
            // RFC 5681 4.2: an out-of-order segment gets an immediate (duplicate) ACK.
            ctx.counters.out_of_order += 1;
            self.last_ooo = Some(s);
            self.ooo_insert(ctx, s, data);
            self.ack_now = true;
        }
    }

    fn ooo_insert(&mut self, ctx: &mut Ctx, s: u32, data: &[u8]) {
        let at = self.ooo.partition_point(|(q, _)| seq::lt(*q, s));
        if self.ooo.len() >= MAX_OOO_SEGMENTS {
            ctx.counters.out_of_order_dropped += 1;
            return;
        }
        self.ooo.insert(at, (s, data.to_vec()));
        // Trim overlaps so every byte is stored once, and join adjacent
        // runs: after one loss the rest of the window arrives in order
        // behind the hole and must fit one entry, not one per segment.
        let mut merged: Vec<(u32, Vec<u8>)> = Vec::with_capacity(self.ooo.len());
        for (q, d) in std::mem::take(&mut self.ooo) {
            if let Some((pq, pd)) = merged.last_mut() {
                let end = pq.wrapping_add(pd.len() as u32);
                if seq::le(q, end) {
                    let cut = end.wrapping_sub(q) as usize;
                    if cut < d.len() {
                        pd.extend_from_slice(&d[cut..]);
                    }
                    continue;
                }
            }
            merged.push((q, d));
        }
        self.ooo = merged;
    }

    /// Moves the segments that are now in order into the receive buffer.
    fn drain_ooo(&mut self) {
        while let Some((q, _)) = self.ooo.first() {
            if seq::gt(*q, self.rcv_nxt) {
                break;
            }
            let (q, d) = self.ooo.remove(0);
            let skip = self.rcv_nxt.wrapping_sub(q) as usize;
            if skip < d.len() {
                self.append(&d[skip..]);
            }
        }
    }

    /// In-order `data` at RCV.NXT into the application's buffer, less the
    /// urgent byte if it is among them; RCV.NXT covers it all.
    fn append(&mut self, data: &[u8]) {
        let at = self
            .urg_seq
            .map(|u| u.wrapping_sub(self.rcv_nxt) as usize)
            .filter(|&i| i < data.len());
        match at {
            Some(i) => {
                self.rcv_buf.extend(&data[..i]);
                self.rcv_buf.extend(&data[i + 1..]);
                self.urg_seq = None;
            }
            None => self.rcv_buf.extend(data),
        }
        self.rcv_nxt = self.rcv_nxt.wrapping_add(data.len() as u32);
    }

    /// The FIN is processed once RCV.NXT reaches it (RFC 9293 3.10.7.4 eighth).
    fn maybe_take_fin(&mut self, ctx: &mut Ctx) {
        if self.ooo_fin != Some(self.rcv_nxt) || self.fin_received {
            return;
        }
        self.ooo_fin = None;
        self.fin_received = true;
        self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
        match self.state {
            TcpState::SynReceived | TcpState::Established => {
                // As Linux (tcp_fin enters pingpong mode): the ACK of a
                // FIN in ESTABLISHED waits the delayed-ACK time, so the
                // application's answer to the end of input (its own FIN,
                // a last reply) carries it; a peer still gets it within
                // DELACK (RFC 1122 4.2.3.2).
                if !self.ack_now {
                    self.delack_at = Some(ctx.now + DELACK);
                }
                self.set_state(ctx, TcpState::CloseWait)
            }
            TcpState::FinWait1 => {
                self.ack_now = true;
                // Simultaneous close (RFC 9293 3.6, figure 13) unless our FIN is acked.
                let next = if self.fin_acked() {
                    TcpState::TimeWait
                } else {
                    TcpState::Closing
                };
                self.set_state(ctx, next);
            }
            TcpState::FinWait2 => {
                self.ack_now = true;
                self.set_state(ctx, TcpState::TimeWait)
            }
            _ => self.ack_now = true,
        }
    }

    // ----- output -----

    /// Bytes of receive buffer not holding in-order data.
    fn free_space(&self) -> u32 {
        self.rcv_cap.saturating_sub(self.rcv_buf.len()) as u32
    }

    /// RFC 1122 4.2.3.3 (receiver SWS avoidance): move the right edge only
    /// by at least min(buffer / 2, MSS).
    fn edge_may_advance(&self) -> bool {
        let edge = self.rcv_nxt.wrapping_add(self.free_space());
        let step = (self.rcv_cap as u32 / 2).min(self.rcv_mss).max(1);
        seq::ge(edge, self.rcv_adv.wrapping_add(step))
    }

    /// What is left of the last advertised window (data may have been
    /// taken past it, e.g. a zero-window probe: then 0).
    fn advertised_window(&self) -> u32 {
        if seq::lt(self.rcv_adv, self.rcv_nxt) {
            0
        } else {
            self.rcv_adv.wrapping_sub(self.rcv_nxt)
        }
    }

    /// The window field to send, advancing the advertised edge when allowed.
    fn window_field(&mut self, syn: bool) -> u16 {
        if seq::lt(self.rcv_adv, self.rcv_nxt) {
            self.rcv_adv = self.rcv_nxt;
        }
        if syn {
            // Never scaled in a SYN (RFC 7323 2.2).
            let w = self.free_space().min(u32::from(u16::MAX));
            self.rcv_adv = self.rcv_nxt.wrapping_add(w);
            return w as u16;
        }
        if self.edge_may_advance() {
            let max = u32::from(u16::MAX) << self.rcv_shift;
            self.rcv_adv = self.rcv_nxt.wrapping_add(self.free_space().min(max));
        }
        let wnd = self.advertised_window();
        // Round up when the buffer can back it, so the peer never sees the
        // edge move left because of the scale's granularity (RFC 7323 2.4).
        let unit = 1u32 << self.rcv_shift;
        let mut field = wnd >> self.rcv_shift;
        if !wnd.is_multiple_of(unit) && (field + 1) * unit <= self.free_space() {
            field += 1;
            self.rcv_adv = self.rcv_nxt.wrapping_add(field * unit);
        }
        field.min(u32::from(u16::MAX)) as u16
    }

    /// How much data (and whether the FIN) a segment starting at `s` carries,
    /// at most `limit` bytes and one MSS.
    fn segment_at(&self, s: u32, limit: u32) -> (u32, bool) {
        if seq::lt(s, self.snd_buf_seq) {
            return (0, false);
        }
        let off = s.wrapping_sub(self.snd_buf_seq) as usize;
        let unsent = self.snd_buf.len().saturating_sub(off) as u32;
        let len = unsent.min(limit).min(self.seg_mss());
        let fin_seq = self.snd_buf_seq.wrapping_add(self.snd_buf.len() as u32);
        let fin = self.fin_queued && s.wrapping_add(len) == fin_seq;
        (len, fin)
    }

    /// Sends what the windows allow, the FIN when due, and any owed ACK.
    pub fn output(&mut self, ctx: &mut Ctx) {
        match self.state {
            TcpState::Closed | TcpState::Listen => return,
            TcpState::SynSent | TcpState::SynReceived => {
                if self.snd_nxt == self.iss {
                    self.emit(ctx, self.iss, 0, false, false);
                    self.snd_nxt = self.iss.wrapping_add(1);
                } else if self.ack_now && self.state == TcpState::SynReceived {
                    self.send_ack(ctx);
                }
                return;
            }
            TcpState::TimeWait => {
                if self.ack_now {
                    self.send_ack(ctx);
                }
                return;
            }
            _ => {}
        }
        self.restart_after_idle(ctx.now);
        let mut sent = false;
        if self.sack_mode() {
            sent = self.transmit(ctx);
        }
        while !self.sack_mode() {
            let in_flight = self.snd_nxt.wrapping_sub(self.snd_una);
            let wnd = self
                .snd_wnd
                .min(self.cwnd.saturating_add(self.limited_transmit()));
            let avail = wnd.saturating_sub(in_flight);
            let (len, fin) = self.segment_at(self.snd_nxt, avail);
            if len == 0 && !fin {
                break;
            }
            let (whole, _) = self.segment_at(self.snd_nxt, u32::MAX);
            // RFC 1122 4.2.3.4 (sender SWS avoidance): a short segment only
            // if it empties the queue or nothing is in flight.
            if len < whole && len < self.seg_mss() && in_flight > 0 {
                break;
            }
            if self.nagle_holds(self.snd_nxt, len, fin) {
                break;
            }
            let s = self.snd_nxt;
            self.emit(ctx, s, len, fin, false);
            self.snd_nxt = s.wrapping_add(len + u32::from(fin));
            sent = true;
        }
        let flight = if self.sack_mode() {
            self.pipe()
        } else {
            self.snd_nxt.wrapping_sub(self.snd_una)
        };
        self.validate_cwnd(flight, sent);
        if sent {
            self.arm_tlp(ctx.now);
        }
        if !sent && self.ack_now {
            self.send_ack(ctx);
        }
        // RFC 9293 3.8.6.1: with data waiting, a zero window and nothing in
        // flight, the persist timer probes the window.
        let (unsent, _) = self.segment_at(self.snd_nxt, u32::MAX);
        if unsent > 0
            && self.snd_wnd == 0
            && self.snd_nxt == self.snd_una
            && self.persist_at.is_none()
        {
            self.persist_at = Some(ctx.now + self.persist_interval());
        }
    }

    /// RFC 3042 limited transmit, without SACK (the SACK scoreboard's pipe
    /// already leaves out what a duplicate ACK reports as arrived): each of
    /// the first two duplicate ACKs lets one more segment of new data go
    /// beyond cwnd, which stays unchanged, so a small window still gets
    /// the three duplicate ACKs of a fast retransmit. Linux does the same
    /// by counting a duplicate ACK as one segment delivered.
    fn limited_transmit(&self) -> u32 {
        if self.in_recovery || self.dup_acks >= DUP_THRESH {
            return 0;
        }
        self.dup_acks * self.seg_mss()
    }

    /// Whether an ACK may grow the window, as Linux's tcp_is_cwnd_limited:
    /// in slow start while cwnd is under twice the most that was in flight
    /// in the last window, else only if the last window was held back by
    /// cwnd. A sender limited by the application or the peer's window
    /// does not test a larger cwnd, so it does not earn one (RFC 7661 4,
    /// RFC 9438 5.8); without this a clean transfer into a 256 KiB receive
    /// window ends with a cwnd of tens of megabytes, and its losses then
    /// reduce nothing the sender uses.
    fn cwnd_may_grow(&self) -> bool {
        if self.cwnd < self.ssthresh {
            u64::from(self.cwnd) < 2 * u64::from(self.max_flight)
        } else {
            self.cwnd_limited
        }
    }

    /// After sending: records whether cwnd held the sender back, once per
    /// window of data, keeping the strongest sign (Linux's
    /// tcp_cwnd_validate). `flight` is the pipe (with SACK) or SND.NXT -
    /// SND.UNA.
    fn validate_cwnd(&mut self, flight: u32, sent: bool) {
        let limited = flight.saturating_add(self.seg_mss()) > self.cwnd;
        if !sent && !limited {
            return;
        }
        if !seq::lt(self.snd_una, self.cwnd_usage_seq)
            || limited
            || (!self.cwnd_limited && flight > self.max_flight)
        {
            self.cwnd_limited = limited;
            self.max_flight = flight;
            self.cwnd_usage_seq = self.snd_nxt;
        }
    }

    /// RFC 5681 4.1, as Linux's tcp_cwnd_restart: new data after more than
    /// an RTO with nothing in flight starts from at most the initial
    /// window, the old window halved for each RTO of silence (the path
    /// may have changed meanwhile); ssthresh keeps 3/4 of the old window
    /// so slow start climbs back quickly. CUBIC's epoch skips the idle
    /// time either way (Linux's CA_EVENT_TX_START, RFC 9438 5.8).
    fn restart_after_idle(&mut self, now: Instant) {
        let Some(last) = self.last_data_sent else {
            return;
        };
        // Something in flight (the common case, checked first): not idle.
        if self.snd_una != self.snd_max {
            return;
        }
        let (unsent, fin) = self.segment_at(self.snd_nxt, u32::MAX);
        if unsent == 0 && !fin {
            return;
        }
        // The idle time is spent once, even if the window lets nothing go.
        self.last_data_sent = Some(now);
        let idle = now.since(last);
        self.cc.on_idle(now, idle);
        let restart = initial_cwnd(self.snd_mss).min(self.cwnd);
        if idle <= self.rto || self.cwnd <= restart {
            return;
        }
        if !self.in_recovery {
            self.ssthresh = self.ssthresh.max(self.cwnd / 4 * 3);
        }
        let mut cwnd = self.cwnd;
        let mut left = idle;
        while left > self.rto && cwnd > restart {
            cwnd >>= 1;
            left -= self.rto;
        }
        self.cwnd = cwnd.max(restart);
    }

    fn persist_interval(&self) -> Duration {
        (self.rto * 2u32.saturating_pow(self.persist_backoff)).min(MAX_PERSIST)
    }

    /// A bare ACK for the current state.
    fn send_ack(&mut self, ctx: &mut Ctx) {
        let s = self.snd_nxt;
        self.emit(ctx, s, 0, false, false);
    }

    /// An ACK answering a suspicious RST or SYN, rate limited (RFC 5961 7):
    /// per connection as any out-of-window ACK, then stack-wide.
    fn challenge_ack(&mut self, ctx: &mut Ctx) {
        if self.oow_limited(ctx.now) || !ctx.challenge.allow(ctx.now) {
            ctx.counters.challenge_acks_suppressed += 1;
            return;
        }
        ctx.counters.challenge_acks += 1;
        self.send_ack(ctx);
    }

    /// The duplicate ACK for a segment that is not acceptable (RFC 9293
    /// 3.10.7.4 first check) or fails PAWS. Segments with data always get
    /// it (the peer may be retransmitting into a lost ACK); others at most
    /// once per `OOW_ACK_INTERVAL`, as Linux's tcp_oow_rate_limited.
    fn oow_ack(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        if seg.payload.is_empty() && !seg.flags.fin() && self.oow_limited(ctx.now) {
            ctx.counters.oow_acks_suppressed += 1;
            return;
        }
        self.send_ack(ctx);
    }

    /// True if an out-of-window ACK went less than `OOW_ACK_INTERVAL` ago;
    /// else notes that one goes now.
    fn oow_limited(&mut self, now: Instant) -> bool {
        if self
            .last_oow_ack
            .is_some_and(|t| now.since(t) < OOW_ACK_INTERVAL)
        {
            return true;
        }
        self.last_oow_ack = Some(now);
        false
    }

    /// PAWS (RFC 7323 5.3 R1) passes for `val`: not older than TS.Recent
    /// by more than `PAWS_WINDOW`, or TS.Recent is unset or stale (5.5).
    fn paws_ok(&self, now: Instant, val: u32) -> bool {
        self.ts_recent.wrapping_sub(val) as i32 <= PAWS_WINDOW as i32
            || self.ts_recent == 0
            || now.since(self.ts_recent_at) >= PAWS_IDLE
    }

    /// Linux's tcp_disordered_ack_check: a pure duplicate ACK at RCV.NXT
    /// that could not update the send window (RFC 9293 3.10.7.4: SND.WL1
    /// and the window) and whose TSval is older by less than an RTO's
    /// worth of milliseconds is a reordered ACK, not an old duplicate, and
    /// is processed (it may carry SACK information).
    fn disordered_ack(&self, seg: &TcpRepr, val: u32) -> bool {
        let wnd = u32::from(seg.window) << self.snd_shift;
        let may_update_window = seq::gt(seg.seq, self.snd_wl1)
            || (seg.seq == self.snd_wl1 && (wnd > self.snd_wnd || wnd == 0));
        seg.seq == self.rcv_nxt
            && seg.ack == self.snd_una
            && !may_update_window
            && self.ts_recent.wrapping_sub(val) <= self.rto.as_millis() as u32
    }

    /// Builds and queues one segment starting at `s` with `len` bytes of
    /// the send buffer, plus SYN in the handshake states and FIN if `fin`.
    /// A window `probe` neither arms the retransmission timer nor is timed.
    fn emit(&mut self, ctx: &mut Ctx, s: u32, len: u32, fin: bool, probe: bool) {
        let syn = matches!(self.state, TcpState::SynSent | TcpState::SynReceived) && s == self.iss;
        let mut flags = Flags::NONE;
        if self.state != TcpState::SynSent {
            flags = flags | Flags::ACK;
        }
        if syn {
            flags = flags | Flags::SYN;
        }
        if fin {
            flags = flags | Flags::FIN;
        }
        let consumed = len + u32::from(syn) + u32::from(fin);
        if consumed > 0 {
            let end = s.wrapping_add(consumed);
            let rtx = seq::lt(s, self.snd_max) && !probe;
            if rtx {
                // Karn's rule (RFC 6298 3): no sample across a retransmission.
                self.rtt_probe = None;
                self.retransmits += 1;
                ctx.counters.retransmits += 1;
            } else if !probe && self.rtt_probe.is_none() {
                self.rtt_probe = Some((end, ctx.now));
            }
            if !rtx && !probe && len > 0 {
                self.last_data_sent = Some(ctx.now);
                if len < self.seg_mss() {
                    self.snd_sml = end;
                }
            }
            if !probe {
                self.note_sent(ctx.now, s, end);
            }
            if seq::gt(end, self.snd_max) {
                self.snd_max = end;
            }
            if !probe && self.rtx_at.is_none() {
                self.rtx_at = Some(ctx.now + self.rto);
            }
        }
        let data_off = s.wrapping_sub(self.snd_buf_seq) as usize;
        if len > 0 && data_off + len as usize == self.snd_buf.len() {
            flags = flags | Flags::PSH;
        }
        let mut options = TcpOptions::default();
        if syn {
            options.mss = Some(self.rcv_mss as u16);
            options.window_scale = match self.state {
                TcpState::SynSent => Some(self.rcv_shift),
                _ if self.peer_ws => Some(self.rcv_shift),
                _ => None,
            };
            // Offered in our SYN; in a SYN-ACK only when the SYN offered them
            // (RFC 2018 2, RFC 7323 3.2), as Linux does.
            if self.state == TcpState::SynSent {
                options.sack_permitted = true;
                options.timestamps = Some((self.ts_now(ctx.now), 0));
            } else {
                options.sack_permitted = self.sack_ok;
                if self.ts_ok {
                    options.timestamps = Some((self.ts_now(ctx.now), self.ts_recent));
                }
            }
        } else {
            // RFC 7323 3.2: on every segment once negotiated.
            if self.ts_ok {
                options.timestamps = Some((self.ts_now(ctx.now), self.ts_recent));
            }
            if flags.ack() {
                options.sack = self.sack_blocks();
            }
        }
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: s,
            ack: self.rcv_nxt,
            flags,
            window: self.window_field(syn),
            urgent: 0,
            options,
            payload: &[],
        };
        super::push_segment(ctx, self.local.ip(), self.remote.ip(), &repr, s, len);
        if flags.ack() {
            self.ack_now = false;
            self.delack_at = None;
            self.segs_unacked = 0;
            self.last_ack_sent = self.rcv_nxt;
            self.dsack = None;
        }
    }

    /// Our TSval: a millisecond clock plus the connection's offset.
    fn ts_now(&self, now: Instant) -> u32 {
        (now.millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Data bytes per segment: the MSS less the options every segment
    /// carries now (RFC 6691: the MSS counts no options).
    fn seg_mss(&self) -> u32 {
        let mut opts = 0;
        if self.ts_ok {
            opts += 12;
        }
        let n = self.sack_blocks().len() as u32;
        if n > 0 {
            opts += 4 + 8 * n;
        }
        self.snd_mss.saturating_sub(opts).max(32)
    }

    /// The SACK blocks for our next ACK (RFC 2018 4): a D-SACK first if
    /// one is due (RFC 2883), then the block holding the most recent
    /// out-of-order segment, then the others, highest first; three at most
    /// beside timestamps (40 bytes of options).
    fn sack_blocks(&self) -> SackBlocks {
        let mut b = SackBlocks::default();
        if !self.sack_ok {
            return b;
        }
        let max = if self.ts_ok { 3 } else { SackBlocks::MAX };
        if let Some((l, r)) = self.dsack {
            b.push(l, r);
        }
        let end = |q: u32, d: &[u8]| q.wrapping_add(d.len() as u32);
        let recent = self.last_ooo.and_then(|s| {
            self.ooo
                .iter()
                .position(|(q, d)| seq::le(*q, s) && seq::lt(s, end(*q, d)))
        });
        if let Some(i) = recent {
            let (q, d) = &self.ooo[i];
            if b.len() < max {
                b.push(*q, end(*q, d));
            }
        }
        for (i, (q, d)) in self.ooo.iter().enumerate().rev() {
            if b.len() >= max {
                break;
            }
            if Some(i) != recent {
                b.push(*q, end(*q, d));
            }
        }
        b
    }

    /// Marks the segments the peer's SACK blocks cover whole as SACKed
    /// (RFC 6675 4), each a delivery for RACK (in ascending order, RFC
    /// 8985 6.2), skipping D-SACKs (at or below the ACK). A segment only
    /// partly covered stays unSACKed, so tiny blocks cost nothing.
    fn take_sack(&mut self, now: Instant, seg: &TcpRepr, echo: Option<u32>) {
        if seg.options.sack.is_empty() || self.sent.is_empty() {
            return;
        }
        let base = self.snd_una;
        let mut blocks: Vec<(u32, u32)> = seg
            .options
            .sack
            .as_slice()
            .iter()
            .copied()
            .filter(|&(l, r)| {
                seq::gt(r, seg.ack) && seq::gt(r, base) && seq::lt(l, r) && seq::le(r, self.snd_max)
            })
            .collect();
        blocks.sort_by_key(|&(l, _)| l.wrapping_sub(base));
        let rack = self.sack_mode();
        for (l, r) in blocks {
            let l = if seq::lt(l, base) { base } else { l };
            let mut i = self.sent.partition_point(|g| seq::lt(g.start, l));
            while let Some(g) = self.sent.get_mut(i) {
                if !seq::le(g.end, r) {
                    break;
                }
                i += 1;
                if g.sacked {
                    continue;
                }
                g.sacked = true;
                let g = *g;
                self.sacked_bytes = self.sacked_bytes.saturating_add(g.len());
                self.sacked_segs += 1;
                if g.lost {
                    self.lost_bytes = self.lost_bytes.saturating_sub(g.len());
                    if let Some(x) = self.sent.get_mut(i - 1) {
                        x.lost = false;
                    }
                }
                if rack {
                    self.rack_delivered(now, &g, echo);
                }
            }
        }
    }

    /// Splits the scoreboard's segment holding `at` (not at its start)
    /// in two; both keep its state.
    fn split_sent(&mut self, at: u32) {
        let i = self.sent.partition_point(|g| seq::le(g.end, at));
        let Some(g) = self.sent.get_mut(i) else {
            return;
        };
        if !seq::lt(g.start, at) {
            return;
        }
        let mut tail = *g;
        g.end = at;
        tail.start = at;
        self.sent.insert(i + 1, tail);
    }

    /// Puts a segment sent now, `s` to `end`, on the scoreboard: a new
    /// one at the end, or for a retransmission a new send time on the
    /// segments it covers, no longer lost (RFC 8985 6.1).
    fn note_sent(&mut self, now: Instant, s: u32, end: u32) {
        self.sendings += 1;
        let order = self.sendings;
        if seq::lt(s, self.snd_max) {
            let stop = if seq::lt(end, self.snd_max) {
                end
            } else {
                self.snd_max
            };
            self.split_sent(s);
            self.split_sent(stop);
            let mut i = self.sent.partition_point(|g| seq::lt(g.start, s));
            let mut unlost = 0u32;
            while let Some(g) = self.sent.get_mut(i) {
                if !seq::le(g.end, stop) {
                    break;
                }
                if g.lost {
                    g.lost = false;
                    unlost = unlost.saturating_add(g.len());
                }
                g.retransmitted = true;
                g.xmit = now;
                g.order = order;
                i += 1;
            }
            self.lost_bytes = self.lost_bytes.saturating_sub(unlost);
            if seq::gt(stop, self.rack.rtx_high) {
                self.rack.rtx_high = stop;
            }
        }
        let from = if seq::gt(self.snd_max, s) {
            self.snd_max
        } else {
            s
        };
        if seq::lt(from, end) {
            self.sent.push_back(Sent {
                start: from,
                end,
                xmit: now,
                order,
                retransmitted: false,
                sacked: false,
                lost: false,
            });
        }
    }

    /// With SACK (RFC 6675 5 (C), NextSeg; RFC 6937): while the window
    /// has room above the pipe, resend the first segment marked lost,
    /// else send new data; always within the send window. True if
    /// anything went.
    fn transmit(&mut self, ctx: &mut Ctx) -> bool {
        let wnd_end = self.snd_una.wrapping_add(self.snd_wnd);
        let mut pipe = self.pipe();
        let mut sent = false;
        let mut from = 0;
        for _ in 0..1024 {
            let mss = self.seg_mss();
            let room = self.cwnd.saturating_sub(pipe);
            let lost = if self.lost_bytes > 0 {
                let i = from
                    + self
                        .sent
                        .range(from..)
                        .position(|g| g.lost && !g.sacked)
                        .unwrap_or(self.sent.len() - from);
                from = i;
                self.sent.get(i).map(|g| (g.start, g.len()))
            } else {
                None
            };
            let (s, len, fin) = match lost {
                Some((s, glen)) => {
                    if room < mss.min(glen) || !seq::lt(s, wnd_end) {
                        break;
                    }
                    let (len, fin) = self.segment_at(s, glen.min(mss).min(wnd_end.wrapping_sub(s)));
                    if len == 0 && !fin {
                        break;
                    }
                    (s, len, fin)
                }
                None => {
                    let s = self.snd_nxt;
                    let wnd_room = if seq::lt(s, wnd_end) {
                        wnd_end.wrapping_sub(s)
                    } else {
                        0
                    };
                    let (len, fin) = self.segment_at(s, room.min(wnd_room));
                    if len == 0 && !fin {
                        break;
                    }
                    // RFC 1122 4.2.3.4 (sender SWS avoidance): a short
                    // segment only if it empties the queue or nothing is
                    // in flight.
                    let (whole, _) = self.segment_at(s, u32::MAX);
                    if len < whole && len < mss && pipe > 0 {
                        break;
                    }
                    if self.nagle_holds(s, len, fin) {
                        break;
                    }
                    (s, len, fin)
                }
            };
            self.emit(ctx, s, len, fin, false);
            let end = s.wrapping_add(len + u32::from(fin));
            if lost.is_none() {
                self.snd_nxt = end;
            }
            if self.in_recovery {
                self.prr_out = self.prr_out.saturating_add(len + u32::from(fin));
            }
            pipe = pipe.saturating_add(len + u32::from(fin));
            sent = true;
        }
        sent
    }

    /// `len` bytes of the send buffer from sequence number `seq`, as the
    /// ring's two parts; `None` once they are no longer held.
    pub fn send_data(&self, seq: u32, len: u32) -> Option<(&[u8], &[u8])> {
        if seq::lt(seq, self.snd_buf_seq) {
            return None;
        }
        let off = seq.wrapping_sub(self.snd_buf_seq) as usize;
        let end = off.checked_add(len as usize)?;
        if end > self.snd_buf.len() {
            return None;
        }
        let (a, b) = self.snd_buf.as_slices();
        Some(if end <= a.len() {
            (&a[off..end], &b[..0])
        } else if off >= a.len() {
            (&b[off - a.len()..end - a.len()], &b[..0])
        } else {
            (&a[off..], &b[..end - a.len()])
        })
    }

    // ----- timers -----

    pub fn next_timer(&self) -> Option<Instant> {
        [
            self.rtx_at,
            self.delack_at,
            self.persist_at,
            self.orphan_deadline(),
            self.keepalive_at(),
            self.tlp_at,
            self.rack.timer,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn orphan_deadline(&self) -> Option<Instant> {
        (self.state == TcpState::FinWait2 && !self.held)
            .then(|| self.fin_wait_2_since + FIN_WAIT_2_TIMEOUT)
    }

    /// Turns keep-alive on (or off with `None`); the idle time counts from
    /// the last segment the peer sent.
    /// Turns Nagle's algorithm off (`true`) or on, as TCP_NODELAY.
    pub fn set_nodelay(&mut self, on: bool) {
        self.nodelay = on;
    }

    /// Nagle's algorithm as Linux applies it (tcp_nagle_check with
    /// Minshall's variant): a short segment of new data waits while an
    /// earlier short one is unacknowledged, so small writes coalesce
    /// instead of each costing a segment (RFC 896, RFC 1122 4.2.3.4). A
    /// segment carrying the FIN never waits, nor one resending data from
    /// `s` below SND.MAX (after a timeout).
    fn nagle_holds(&self, s: u32, len: u32, fin: bool) -> bool {
        // The cheap tests first: this runs for every segment sent, and
        // `seg_mss` looks at the SACK blocks.
        !self.nodelay
            && !fin
            && seq::ge(s, self.snd_max)
            && self.snd_max != self.snd_una
            && seq::gt(self.snd_sml, self.snd_una)
            && seq::le(self.snd_sml, self.snd_max)
            && len < self.seg_mss()
    }

    pub fn set_keepalive(&mut self, ka: Option<KeepAlive>) {
        self.keepalive = ka;
        self.ka_probes = 0;
    }

    /// The next keep-alive probe (or the abort after the last one): `idle`
    /// after the peer was last heard, then `interval` after each probe. Only while
    /// nothing is in flight or waiting to go (RFC 1122 4.2.3.6: probes are
    /// for an idle connection; otherwise retransmissions find a dead peer).
    fn keepalive_at(&self) -> Option<Instant> {
        let ka = self.keepalive?;
        if !matches!(self.state, TcpState::Established | TcpState::CloseWait)
            || self.snd_max != self.snd_una
            || !self.snd_buf.is_empty()
        {
            return None;
        }
        Some(match self.ka_probes {
            0 => self.last_heard + ka.idle,
            _ => self.ka_sent_at + ka.interval,
        })
    }

    /// Sends a keep-alive probe, or aborts the connection after `count`
    /// unanswered ones (with a RST, as Linux). The probe is SEG.SEQ =
    /// SND.NXT - 1 with no data, as Linux sends (RFC 9293 3.8.4 allows it):
    /// the peer cannot accept it and must answer with an ACK.
    fn on_keepalive(&mut self, ctx: &mut Ctx) {
        let Some(ka) = self.keepalive else {
            return;
        };
        if self.ka_probes >= ka.count {
            ctx.counters.keepalive_aborts += 1;
            self.send_active_rst(ctx);
            self.fail(ctx, TcpError::TimedOut);
            return;
        }
        ctx.counters.keepalive_probes += 1;
        self.ka_probes += 1;
        self.ka_sent_at = ctx.now;
        self.emit(ctx, self.snd_nxt.wrapping_sub(1), 0, false, true);
    }

    pub fn on_timers(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        if self.orphan_deadline().is_some_and(|t| t <= now) {
            ctx.counters.fin_wait_2_timeouts += 1;
            self.set_state(ctx, TcpState::Closed);
            return;
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_now = true;
            self.output(ctx);
        }
        if self.rack.timer.is_some_and(|t| t <= now) {
            self.on_rack_timer(ctx);
        }
        if self.tlp_at.is_some_and(|t| t <= now) {
            self.on_tlp(ctx);
        }
        if self.rtx_at.is_some_and(|t| t <= now) {
            self.on_rto(ctx);
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.on_persist(ctx);
        }
        if self.keepalive_at().is_some_and(|t| t <= now) {
            self.on_keepalive(ctx);
        }
    }

    /// Arms the tail loss probe (RFC 8985 7.2): PTO = 2 SRTT, plus the
    /// worst-case delayed ACK when one segment is in flight and
    /// [`TLP_MIN_EXTRA`] otherwise; only with SACK (the probe's ACK must
    /// say what arrived), one probe per episode, and only if it fires
    /// before the RTO.
    ///
    /// RFC 8985 7.2 (and Linux) arm no probe in fast recovery or while
    /// segments are SACKed, leaving the tail to RACK's reordering timer.
    /// That timer only watches segments sent before one already
    /// delivered: when a recovery's retransmission and the new data behind
    /// it leave in one burst and the single ACK answering it all is lost
    /// (a receiver acknowledging once per read, 1% of ACKs lost), nothing
    /// is left to watch and the flight waits for the RTO, then restarts
    /// from one segment. On the lab's lossy link that was 2-6 timeouts per
    /// 64 MiB. So the probe is armed whenever RACK's timer is not, except
    /// in the slow start after a timeout.
    fn arm_tlp(&mut self, now: Instant) {
        self.tlp_at = None;
        let Some(srtt) = self.srtt else {
            return;
        };
        if !self.sack_ok
            || self.rto_recovery
            || self.rack.timer.is_some()
            || self.tlp_end.is_some()
            || self.snd_una == self.snd_max
            || !matches!(
                self.state,
                TcpState::Established
                    | TcpState::CloseWait
                    | TcpState::FinWait1
                    | TcpState::LastAck
            )
        {
            return;
        }
        let mut pto = srtt * 2;
        if self.snd_max.wrapping_sub(self.snd_una) <= self.seg_mss() {
            pto += TLP_DELACK;
        } else {
            pto += TLP_MIN_EXTRA;
        }
        let at = now + pto;
        if self.rtx_at.is_some_and(|r| at < r) {
            self.tlp_at = Some(at);
        }
    }

    /// The probe timeout expired (RFC 8985 7.3): resend the last segment
    /// sent that is not SACKed, so the peer's ACK (and SACK) tells what
    /// arrived without waiting for the RTO; the RTO is armed again behind
    /// it.
    ///
    /// RFC 8985 7.3 prefers a new segment when one is ready, as Linux does.
    /// We do not: a new in-order segment falls under the receiver's
    /// delayed-ACK policy (RFC 5681 4.2: up to 500 ms; 40 ms in Linux,
    /// whose receiver acknowledges once per application read while the
    /// reader lags), so when what was lost is the flight's one ACK, a new
    /// segment draws no answer until that timer. A segment the receiver
    /// already holds must be acknowledged at once (RFC 9293 3.10.7.4), and
    /// one it lacks is out of order, acknowledged at once too (RFC 5681
    /// 4.2). Measured on the lab's lossy link, new-data probes left a
    /// 40 ms stall every few megabytes. A probe that turns out needless
    /// is reported by D-SACK and costs no window (7.4).
    fn on_tlp(&mut self, ctx: &mut Ctx) {
        self.tlp_at = None;
        if self.snd_una == self.snd_max || self.rto_recovery || self.snd_wnd == 0 {
            return;
        }
        ctx.counters.tail_loss_probes += 1;
        // The last segment sent that the peer has not SACKed (resending a
        // SACKed one would tell nothing): with a scoreboard, that segment;
        // otherwise the one ending at SND.MAX, whose first byte is at most
        // one segment below it (the FIN counts as one).
        let (s, len, fin) = match self.sent.iter().rev().find(|g| !g.sacked) {
            Some(g) => {
                let (s, glen) = (g.start, g.len());
                let (len, fin) = self.segment_at(s, glen.min(self.seg_mss()));
                (s, len, fin)
            }
            None => {
                let fin_sent = self.fin_queued
                    && self.snd_max
                        == self
                            .snd_buf_seq
                            .wrapping_add(self.snd_buf.len() as u32)
                            .wrapping_add(1);
                let data_end = self.snd_max.wrapping_sub(u32::from(fin_sent));
                let back = data_end.wrapping_sub(self.snd_una).min(self.seg_mss());
                let s = data_end.wrapping_sub(back);
                let (len, fin) = self.segment_at(s, back);
                (s, len, fin)
            }
        };
        if len == 0 && !fin {
            return;
        }
        self.emit(ctx, s, len, fin, false);
        self.tlp_rtx = true;
        self.tlp_end = Some(self.snd_max);
        self.rtx_at = Some(ctx.now + self.rto);
    }

    /// The retransmission timer expired (RFC 6298 5.4-5.7, RFC 5681 3.1).
    fn on_rto(&mut self, ctx: &mut Ctx) {
        self.rtx_at = None;
        self.tlp_at = None;
        self.tlp_end = None;
        ctx.counters.timeouts += 1;
        self.retries += 1;
        let limit = match self.state {
            TcpState::SynSent | TcpState::SynReceived => MAX_SYN_RETRIES,
            _ => MAX_RETRIES,
        };
        if self.retries > limit {
            ctx.counters.retransmit_aborts += 1;
            self.fail(ctx, TcpError::TimedOut);
            return;
        }
        let mss = self.snd_mss;
        if self.retries == 1 {
            // RFC 5681 eq. 4 / RFC 9438 4.8: a congestion event, only for
            // the first timeout of a segment.
            let flight = self.snd_max.wrapping_sub(self.snd_una);
            self.ssthresh = self.cc.on_congestion(ctx.now, self.cwnd, flight, mss);
        }
        self.cwnd = mss;
        self.dup_acks = 0;
        // RFC 6582 4: no fast retransmit for data sent before the timeout.
        self.recover = self.snd_max;
        self.rto = (self.rto * 2).min(MAX_RTO);
        if self.sack_mode() {
            self.rto_keep_scoreboard(ctx);
            return;
        }
        self.in_recovery = false;
        // Go back N: resend from the oldest unacknowledged byte (or the SYN).
        self.snd_nxt = self.snd_una;
        self.output(ctx);
    }

    /// A timeout with SACK: the scoreboard is kept (RFC 6675 5.1; RFC
    /// 2018 8 only advises clearing it, against a receiver that reneged,
    /// which a SACKed SND.UNA shows: then it is cleared, as Linux does).
    /// RFC 8985 6.3: SND.UNA and every segment sent more than RACK.rtt +
    /// reo_wnd ago is lost; those go again from SND.UNA up as slow start
    /// opens the window, the SACKed ones never.
    fn rto_keep_scoreboard(&mut self, ctx: &mut Ctx) {
        if self.sent.front().is_some_and(|g| g.sacked) {
            for g in self.sent.iter_mut() {
                g.sacked = false;
            }
            self.sacked_bytes = 0;
            self.sacked_segs = 0;
        }
        self.in_recovery = true;
        self.rto_recovery = true;
        let wait = self.rack.rtt + self.reo_wnd();
        let now = ctx.now;
        let mut newly_lost = 0u32;
        for (i, g) in self.sent.iter_mut().enumerate() {
            if g.sacked || g.lost {
                continue;
            }
            if i == 0 || g.xmit + wait <= now {
                g.lost = true;
                newly_lost = newly_lost.saturating_add(g.len());
            }
        }
        self.lost_bytes = self.lost_bytes.saturating_add(newly_lost);
        self.rack.timer = None;
        // RFC 6298 5.4: the first segment goes now, whatever is still in
        // the pipe (Linux: cwnd = packets in flight + 1).
        self.cwnd = self.pipe().saturating_add(self.snd_mss);
        self.output(ctx);
    }

    /// Sends a zero-window probe (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17).
    /// Like Linux's, it carries no data and SEQ = SND.UNA - 1: the receiver
    /// cannot accept it, so it must answer with an ACK that carries its
    /// window, and not a byte ever goes past a closed window (a one-byte
    /// probe would, and its ACK would look like a duplicate ACK).
    fn on_persist(&mut self, ctx: &mut Ctx) {
        self.persist_at = None;
        let (len, _) = self.segment_at(self.snd_nxt, 1);
        if self.snd_wnd != 0 || len == 0 || self.state == TcpState::Closed {
            return;
        }
        ctx.counters.window_probes += 1;
        self.emit(ctx, self.snd_una.wrapping_sub(1), 0, false, true);
        self.persist_backoff = self.persist_backoff.saturating_add(1);
        self.persist_at = Some(ctx.now + self.persist_interval());
    }
}
