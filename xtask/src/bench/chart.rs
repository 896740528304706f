//! `bench.png`: answered pps per mode and load (medians, min-max whiskers),
//! and the ping-flood RTT per mode; below, TCP bulk Mbit/s and UDP echo
//! round trips per second, kernel against xdpstack; at the bottom TCP_RR
//! transactions and TCP_CRR connections per second, the same two. Drawn with plotters'
//! bitmap backend; its text needs a TrueType font, DejaVu Sans from
//! Debian's `fonts-dejavu-core` (installed by `cargo xtask setup`).

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::modes::Load;
use super::report::{Results, Spread};
use super::transport::byte_size;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];
const SIZE: (u32, u32) = (1280, 1440);
/// The height of the top row (packet rate and ping).
const TOP: u32 = 560;
/// The height of the middle row (TCP bulk and UDP echo).
const MIDDLE: u32 = 440;
const COLORS: [RGBColor; 3] = [
    RGBColor(0x55, 0x55, 0x55), // kernel
    RGBColor(0xd9, 0x5f, 0x02), // fastpath
    RGBColor(0x1b, 0x9e, 0x77), // userspace
];
/// The request/response rows: kernel, kernel-1thread (a lighter grey), fastpath.
const RR_COLORS: [RGBColor; 3] = [
    RGBColor(0x55, 0x55, 0x55),
    RGBColor(0xaa, 0xaa, 0xaa),
    RGBColor(0xd9, 0x5f, 0x02),
];

fn load_font() -> Result<()> {
    let path = FONT_PATHS
        .iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            anyhow!(
                "no DejaVu Sans font for the chart's text ({}): run `cargo xtask setup` \
                 (apt package fonts-dejavu-core)",
                FONT_PATHS[0]
            )
        })?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{path} is not a usable TrueType font"))
}

fn pps_label(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else {
        format!("{:.0}k", v / 1e3)
    }
}

/// The label of the category at integer `x`, if `x` is one.
fn category(x: f64, labels: &[String]) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    labels.get(i as usize).cloned().unwrap_or_default()
}

/// Names paired with colours, in order (the colours repeat if short).
fn series(names: &[String], colors: &[RGBColor]) -> Vec<(String, RGBColor)> {
    names
        .iter()
        .zip(colors.iter().cycle())
        .map(|(n, c)| (n.clone(), *c))
        .collect()
}

