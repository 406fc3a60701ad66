#!/bin/bash
# Metrics (issue 15): weftd --metrics on a 3-node cluster scraped by a real Prometheus, and
# weft-wg --metrics; promtool checks both expositions; then the endpoint's bad input.
#
#   n1 (leader, --metrics 127.0.0.1:9100, prometheus on 127.0.0.1:9090 scraping all three)
#   n2 (--metrics 10.200.0.2:9100: its overlay address)   n3 (--metrics 10.200.0.3:9100)
#   all on br0 in "ul", 198.18.0.0/24;  w1: a bare weft-wg with --metrics 127.0.0.1:9101,
#   its peer's endpoint 198.18.1.1 on a veth to w2 [198.18.1.3], where nothing answers
#
#   - promtool check metrics on weftd's and weft-wg's output (and with peer labels off)
#   - the engine's per-peer counters: packets, handshake messages, handshakes completed,
#     failures by reason, rekeys (weftd and weft-wg; summed with peer labels off)
#   - Prometheus's HTTP API: n1's weft_peer_receive_bytes_total{peer="n2"} and
#     weft_peer_receive_packets_total{peer="n2"} rise while n2 pings n1 (and n2's transmit
#     packets to n1); n1's handshake counters for n3 rise when n3 restarts; n1's rx drop
#     counter rises when garbage is sent to its WireGuard port
#   - weft-wg: a peer that never answers: its initiation counted sent, then a timeout
#   - refused: an underlay address without --metrics-allow-any, a busy port (clear errors)
#   - malformed requests get 400 (404, 405, 431 where they apply); 20 slow clients that never
#     finish a request: weft status and ping keep working, the server closes them at its
#     deadline and serves again; 1,000 requests/s for 10 s: the CPU weftd used is printed
command -v promtool >/dev/null && command -v prometheus >/dev/null ||
	{ echo "SKIP ops_metrics: promtool/prometheus missing (Debian package prometheus; scripts/deps.sh)"; exit 77; }
source "$(dirname "$0")/overlay_lib.sh"
PROBE="python3 $(dirname "$0")/http_probe.py"

underlay 3
weftc 1 init --name n1 --endpoint 198.18.0.1 >/dev/null || fail "weft init"
start_node 1 --metrics 127.0.0.1:9100
for i in 2 3; do
	(umask 077 && weftc 1 token create >"$LOGDIR/n$i.token") || fail "token create"
	weftc "$i" join --token-file "$LOGDIR/n$i.token" --name "n$i" --no-start >/dev/null || fail "n$i join"
	start_node "$i" --metrics "10.200.0.$i:9100"
done
wait_for 10 in_ns n1 ping -c1 -W1 10.200.0.3 >/dev/null || fail "n1 -> n3"
wait_for 10 in_ns n1 ping -c1 -W1 10.200.0.2 >/dev/null || fail "n1 -> n2"

scrape() { in_ns "$1" curl -sf --max-time 5 "http://$2/metrics"; }
scrape n1 127.0.0.1:9100 >"$LOGDIR/n1.prom" || fail "scrape n1"
promtool check metrics <"$LOGDIR/n1.prom" || fail "promtool on weftd's metrics"
has -E '^weft_peer_receive_bytes_total\{peer="n2"\} [0-9]+$' "$LOGDIR/n1.prom" || fail "no per-peer bytes"
has -E '^weft_node_leader 1$' "$LOGDIR/n1.prom" || fail "n1 not leader in metrics"
has -E '^weft_joins_total\{result="admitted"\} 2$' "$LOGDIR/n1.prom" || fail "joins not counted"
has -E '^weft_build_info\{program="weftd",version="[^"]+"\} 1$' "$LOGDIR/n1.prom" || fail "build info"
has -E '^weft_dns_queries_total\{transport="udp"\}' "$LOGDIR/n1.prom" || fail "dns counters"
has -E '^weft_dns_queries_by_type_total\{type="AAAA"\} [0-9]+$' "$LOGDIR/n1.prom" || fail "dns queries by type"
has -E '^weft_dns_answers_by_rcode_total\{rcode="NXDOMAIN"\} [0-9]+$' "$LOGDIR/n1.prom" || fail "dns answers by rcode"
# The engine's counters: n1 and n2 have exchanged packets and completed a handshake.
has -E '^weft_peer_receive_packets_total\{peer="n2"\} [1-9][0-9]*$' "$LOGDIR/n1.prom" || fail "no per-peer rx packets"
has -E '^weft_peer_transmit_packets_total\{peer="n2"\} [1-9][0-9]*$' "$LOGDIR/n1.prom" || fail "no per-peer tx packets"
has -E '^weft_peer_handshakes_total\{peer="n2"\} [1-9][0-9]*$' "$LOGDIR/n1.prom" || fail "no completed handshake with n2"
has -E '^weft_peer_handshake_messages_total\{peer="n2",message="(initiation|response)",direction="sent"\} [1-9][0-9]*$' \
	"$LOGDIR/n1.prom" || fail "no handshake message sent to n2"
