#!/usr/bin/env python3
"""`make bench`: weft-wg against Debian's wireguard-go, side by side, in one run.

Two wireguard-go builds: Debian 12's (the wireguard-go package installed on this machine,
0.0.20220316, no offloads) and Debian 13's (0.0.20231211, which reports v0.0.20230223, with
TUN TCP GSO/GRO and UDP GSO/GRO: what a user would run today). The Debian 13 package is
fetched with apt's own download, from a sources list and apt state/cache directories of its
own under the build tree (the machine's apt sources and state are never touched), and
unpacked there with `dpkg-deb -x`; its binary runs on Debian 12's glibc. If that fails, the
reason is printed and weft-wg is compared with Debian 12's wireguard-go only. GO13=PATH uses
a wireguard-go binary already at hand; GO13=none skips it. WEFT_BASE=PATH adds a second
weft-wg build ("weft base", e.g. the tree before a change) to the rotation, with the ratio
weft/base, so that a change is measured against its parent in the same run; GO12=none then
leaves Debian 12's wireguard-go out (with GO13=none too, only the two weft-wg builds run).

Topology (rebuilt for every run; the implementation alternates weft, go, weft, go, ...):

    ns bA [198.18.10.1] eth ==== veth ==== eth [198.18.10.2] ns bB
          wbA 10.200.10.1  (WireGuard, same implementation on both ends)  wbB 10.200.10.2

Per run: time from `wg set` to the first ping reply, ping RTT avg/p99 (200 pings), iperf3 TCP
1 stream and 4 streams, iperf3 UDP 64-byte datagrams received per second (with default and
with 2 MiB socket buffers), CPU seconds of the two daemons per GB moved (during the 1-stream
run), the daemons' peak RSS (VmHWM), and the time until a new session comes up while another
address floods the responder with initiations whose mac1 is valid (35 s: none came up).
Prints the median of RUNS runs for each figure and the ratios weft/wireguard-go (each).

The floor ("no AEAD"): weft-wg once more, both ends with bench/null_aead.c preloaded, which
turns libgcrypt's cipher calls into a copy and a zero tag, for the TCP and 64-byte figures
only. Its CPU per GB is what the data path costs besides the AEAD (the kernel's TUN and UDP
paths, weft-wg's own code); a ping's payload must be seen in the clear on the underlay before
any of its figures count. The AEAD's own cost, seal + open of 1 GB in 1420-byte messages, is
taken from bench-crypto in the same build, and CPU per GB is printed against it. FLOOR=none
leaves the floor out (it needs the libgcrypt build's bench/weft-null-aead.so).
"""
import json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEFT = os.environ.get("WEFT_WG", os.path.join(ROOT, "build-release/src/daemon/weft-wg"))
RUNS = int(os.environ.get("RUNS", "3"))
SECS = int(os.environ.get("BENCH_SECONDS", "5"))
# ONLY=udp64,rtt (any of rtt tcp1 tcp4 udp64 udp64w flood): run just those figures (and always
# the handshake time and RSS).
ONLY = set(filter(None, os.environ.get("ONLY", "").split(",")))
# The build tree the bench binary lives in (build-release/src/daemon/weft-wg): Debian 13's
# wireguard-go is downloaded and unpacked under its _deps/.
BUILD = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(WEFT))))
TRIXIE = "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] " \
         "http://deb.debian.org/debian trixie main\n"
GO13_VERSION = "0.0.20231211"
NS = ("wbenchA", "wbenchB")
IF = ("wbA", "wbB")
CLK = os.sysconf("SC_CLK_TCK")


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


def ns(i, *args, **kw):
    return sh("ip", "netns", "exec", NS[i], *args, **kw)


def teardown():
    for n in NS:
        pids = sh("ip", "netns", "pids", n, check=False).stdout.split()
        for p in pids:
            sh("kill", p, check=False)
    time.sleep(0.3)
    for n in NS:
        for p in sh("ip", "netns", "pids", n, check=False).stdout.split():
            sh("kill", "-9", p, check=False)
        sh("ip", "netns", "del", n, check=False)