/// Draws the grouped bars of `values[category][mode]` with whiskers.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    y_desc: &str,
    labels: &[String],
    values: &[Vec<Spread>],
    series: &[(String, RGBColor)],
    y_format: &dyn Fn(&f64) -> String,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let top = values
        .iter()
        .flatten()
        .map(|s| s.max)
        .fold(0.0, f64::max)
        .max(1e-9)
        // Room above the bars for the legend.
        * 1.35;
    let n = labels.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..(n - 0.5), 0f64..top)
        .map_err(|e| anyhow!("drawing the chart: {e}"))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len())
        .x_label_formatter(&|x| category(*x, labels))
        .y_desc(y_desc)
        .y_label_formatter(y_format)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow!("drawing the chart: {e}"))?;
    let group = 0.8;
    let width = group / series.len().max(1) as f64;
    for (m, (mode, color)) in series.iter().enumerate() {
        let color = *color;
        let left = |c: usize| c as f64 - group / 2.0 + m as f64 * width;
        chart
            .draw_series(values.iter().enumerate().map(|(c, v)| {
                Rectangle::new(
                    [(left(c) + 0.01, 0.0), (left(c) + width - 0.01, v[m].median)],
                    color.filled(),
                )
            }))
            .map_err(|e| anyhow!("drawing the chart: {e}"))?
            .label(mode.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        chart
            .draw_series(values.iter().enumerate().map(|(c, v)| {
                let x = left(c) + width / 2.0;
                PathElement::new(vec![(x, v[m].min), (x, v[m].max)], BLACK.stroke_width(2))
            }))
            .map_err(|e| anyhow!("drawing the chart: {e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow!("drawing the chart: {e}"))?;
    Ok(())
}

/// Writes the chart to `path` (PNG).
pub fn draw(res: &Results, path: &Path) -> Result<()> {
    load_font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|e| anyhow!("drawing the chart: {e}"))?;
    let (top, rest) = root.split_vertically(TOP);
    let (middle, bottom) = rest.split_vertically(MIDDLE);
    let (left, right) = top.split_horizontally(SIZE.0 * 64 / 100);
    let modes: Vec<String> = res.summary.modes.iter().map(|m| m.mode.clone()).collect();

    let loads: Vec<String> = Load::ALL.iter().map(Load::label).collect();
    let pps: Vec<Vec<Spread>> = (0..Load::ALL.len())
        .map(|i| {
            res.summary
                .modes
                .iter()
                .map(|m| m.loads[i].answered_pps)
                .collect()
        })
        .collect();
    bars(
        &left,
        &format!(
            "answered packets/s ({} rounds, median, min-max)",
            res.settings.rounds
        ),
        "packets/s",
        &loads,
        &pps,
        &series(&modes, &COLORS),
        &|v| pps_label(*v),
    )?;

    // One category per mode, one series: the same colours per mode.
    let rtt: Vec<Vec<Spread>> = vec![res
        .summary
        .modes
        .iter()
        .map(|m| Spread {
            min: m.ping_rtt_avg_ms.min * 1e3,
            median: m.ping_rtt_avg_ms.median * 1e3,
            max: m.ping_rtt_avg_ms.max * 1e3,
        })
        .collect()];
    bars(
        &right,
        &format!("ping -f -c {}: average RTT", res.settings.ping_count),
        "µs",
        &["ping -f".to_string()],
        &rtt,
        &series(&modes, &COLORS),
        &|v| format!("{v:.1}"),
    )?;

    // Kernel and fastpath come first in `Mode::COMPARED`, so they keep
    // their colours.
    let (tcp_area, udp_area) = middle.split_horizontally(SIZE.0 / 2);
    let t = &res.summary.transport;
    let names: Vec<String> = t.iter().map(|m| m.mode.clone()).collect();
    // TCP bulk both ways, clean and lossy: one category per direction.
    let bulk = &res.summary.bulk;
    let kinds: Vec<String> = bulk
        .chunks(names.len().max(1))
        .filter_map(|c| Some(c.first()?.kind.clone()))
        .collect();
    bars(
        &tcp_area,
        &format!(
            "TCP bulk, {}: receive (discard), send (chargen)",
            byte_size(res.settings.tcp_bytes)
        ),
        "Mbit/s",
        &kinds,
        &bulk
            .chunks(names.len().max(1))
            .map(|c| c.iter().map(|b| b.mbit_s).collect())
            .collect::<Vec<_>>(),
        &series(&names, &COLORS),
        &|v| format!("{v:.0}"),
    )?;
    bars(
        &udp_area,
        "UDP echo (port 7): round trips/s, one in flight",
        "round trips/s",
        &[format!("{} B request", res.settings.udp_payload)],
        &[t.iter().map(|m| m.udp_rtt_per_s).collect()],
        &series(&names, &COLORS),
        &|v| pps_label(*v),
    )?;

    let (rr_area, crr_area) = bottom.split_horizontally(SIZE.0 / 2);
    let rr = &res.summary.request_response;
    let names: Vec<String> = rr.iter().map(|m| m.mode.clone()).collect();
    bars(
        &rr_area,
        &format!(
            "TCP_RR: {} connections to echo, 1 byte each way",
            res.settings.rr_connections
        ),
        "transactions/s",
        &["TCP_RR".to_string()],
        &[rr.iter().map(|m| m.rr_trans_per_s).collect()],
        &series(&names, &RR_COLORS),
        &|v| pps_label(*v),
    )?;
    bars(
        &crr_area,
        &format!(
            "TCP_CRR: {} workers, connect, 1 byte each way, close",
            res.settings.crr_workers
        ),
        "connections/s",
        &["TCP_CRR".to_string()],
        &[rr.iter().map(|m| m.crr_conn_per_s).collect()],
        &series(&names, &RR_COLORS),
        &|v| format!("{v:.0}"),
    )?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}