has -E '^weft_peer_handshake_messages_total\{peer="n2",message="(initiation|response)",direction="received"\} [1-9][0-9]*$' \
	"$LOGDIR/n1.prom" || fail "no handshake message received from n2"
for r in timeout gave_up auth replay_timestamp flood; do
	has -E "^weft_peer_handshake_failures_total\\{peer=\"n2\",reason=\"$r\"\\} [0-9]+\$" "$LOGDIR/n1.prom" ||
		fail "no handshake failure series for reason $r"
done
has -E '^weft_peer_session_rekeys_total\{peer="n2"\} [0-9]+$' "$LOGDIR/n1.prom" || fail "no rekey series"
scrape n2 10.200.0.2:9100 >"$LOGDIR/n2.prom" || fail "scrape n2 on its overlay address"
promtool check metrics <"$LOGDIR/n2.prom" || fail "promtool on n2"
has -E '^weft_node_leader 0$' "$LOGDIR/n2.prom" || fail "n2 not a member in metrics"
# n2's endpoint is on the overlay: n1 reaches it through the tunnel, the underlay does not.
scrape n1 10.200.0.2:9100 >/dev/null || fail "n1 cannot scrape n2 over the overlay"
! in_ns n1 curl -sf --max-time 2 http://198.18.0.2:9100/metrics >/dev/null || fail "n2's metrics on the underlay"
ok "weftd metrics pass promtool (leader on loopback, members on their overlay address)"

# Per-peer labels off: the byte counters summed, no peer label anywhere.
stop_node 3
start_node 3 --metrics 10.200.0.3:9100 --metrics-peer-labels=false
wait_for 10 sh -c "ip netns exec $(ns n1) curl -sf --max-time 2 http://10.200.0.3:9100/metrics >$LOGDIR/n3.prom"
promtool check metrics <"$LOGDIR/n3.prom" || fail "promtool, peer labels off"
! has 'peer=' "$LOGDIR/n3.prom" || fail "peer labels with --metrics-peer-labels=false"
has -E '^weft_peer_receive_bytes_total [0-9]+$' "$LOGDIR/n3.prom" || fail "no summed bytes"
has -E '^weft_peer_receive_packets_total [0-9]+$' "$LOGDIR/n3.prom" || fail "no summed packets"
has -E '^weft_peer_handshake_messages_total\{message="initiation",direction="sent"\} [0-9]+$' "$LOGDIR/n3.prom" ||
	fail "no summed handshake messages"
has -E '^weft_peer_handshake_failures_total\{reason="timeout"\} [0-9]+$' "$LOGDIR/n3.prom" || fail "no summed failures"
ok "--metrics-peer-labels=false: no peer label, bytes, packets and handshake counters summed"

# weft-wg --metrics: a bare interface with one peer.
newns w1
key=$(genkey)
in_ns w1 "$WEFT_WG" -f --metrics 127.0.0.1:9101 "$PFX-w1" 2>>"$LOGDIR/w1.log" &
wait_for 5 test -S "/var/run/wireguard/$PFX-w1.sock" || fail "weft-wg did not start"
in_ns w1 wg set "$PFX-w1" private-key <(echo "$key") listen-port 51999 \
	peer "$(pubkey "$(genkey)")" allowed-ips 10.200.99.0/24 endpoint 198.18.1.1:51820
