#!/bin/bash
# STUN on a weftd's WireGuard port from a host that is not a peer: a good request is answered
# with the source's address, never with more bytes than it had; malformed ones, unknown
# comprehension-required attributes, a wrong FINGERPRINT, responses and indications nobody
# asked for get nothing; a flood from one source is answered at the rate limit (20/s, burst
# 5) only; the cluster works on through all of it.
#
#   n1 (leader) 198.18.0.1 ─┐
#   n2          198.18.0.2 ─┼─ br0 in "ul"
#   n3 (not in the cluster) 198.18.0.3 ─┘   sends the STUN
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
init_leader
join_node 2
A2=$(ip4_of 2)
wait_for 10 in_ns n1 ping -c1 -W1 "$A2" || fail "n1 cannot reach n2"

out=$(in_ns n3 /usr/bin/python3 "$ROOT/tests/e2e/stun_input.py" 198.18.0.1 51420) ||
	fail "stun_input.py: $out"
echo "$out" >"$LOGDIR/stun_input.json"
/usr/bin/python3 - "$out" <<'PY' || fail "STUN answers: $out"
import json, sys
o = json.loads(sys.argv[1])
assert o["good"], "a good request was not answered"
req, resp = o["good_len"]
assert resp <= req, "answer %d bytes to a %d-byte request" % (resp, req)
assert o["good_mapped"] == o["source"].replace("0.0.0.0", "198.18.0.3"), o["good_mapped"]
assert not o["minimal_answered"], "a 20-byte request was answered (amplification)"
assert o["bad_answered"] == [], o["bad_answered"]
assert o["unsolicited_answered"] == 0, o["unsolicited_answered"]
# 20/s with a burst of 5, over the flood's seconds (+1 for the edges)
limit = 5 + 20 * (o["flood_seconds"] + 1)
assert o["flood_sent"] > 4 * limit, "flood too small to tell: %d" % o["flood_sent"]
assert 1 <= o["flood_answered"] <= limit, "%d answers to %d requests in %.1f s" % (
    o["flood_answered"], o["flood_sent"], o["flood_seconds"])
assert o["flood_max_reply"] <= o["flood_min_request"], "amplified"
print("flood: %d requests in %.1f s, %d answered" % (o["flood_sent"], o["flood_seconds"],
                                                     o["flood_answered"]))
PY
ok "STUN: good answered (no larger than asked), malformed/unsolicited ignored, flood rate-limited"

# The node counted it and works on.
weftc 1 status --json | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
st = j["nat"]["stun"]
assert st["refused"] > 0 and st["bad"] > 0 and st["answered"] > 0, st
' || fail "counters of n1: $(weftc 1 status --json)"
in_ns n1 ping -c2 -W1 "$A2" >/dev/null || fail "n1 lost n2 after the STUN"
wait_for 10 sh -c "$WEFT -d $(dir 1) peers --json | grep -q '\"path\": \"direct\"'" ||
	fail "n1's path to n2 not direct: $(weftc 1 peers)"
ok "counted (answered, refused, bad); the cluster still works"
