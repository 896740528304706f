# xdpstack in containers: the course topology of docker-compose.yml.
#
#   client  Debian slim with the course's tools (ping, arping, ndisc6, tcpdump, curl, nc)
#   build   the pinned toolchains (through `cargo xtask setup`, the same path as a
#           developer's machine and CI) and `xdpstack` in release mode
#   stack   Debian slim with the xdpstack binary, iproute2 and tcpdump (the default)
#
# The XDP program is built into the binary (userspace/build.rs), so the runtime
# stage needs no toolchain. Running it needs capabilities: see docker-compose.yml.

# The course's client, first: Docker's classic builder builds every stage before
# the one it is asked for, and the client needs nothing from the build stage.
FROM debian:bookworm-slim AS client
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      iputils-ping arping tcpdump iproute2 curl netcat-openbsd ethtool ndisc6 \
 && rm -rf /var/lib/apt/lists/*
CMD ["sleep", "infinity"]

# Stable Rust as the machines have it; the eBPF nightly and bpf-linker come from setup.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# Toolchains first, in a layer of their own that only changes with xtask/ and the
# pin: setup installs the apt packages, the nightly pinned in
# xdp-ebpf/rust-toolchain.toml (xtask reads it when compiled) with its components,
# and bpf-linker built against that nightly's LLVM. Cargo needs every workspace
# member's manifest and targets to build xtask, hence the empty stand-ins,
# replaced by `COPY . .` below.
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY xtask xtask
COPY xdp-ebpf/rust-toolchain.toml xdp-ebpf/
COPY common/Cargo.toml common/
COPY userspace/Cargo.toml userspace/
RUN mkdir -p common/src userspace/src \
 && touch common/src/lib.rs userspace/src/lib.rs \
 && echo 'fn main() {}' > userspace/src/main.rs \
 && echo 'fn main() {}' > userspace/build.rs \
 && cargo xtask setup --build-only \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p xdpstack \
 && cp target/release/xdpstack /usr/local/bin/xdpstack \
 && xdpstack --version

# The stack: the binary and the tools the course runs next to it. libelf1 is the
# one shared library the binary needs beyond Debian slim (`ldd xdpstack`: libelf,
# libz, libgcc_s, libc; libxdp and libbpf are linked in statically).
FROM debian:bookworm-slim AS stack
RUN apt-get update \
 && apt-get install -y --no-install-recommends libelf1 iproute2 tcpdump ethtool \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/xdpstack /usr/local/bin/xdpstack
CMD ["xdpstack", "run", "--iface", "eth0", "--ip", "10.10.0.4/24", "--ip6", "fd00:10:10::4/64"]
