#!/bin/bash
# make demo: a three-node weft cluster in network namespaces, end to end, in about a minute.
#
#   n1 198.18.0.1 (leader) ─┐                    containers (network namespaces):
#   n2 198.18.0.2 ──────────┼─ br0 ("ul")          web-1 on n2, web-2 on n3  (service web)
#   n3 198.18.0.3 ─────────┘                       db-1 on n1                (service db)
#
# Everything runs in namespaces named w<demo><pid>-*; they are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export WEFT_WG=$PWD/build/src/daemon/weft-wg
WEFTD_OPTS="--health-interval 1000 --health-timeout 5000 --pull-interval 5000"
source tests/e2e/overlay_lib.sh
set +x

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
export WEFT_DATA_DIR

say "underlay: three nodes on one bridge (198.18.0.0/24)"
underlay 3

say "n1: weft init, then weftd"
WEFT_DATA_DIR=$(dir 1)
run ip netns exec "$(ns n1)" "$WEFT" init --name n1 --endpoint 198.18.0.1
start_node 1
say "n2, n3: weft join with tokens from the leader"
for i in 2 3; do
	tok=$(weftc 1 token create --ttl 600)
	echo "token: ${tok:0:40}... (given on stdin: a command line is visible to every local user)"
	WEFT_DATA_DIR=$(dir "$i")
	echo "$tok" | run ip netns exec "$(ns n$i)" "$WEFT" join - --name "n$i" --no-start
	start_node "$i"
done

say "containers: attach a network namespace per node to a service"
for c in web-1:2:web web-2:3:web db-1:1:db; do
	IFS=: read -r name node svc <<<"$c"
	newns "$name"
	WEFT_DATA_DIR=$(dir "$node")
	run ip netns exec "$(ns "n$node")" "$WEFT" attach --service "$svc" \
		--netns "/var/run/netns/$(ns "$name")" --name "$name" \
		$([ "$svc" = web ] && echo --port http:80/tcp)
done
addr() { ip -n "$(ns "$1")" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1; }

say "underlay capture starts (tcpdump on the bridge)"
in_ns ul tcpdump -i br0 -nn -w "$LOGDIR/underlay.pcap" -U >/dev/null 2>&1 &
sleep 0.5

say "node to node over the overlay"
for pair in 1:2 2:3 3:1; do
	IFS=: read -r a b <<<"$pair"
	run ip netns exec "$(ns "n$a")" ping -c2 -i0.2 -W2 "10.200.0.$b" | tail -1
done
say "container to container across nodes"
run ip netns exec "$(ns web-1)" ping -c2 -i0.2 -W2 "$(addr web-2)" | tail -1
run ip netns exec "$(ns web-2)" ping -c2 -i0.2 -W2 "$(addr db-1)" | tail -1

say "DNS service discovery (dig, port 15353)"
run ip netns exec "$(ns n1)" dig +short -p 15353 @127.0.0.1 web.weft.local A
run ip netns exec "$(ns n2)" dig +short -p 15353 @127.0.0.1 _http._tcp.web.weft.local SRV
run ip netns exec "$(ns n3)" dig +short -p 15353 @127.0.0.1 leader.weft.local A
run ip netns exec "$(ns n3)" dig +short -p 15353 @127.0.0.1 node-0-2.weft.local A
run ip netns exec "$(ns web-1)" dig +short -p 15353 @10.200.0.2 db.weft.local A

say "weft status on n2"
WEFT_DATA_DIR=$(dir 2)
run ip netns exec "$(ns n2)" "$WEFT" status
say "wg show on n1 (the stock tool reads weftd's UAPI socket)"
WG_HIDE_KEYS=private run ip netns exec "$(ns n1)" wg show "$(ifname 1)"

sleep 0.5
in_ns ul pkill -INT tcpdump || true
sleep 0.5
say "what the underlay carried"
# Classify: WireGuard datagrams, and the kernel's own link housekeeping (ARP, IPv6
# neighbour discovery and MLD, IPv4 IGMP membership reports on fresh links); anything else
# would be a leak.
tcpdump -nn -r "$LOGDIR/underlay.pcap" 2>/dev/null | awk '
	/UDP, length/ && /\.51420[: ]/ { n["WireGuard (UDP port 51420)"]++; next }
	/ARP/ || /ICMP6, (neighbor|router|multicast listener)/ || / > 224\.0\.0\.[0-9]+: igmp / {
		n["link housekeeping (ARP, IPv6 ND/MLD, IGMP)"]++; next }
	{ n["OTHER: " $0]++; bad = 1 }
	END { for (k in n) printf "  %6d  %s\n", n[k], k; exit bad }' ||
	{ echo "unexpected traffic on the underlay" >&2; exit 1; }
echo "  (only encrypted WireGuard datagrams: no ICMP, TCP or DNS in the clear)"

say "teardown"
for i in 3 2 1; do stop_node "$i"; done
echo "demo done: nodes stopped, namespaces removed on exit"