def fetch_go13():
    """Debian 13's wireguard-go: (binary path, version) or (None, why not)."""
    want = os.environ.get("GO13", "")
    if want == "none":
        return None, "GO13=none"
    if want:
        return (want, "given as GO13") if os.access(want, os.X_OK) else (None, want + " not executable")
    top = os.path.join(BUILD, "_deps", "wireguard-go-trixie")
    binary = os.path.join(top, "root", "usr", "bin", "wireguard-go")
    stamp = os.path.join(top, "version")
    if os.access(binary, os.X_OK) and os.path.exists(stamp):
        return binary, open(stamp).read().strip()
    apt_dir = os.path.join(top, "apt")
    for d in ("lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d",
              "download"):
        os.makedirs(os.path.join(apt_dir, d), exist_ok=True)
    with open(os.path.join(apt_dir, "etc", "sources.list"), "w") as f:
        f.write(TRIXIE)
    open(os.path.join(apt_dir, "status"), "w").close()
    # Everything apt reads or writes for these two commands is under apt_dir, except the
    # trusted keys (the system's, read only). Own lists and cache: own locks too, so an apt
    # run of someone else on this machine neither blocks nor is blocked by this one.
    opts = ["-o", "Dir::Etc::SourceList=" + os.path.join(apt_dir, "etc", "sources.list"),
            "-o", "Dir::Etc::SourceParts=" + os.path.join(apt_dir, "etc", "sources.list.d"),
            "-o", "Dir::Etc::PreferencesParts=" + os.path.join(apt_dir, "etc", "preferences.d"),
            "-o", "Dir::Etc::Preferences=" + os.path.join(apt_dir, "etc", "preferences"),
            "-o", "Dir::State=" + apt_dir,
            "-o", "Dir::State::Lists=" + os.path.join(apt_dir, "lists"),
            "-o", "Dir::State::status=" + os.path.join(apt_dir, "status"),
            "-o", "Dir::Cache=" + os.path.join(apt_dir, "cache"),
            "-o", "Acquire::Languages=none", "-o", "APT::Sandbox::User=root", "-q"]
    try:
        r = sh("apt-get", *opts, "update", check=False, timeout=600)
        if r.returncode:
            return None, "apt-get update (trixie): " + (r.stderr.strip() or r.stdout.strip())[-400:]
        dl = os.path.join(apt_dir, "download")
        r = sh("apt-get", *opts, "download", "wireguard-go=" + GO13_VERSION + "*", check=False,
               cwd=dl, timeout=600)
        debs = [f for f in os.listdir(dl) if f.endswith(".deb")]
        if r.returncode or not debs:
            return None, "apt-get download wireguard-go (trixie): " + \
                (r.stderr.strip() or r.stdout.strip())[-400:]
        deb = os.path.join(dl, debs[0])
        ver = sh("dpkg-deb", "-f", deb, "Version").stdout.strip()
        sh("dpkg-deb", "-x", deb, os.path.join(top, "root"))
        out = sh(binary, "--version", check=False)
        if out.returncode:
            return None, "%s --version: %s" % (binary, out.stderr.strip()[-300:])
        ver = "%s (%s)" % (ver, out.stdout.split("\n")[0].strip())
        with open(stamp, "w") as f:
            f.write(ver + "\n")
        return binary, ver
    except (OSError, subprocess.SubprocessError) as e:
        return None, "fetching Debian 13's wireguard-go: %s" % e


BINARY = {"go": "wireguard-go"}
BASE = os.environ.get("WEFT_BASE", "")
NULL_AEAD = os.path.join(BUILD, "bench", "weft-null-aead.so")
FLOOR_FIGURES = ("tcp1", "udp64")