wait_for 5 sh -c "ip netns exec $(ns w1) curl -sf --max-time 2 http://127.0.0.1:9101/metrics >$LOGDIR/w1.prom"
promtool check metrics <"$LOGDIR/w1.prom" || fail "promtool on weft-wg's metrics"
has -E '^weft_peer_transmit_bytes_total\{public_key="[A-Za-z0-9+/]{43}="\} 0$' "$LOGDIR/w1.prom" || fail "weft-wg per-peer series"
has -E '^weft_build_info\{program="weft-wg"' "$LOGDIR/w1.prom" || fail "weft-wg build info"
out=$(in_ns w1 "$WEFT_WG" -f --metrics 198.18.0.9:9101 "$PFX-w2" 2>&1) && fail "weft-wg took a non-loopback address"
echo "$out" | has "not a loopback address" || fail "weft-wg's refusal unclear: $out"
out=$(in_ns w1 "$WEFT_WG" -f --metrics 127.0.0.1:9101 "$PFX-w2" 2>&1) && fail "weft-wg on a busy port"
echo "$out" | has "in use by another process" || fail "weft-wg busy port message: $out"
ok "weft-wg metrics pass promtool; non-loopback and busy port refused: $out"

# weft-wg's handshake counters: the peer's endpoint is routed (a veth to an empty namespace)
# but nobody answers: the initiation is counted sent, and REKEY_TIMEOUT (5 s + jitter) later
# a timeout.
newns w2
link w1 w2 198.18.1.2/24 198.18.1.3/24
in_ns w1 ip addr add 10.200.99.2/24 dev "$PFX-w1"
in_ns w1 ip link set "$PFX-w1" up
in_ns w1 ping -c1 -W1 10.200.99.1 >/dev/null 2>&1 || true
wgscrape() { in_ns w1 curl -sf --max-time 2 http://127.0.0.1:9101/metrics >"$LOGDIR/w1.prom"; }
wgscrape || fail "scrape weft-wg"
has -E '^weft_peer_handshake_messages_total\{public_key="[A-Za-z0-9+/]{43}=",message="initiation",direction="sent"\} 1$' \
	"$LOGDIR/w1.prom" || fail "weft-wg: initiation not counted sent"
has -E '^weft_peer_transmit_packets_total\{public_key="[A-Za-z0-9+/]{43}="\} 1$' "$LOGDIR/w1.prom" ||
	fail "weft-wg: the initiation not counted as a packet"
has -E '^weft_peer_handshakes_total\{public_key="[A-Za-z0-9+/]{43}="\} 0$' "$LOGDIR/w1.prom" ||
	fail "weft-wg: a handshake completed with nobody"
wg_timeout() { wgscrape && has -E '^weft_peer_handshake_failures_total\{public_key="[A-Za-z0-9+/]{43}=",reason="timeout"\} [1-9]' "$LOGDIR/w1.prom"; }
wait_for 12 wg_timeout || fail "weft-wg: no handshake timeout counted after REKEY_TIMEOUT"
promtool check metrics <"$LOGDIR/w1.prom" || fail "promtool on weft-wg's metrics with handshakes"
ok "weft-wg: an unanswered initiation counted sent (1 packet), then a timeout; promtool passes"

# A real Prometheus in n1 scraping the three nodes every second.
cat >"$LOGDIR/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: weft
    static_configs:
      - targets: ['127.0.0.1:9100', '10.200.0.2:9100', '10.200.0.3:9100']
CONF
in_ns n1 prometheus --config.file="$LOGDIR/prometheus.yml" --storage.tsdb.path="$LOGDIR/tsdb" \
	--web.listen-address=127.0.0.1:9090 >>"$LOGDIR/prometheus.out" 2>&1 &
wait_for 30 sh -c "ip netns exec $(ns n1) curl -sf http://127.0.0.1:9090/-/ready >/dev/null" ||
	fail "prometheus not ready"
query() { # query PROMQL: the first value, or nothing
	in_ns n1 curl -sf --max-time 5 -G http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
wait_for 15 sh -c "[ \"\$(ip netns exec $(ns n1) curl -sf -G http://127.0.0.1:9090/api/v1/query --data-urlencode 'query=count(up == 1)' | python3 -c 'import json,sys; r=json.load(sys.stdin)[\"data\"][\"result\"]; print(r[0][\"value\"][1] if r else 0)')\" = 3 ]" ||
	fail "prometheus does not see 3 targets up"
q='weft_peer_receive_bytes_total{instance="127.0.0.1:9100",peer="n2"}'
b0=$(query "$q")
[ -n "$b0" ] || fail "no $q in prometheus"
in_ns n2 ping -c 20 -i 0.1 -s 1000 10.200.0.1 >/dev/null || fail "ping n2 -> n1"
sleep 2.5
b1=$(query "$q")
python3 -c "import sys; sys.exit(0 if float('$b1') >= float('$b0') + 20 * 1000 else 1)" ||
	fail "per-peer rx bytes did not rise with the ping: $b0 -> $b1"
ok "prometheus: n1's rx bytes from n2 rose from $b0 to $b1 during a 20 x 1000-byte ping"
q='weft_peer_receive_packets_total{instance="127.0.0.1:9100",peer="n2"}'
q2='weft_peer_transmit_packets_total{instance="10.200.0.2:9100",peer="n1"}'
p0=$(query "$q"); t0=$(query "$q2")
[ -n "$p0" ] && [ -n "$t0" ] || fail "no $q or $q2 in prometheus"
in_ns n2 ping -c 20 -i 0.1 10.200.0.1 >/dev/null || fail "ping n2 -> n1"
sleep 2.5
p1=$(query "$q"); t1=$(query "$q2")
python3 -c "import sys; sys.exit(0 if float('$p1') >= float('$p0') + 20 and float('$t1') >= float('$t0') + 20 else 1)" ||
	fail "packet counters did not rise with 20 pings: n1 rx $p0 -> $p1, n2 tx $t0 -> $t1"
ok "prometheus: n1's rx packets from n2 rose from $p0 to $p1, n2's tx packets to n1 from $t0 to $t1 during 20 pings"
# n3 restarts with fresh keys for its sessions: n1 completes a new handshake with it.
q='weft_peer_handshakes_total{instance="127.0.0.1:9100",peer="n3"}'
qm='sum(weft_peer_handshake_messages_total{instance="127.0.0.1:9100",peer="n3"})'
h0=$(query "$q"); m0=$(query "$qm")
[ -n "$h0" ] && [ -n "$m0" ] || fail "no $q in prometheus"
stop_node 3
start_node 3 --metrics 10.200.0.3:9100 --metrics-peer-labels=false
wait_for 10 in_ns n3 ping -c1 -W1 10.200.0.1 || fail "ping n3 -> n1 after n3's restart"
hs_rose() { [ "$(python3 -c "print(int(float('$(query "$q")' or 0) > float('$h0')))")" = 1 ]; }
wait_for 10 hs_rose || fail "n1's handshakes with n3 did not rise after n3's restart (from $h0)"
h1=$(query "$q"); m1=$(query "$qm")
python3 -c "import sys; sys.exit(0 if float('$m1') >= float('$m0') + 2 else 1)" ||
	fail "handshake messages with n3 did not rise by 2: $m0 -> $m1"
ok "prometheus: n3 restarted: n1's handshakes with n3 rose from $h0 to $h1, handshake messages from $m0 to $m1"
q='sum(weft_wireguard_dropped_packets_total{instance="127.0.0.1:9100",direction="rx"})'
d0=$(query "$q")
in_ns n3 python3 -c '
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(300):
    s.sendto(os.urandom(1 + i % 200), ("198.18.0.1", 51420))'
sleep 2.5
d1=$(query "$q")
python3 -c "import sys; sys.exit(0 if float('$d1') >= float('$d0') + 300 else 1)" ||
	fail "rx drop counter did not rise by 300 garbage datagrams: $d0 -> $d1"
reasons=$(query 'count(increase(weft_wireguard_dropped_packets_total{instance="127.0.0.1:9100",direction="rx"}[30s]) > 0)')
ok "prometheus: n1's rx drops rose from $d0 to $d1 with 300 garbage datagrams ($reasons reasons)"

# Refused addresses and a busy port: weftd stops with the reason.
stop_node 3
out=$(in_ns n3 "$WEFTD" -f --data-dir "$(dir 3)" --interface "$(ifname 3)" --metrics 198.18.0.3:9100 2>&1) &&
	fail "weftd took an underlay address for --metrics"
echo "$out" | has "not a loopback address nor this node's overlay address" || fail "refusal unclear: $out"
echo "$out" | has -- "--metrics-allow-any" || fail "refusal does not name the way out: $out"
in_ns n3 python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",9300)); s.listen(); time.sleep(30)' &
busy=$!
sleep 0.5
out=$(in_ns n3 "$WEFTD" -f --data-dir "$(dir 3)" --interface "$(ifname 3)" --metrics 127.0.0.1:9300 2>&1) &&
	fail "weftd started on a busy metrics port"
echo "$out" | has "127.0.0.1:9300: the port is in use by another process" || fail "busy port unclear: $out"
kill $busy
out=$(in_ns n3 "$WEFTD" -f --data-dir "$(dir 3)" --interface "$(ifname 3)" --metrics nonsense 2>&1) && fail "bad --metrics taken"
echo "$out" | has "is not IP:PORT" || fail "bad --metrics unclear: $out"
start_node 3 --metrics 198.18.0.3:9100 --metrics-allow-any
in_ns ul ip addr add 198.18.0.254/24 dev br0
in_ns ul curl -sf --max-time 3 http://198.18.0.3:9100/metrics >/dev/null || fail "--metrics-allow-any not served"
ok "refused: underlay address (without --metrics-allow-any), busy port, bad syntax; allowed with --metrics-allow-any"

# Malformed and unexpected requests.
check_status() { # want hex-bytes
	local got
	got=$(in_ns n1 $PROBE status 127.0.0.1 9100 "$2")
	[ "$got" = "$1" ] || fail "request $(echo "$2" | xxd -r -p | head -c 60 | tr '\r\n' '..') answered $got, not $1"
}
hex() { printf '%b' "$1" | od -v -An -tx1 | tr -d ' \n'; }
check_status 200 "$(hex 'GET /metrics HTTP/1.0\r\n\r\n')"
check_status 400 "$(hex 'GET /metrics HTTP/1.1\r\n\r\n')" # no Host
check_status 400 "$(hex 'BLAH\r\n\r\n')"
check_status 400 "$(hex 'GET /metrics HTTP/1.1\nHost: x\n\n')"
check_status 400 "$(hex 'GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')"
check_status 400 "$(hex 'GET /metrics HTTP/3.0\r\nHost: x\r\n\r\n')"
check_status 400 "160301020001000200030303"
check_status 404 "$(hex 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n')"
check_status 405 "$(hex 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')"
check_status 431 "$(hex "GET /metrics HTTP/1.1\r\nHost: x\r\nX: $(head -c 5000 /dev/zero | tr '\0' a)\r\n\r\n")"
ok "malformed requests: 400; other path 404; other method 405; oversized head 431"

# Slow clients: 20 half requests (the cap is 16) held open.
in_ns n1 $PROBE slow 127.0.0.1 9100 20 9 >"$LOGDIR/slow.out" &
slowpid=$!
sleep 1
t0=$(date +%s%N)
weftc 1 status >/dev/null || fail "weft status with slow metrics clients"
t1=$(date +%s%N)
in_ns n1 ping -c 3 -i 0.2 -W 1 10.200.0.2 >/dev/null || fail "ping with slow metrics clients"
wait $slowpid
read -r closed after <"$LOGDIR/slow.out"
[ "$closed" -eq 20 ] || fail "only $closed of 20 slow clients closed by the server"
scrape n1 127.0.0.1:9100 >/dev/null || fail "no scrape after the slow clients"
ok "20 slow clients: weft status answered in $(((t1 - t0) / 1000000)) ms, ping fine, all closed by the server within ${after} s"

# 1,000 requests/s for 10 s; the data plane keeps working (a ping during it); weftd's CPU.
pid=$(pgrep -nf "weftd --data-dir $(dir 1) ")
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
tck=$(getconf CLK_TCK)
c0=$(cpu)
in_ns n2 ping -c 40 -i 0.25 -W 1 10.200.0.1 >"$LOGDIR/ping.out" &
pingpid=$!
read -r sent okn bad secs < <(in_ns n1 $PROBE load 127.0.0.1 9100 1000 10)
c1=$(cpu)
wait $pingpid || fail "ping during the load lost packets: $(tail -n 2 "$LOGDIR/ping.out")"
loss=$(grep -o '[0-9.]*% packet loss' "$LOGDIR/ping.out")
cpupct=$(python3 -c "print('%.1f' % (100.0 * ($c1 - $c0) / $tck / $secs))")
[ "$okn" -ge 9000 ] || fail "only $okn of $sent requests answered 200 ($bad failed)"
weftc 1 status >/dev/null || fail "weft status after the load"
ok "load: $okn of $sent requests answered 200 in $secs s ($bad failed); weftd used $cpupct% of one CPU; ping during it: $loss"
