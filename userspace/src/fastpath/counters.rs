//! The XDP program's verdict counters, summed over CPUs.

use aya::maps::{MapData, PerCpuArray};
use serde::Serialize;
use xdpstack_common::counters::Counter;

/// One reading of every counter, in `Counter::ALL` order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct XdpCounters {
    pub values: Vec<(String, u64)>,
}

impl XdpCounters {
    /// Reads every counter and sums its per-CPU values.
    pub fn read(map: &PerCpuArray<MapData, u64>) -> anyhow::Result<Self> {
        let mut values = Vec::with_capacity(Counter::COUNT);
        for c in Counter::ALL {
            let per_cpu = map.get(&c.index(), 0)?;
            values.push((c.name().to_string(), per_cpu.iter().sum()));
        }
        Ok(XdpCounters { values })
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.values
            .iter()
            .find(|(n, _)| n == c.name())
            .map_or(0, |(_, v)| *v)
    }
}