def setup(impl):
    teardown()
    for n in NS:
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
    sh("ip", "link", "add", "wbvA", "netns", NS[0], "type", "veth", "peer", "wbvB", "netns", NS[1])
    for i, (v, a) in enumerate((("wbvA", "198.18.10.1/24"), ("wbvB", "198.18.10.2/24"))):
        sh("ip", "-n", NS[i], "addr", "add", a, "dev", v)
        sh("ip", "-n", NS[i], "link", "set", v, "up")
    binary = {"weft": WEFT, "base": BASE, "floor": WEFT}.get(impl) or BINARY[impl]
    env = ["LD_PRELOAD=" + NULL_AEAD, "WEFT_BENCH_NULL_AEAD=1"] if impl == "floor" else []
    pids = []
    for i in range(2):
        # The daemon keeps running: its stdio must not be our capture pipes.
        subprocess.run(["ip", "netns", "exec", NS[i], "env", "LOG_LEVEL=error", *env, binary,
                        IF[i]], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        pids.append(int(sh("pgrep", "-nf", "%s %s$" % (binary, IF[i])).stdout.split()[0]))
        ns(i, "ip", "addr", "add", "10.200.10.%d/24" % (i + 1), "dev", IF[i])
        ns(i, "ip", "link", "set", IF[i], "up")
    return pids


PUBS = []


def configure():
    keys = [sh("wg", "genkey").stdout.strip() for _ in range(2)]
    pubs = [sh("wg", "pubkey", input=k).stdout.strip() for k in keys]
    PUBS[:] = pubs
    t0 = time.monotonic()
    for i in range(2):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write(keys[i])
        ns(i, "wg", "set", IF[i], "private-key", f.name, "listen-port", str(51900 + i),
           "peer", pubs[1 - i], "allowed-ips", "10.200.10.%d/32" % (2 - i),
           "endpoint", "198.18.10.%d:%d" % (2 - i, 51900 + 1 - i))
        os.unlink(f.name)
    while True:
        if ns(0, "ping", "-c", "1", "-W", "1", "10.200.10.2", check=False).returncode == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > 20:
            raise RuntimeError("no ping reply 20 s after wg set")


def rtt():
    out = ns(0, "ping", "-c", "200", "-i", "0.005", "10.200.10.2").stdout
    times = [float(l.split("time=")[1].split()[0]) for l in out.splitlines() if "time=" in l]
    times.sort()
    return statistics.mean(times), times[min(len(times) - 1, int(len(times) * 0.99))]


FLOOD_CAP = 35.0


def flood_session():
    """Seconds until a new session of A's comes up while another address of ns A floods B
    with initiations whose mac1 is valid (tests/e2e/handshake_flood.py, full speed);
    FLOOD_CAP when none came up by then."""
    sh("ip", "-n", NS[0], "addr", "add", "198.18.10.50/24", "dev", "wbvA")
    flood = subprocess.Popen(["ip", "netns", "exec", NS[0], "python3",
                              os.path.join(ROOT, "tests/e2e/handshake_flood.py"), "198.18.10.50",
                              "198.18.10.2", "51901", PUBS[1], str(FLOOD_CAP + 5)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        ns(0, "wg", "set", IF[0], "peer", PUBS[1], "remove")
        t0 = time.monotonic()
        ns(0, "wg", "set", IF[0], "peer", PUBS[1], "allowed-ips", "10.200.10.2/32",
           "endpoint", "198.18.10.2:51901")
        ok = ns(0, "ping", "-c", "1", "-W", str(int(FLOOD_CAP)), "10.200.10.2",
                check=False).returncode == 0
        return min(time.monotonic() - t0, FLOOD_CAP) if ok else FLOOD_CAP
    finally:
        flood.terminate()
        flood.wait(timeout=10)


def cpu(pids):
    total = 0
    for p in pids:
        f = open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    return total / CLK


def hwm(pids):
    m = 0
    for p in pids:
        for l in open("/proc/%d/status" % p):
            if l.startswith("VmHWM:"):
                m = max(m, int(l.split()[1]) * 1024)
    return m


def iperf(args):
    srv = subprocess.Popen(["ip", "netns", "exec", NS[1], "iperf3", "-s", "-1", "-B", "10.200.10.2"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.4)
    try:
        out = ns(0, "iperf3", "-c", "10.200.10.2", "-J", "-t", str(SECS), *args, timeout=SECS + 30).stdout
    finally:
        srv.wait(timeout=10)
    return json.loads(out)


def wanted(name, impl="weft"):
    if impl == "floor" and name not in FLOOR_FIGURES:
        return False
    return not ONLY or name in ONLY


CLEAR_MARK = "77656674206e756c6c"  # "weft null": the ping pattern the floor must show


def sniff_clear():
    """True if a ping's pattern crosses the underlay (ns B's veth) in the clear: the check
    that the floor's preload took."""
    code = ("import socket,sys,time\n"
            "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))\n"
            "s.bind(('wbvB',0)); s.settimeout(0.5); end=time.time()+4\n"
            "while time.time()<end:\n"
            "  try: f=s.recv(65535)\n"
            "  except socket.timeout: continue\n"
            "  if bytes.fromhex(sys.argv[1]) in f: sys.exit(0)\n"
            "sys.exit(1)\n")
    snif = subprocess.Popen(["ip", "netns", "exec", NS[1], sys.executable, "-c", code, CLEAR_MARK])
    time.sleep(0.5)
    ns(0, "ping", "-c", "3", "-i", "0.2", "-p", CLEAR_MARK, "10.200.10.2", check=False)
    return snif.wait(timeout=10) == 0


OFFLOADS = {}


def offloads(impl):
    """What the kernel and the daemon agreed on, for the report (the TUN of ns A)."""
    link = ns(0, "ip", "-d", "link", "show", IF[0]).stdout.split()
    out = ["ip -d link: vnet_hdr %s" % link[link.index("vnet_hdr") + 1] if "vnet_hdr" in link
           else "ip -d link: no vnet_hdr"]
    feats = ("tx-checksumming", "tcp-segmentation-offload", "tx-udp-segmentation",
             "generic-segmentation-offload", "generic-receive-offload")
    k = ns(0, "ethtool", "-k", IF[0], check=False).stdout.splitlines()
    out.append("ethtool -k: " + ", ".join(l.strip() for l in k if l.split(":")[0] in feats))
    if impl not in ("weft", "base"):
        return out
    st = ns(0, WEFT if impl == "weft" else BASE, "--stats", IF[0], check=False).stdout.split()
    out.append("weft-wg --stats: " + " ".join(
        w for w in st if w.split("=")[0] in ("tun_offloads", "udp_gso", "udp_gro", "crypto_workers",
                                              "tun_queues")))
    return out


def one_run(impl):
    pids = setup(impl)
    r = {"handshake_s": configure()}
    if impl not in OFFLOADS:
        OFFLOADS[impl] = offloads(impl)
    if impl == "floor" and not sniff_clear():
        raise RuntimeError("floor: a ping's payload was not seen in the clear on the underlay "
                           "(was %s preloaded?)" % NULL_AEAD)
    if wanted("rtt", impl):
        r["rtt_avg_ms"], r["rtt_p99_ms"] = rtt()
    if wanted("tcp1", impl):
        c0 = cpu(pids)
        j = iperf([])
        c1 = cpu(pids)
        moved = j["end"]["sum_received"]["bytes"]
        r["tcp1_gbps"] = j["end"]["sum_received"]["bits_per_second"] / 1e9
        r["cpu_s_per_gb"] = (c1 - c0) / (moved / 1e9)
    if wanted("tcp4", impl):
        j = iperf(["-P", "4"])
        r["tcp4_gbps"] = j["end"]["sum_received"]["bits_per_second"] / 1e9
    if wanted("udp64", impl):
        j = iperf(["-u", "-l", "64", "-b", "0"])
        s = j["end"]["sum"]
        r["udp64_kpps"] = (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3
    if wanted("udp64w", impl):
        # The same with 2 MiB socket buffers (capped by net.core.rmem_max): with default
        # buffers the receiving iperf3, starved of CPU on two cores, drops datagrams the
        # tunnel delivered (its socket's RcvbufErrors), which measures iperf3, not the tunnel.
        j = iperf(["-u", "-l", "64", "-b", "0", "-w", "2M"])
        s = j["end"]["sum"]
        r["udp64w_kpps"] = (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3
    r["rss_mb"] = hwm(pids) / 1e6
    if wanted("flood", impl):
        r["flood_s"] = flood_session()
    teardown()
    return r


FIGURES = [
    ("tcp1_gbps", "TCP 1 stream (Gbit/s)", True),
    ("tcp4_gbps", "TCP 4 streams (Gbit/s)", True),
    ("udp64_kpps", "UDP 64-byte received (kpps)", True),
    ("udp64w_kpps", "  same, 2 MiB socket buffers", True),
    ("rtt_avg_ms", "ping RTT avg (ms)", False),
    ("rtt_p99_ms", "ping RTT p99 (ms)", False),
    ("cpu_s_per_gb", "CPU s per GB (TCP 1 stream)", False),
    ("rss_mb", "peak RSS, both daemons max (MB)", False),
    ("handshake_s", "wg set -> first ping reply (s)", False),
    ("flood_s", "new session under handshake flood (s)", False),
]


NAMES = {"weft": "weft-wg", "base": "weft base", "floor": "no AEAD", "go": "wg-go 12",
         "go13": "wg-go 13"}


def aead_cost():
    """(provider, seconds) of seal + open of 1 GB in 1420-byte messages, from bench-crypto of
    this build (the same line `make bench-crypto` prints), or (None, why not)."""
    exe = os.path.join(BUILD, "bench", "bench-crypto")
    try:
        out = sh(exe, timeout=300).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return None, str(e)
    chosen = [l.split(":")[-1].strip() for l in out.splitlines() if "meson option aead" in l]
    for l in out.splitlines():
        if l.startswith("seal + open of 1 GB") and chosen and chosen[0] in l:
            return chosen[0], float(l.split()[-2])
    return None, "bench-crypto printed no seal + open line"


def main():
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces)")
    go13, why = fetch_go13()
    impls = ["weft"] + (["base"] if BASE else []) + \
        ([] if BASE and os.environ.get("GO12") == "none" else ["go"])
    if os.environ.get("FLOOR") != "none" and not BASE and any(wanted(f) for f in FLOOR_FIGURES):
        if os.path.exists(NULL_AEAD):
            impls.insert(1, "floor")
        else:
            print("no floor (no AEAD) figures: %s not built (aead=openssl?)" % NULL_AEAD)
    ver = {"go": sh("dpkg-query", "-W", "-f=${Version}", "wireguard-go", check=False).stdout}
    if go13:
        BINARY["go13"] = go13
        ver["go13"] = why
        impls.append("go13")
        print("Debian 13's wireguard-go %s: %s" % (why, go13), flush=True)
    else:
        print("Debian 13's wireguard-go not available, comparing with Debian 12's only: " + why,
              flush=True)
    aead = aead_cost()
    res = {i: [] for i in impls}
    try:
        for k in range(RUNS):
            for impl in impls:
                r = one_run(impl)
                res[impl].append(r)
                print("run %d %-4s " % (k + 1, impl) +
                      " ".join("%s=%.3f" % (f, r[f]) for f, _, _ in FIGURES if f in r),
                      flush=True)
    finally:
        teardown()
    for impl in impls:
        print("\n%s offloads: %s" % (NAMES[impl], "; ".join(OFFLOADS.get(impl, []))))
    print("\nmedians of %d runs, %d s each (wg-go 12: Debian 12's wireguard-go %s%s):" %
          (RUNS, SECS, ver["go"], "; wg-go 13: Debian 13's %s" % ver["go13"] if go13 else ""))
    gos = impls[1:]
    print("%-34s" % "figure" + "".join("%10s" % NAMES[i] for i in impls) +
          "".join("%14s" % ("weft/" + NAMES[g].replace("wg-", "").replace("weft ", ""))
                  for g in gos))
    med = {}
    for f, label, _ in FIGURES:
        if f not in res["weft"][0]:
            continue
        med[f] = {i: statistics.median(r[f] for r in res[i]) for i in impls if f in res[i][0]}
        m = med[f]
        print("%-34s" % label + "".join("%10.3f" % m[i] if i in m else "%10s" % "-"
                                        for i in impls) +
              "".join("%14.2f" % (m["weft"] / m[g]) if m.get(g) else "%14s" % "-"
                      for g in gos))
    if aead[0] and "cpu_s_per_gb" in med:
        m = med["cpu_s_per_gb"]
        print("\nThe AEAD alone (bench-crypto, %s): seal + open of 1 GB in 1420-byte messages "
              "%.2f s" % aead)
        print("CPU s per GB / that: " + ", ".join("%s %.2f" % (NAMES[i], m[i] / aead[1])
                                                  for i in impls if i in m))
    elif not aead[0]:
        print("\nno AEAD cost to compare with: " + aead[1])


if __name__ == "__main__":
    main()
