#!/usr/bin/env bash
# Installs the Debian 12 packages weft needs to build, test, benchmark and demo, if missing.
# Runs apt-get update only when something must be installed. Needs root.
set -euo pipefail

pkgs=(
	# build
	gcc make meson ninja-build pkg-config python3
	libssl-dev libgcrypt20-dev libcmocka-dev libjansson-dev libmnl-dev libnftables-dev
	liburing-dev
	# fuzzing and sanitizers (libFuzzer ships with clang's runtime)
	clang libclang-rt-14-dev
	# end-to-end tests, interop, benchmarks
	iproute2 iputils-ping wireguard-go wireguard-tools iperf3 dnsutils nftables
	tcpdump ethtool procps psmisc openssl
	# NAT traversal's tests: a TURN server (turnserver; tests/e2e/relay_turn.sh, overlay_nat.sh)
	# and conntrack -F in the test routers
	coturn conntrack
	# operations: promtool and prometheus (metrics tests), scdoc (man pages), bash-completion
	# (its test)
	prometheus scdoc bash-completion
)
# `scripts/deps.sh deb`: also what `make deb` and its chroot test need.
if [ "${1:-}" = deb ]; then
	pkgs+=(debhelper dpkg-dev fakeroot lintian debootstrap)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: wireguard-tools would otherwise pull in a kernel image.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
