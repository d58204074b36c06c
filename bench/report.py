"""Report of bench/run_all.sh: reads OUT/raw.tsv (TOPOLOGY CLIENT METRIC RUN VALUE) and
OUT/meta.tsv, prints a markdown report (also OUT/report.md) and draws OUT/results.png with
gnuplot when it is installed.  Usage: report.py OUT"""
import os
import statistics
import subprocess
import sys
from collections import defaultdict

TESTS = [
    ("curl_dl", "curl download, 1 stream", 1.2),
    ("curl_ul", "curl upload, 1 stream", 1.0),
    ("ip_dl", "iperf3 download, 1 stream", None),
    ("ip_ul", "iperf3 upload, 1 stream", None),
    ("ip4_dl", "iperf3 download, 4 streams", None),
]


def load(out):
    raw = defaultdict(list)
    with open(os.path.join(out, "raw.tsv")) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 5:
                continue
            try:
                raw[(p[0], p[1], p[2])].append((int(p[3]), float(p[4])))
            except ValueError:
                pass
    meta = defaultdict(list)
    if os.path.exists(os.path.join(out, "meta.tsv")):
        with open(os.path.join(out, "meta.tsv")) as f:
            for line in f:
                p = line.rstrip("\n").split("\t", 2)
                if len(p) == 3:
                    meta[(p[0], p[1])].append(p[2])
    return raw, meta


class R:
    def __init__(self, raw):
        self.raw = raw

    def vals(self, topo, client, metric):
        return [v for _, v in self.raw.get((topo, client, metric), [])]

    def med(self, topo, client, metric):
        v = self.vals(topo, client, metric)
        return statistics.median(v) if v else None

    def rng(self, topo, client, metric):
        v = self.vals(topo, client, metric)
        return (min(v), max(v)) if v else None

    def paired(self, topo, metric, invert=False):
        """Per-run ratios sevpn/official (official/sevpn when invert)."""
        a = dict(self.raw.get((topo, "official", metric), []))
        b = dict(self.raw.get((topo, "sevpn", metric), []))
        out = []
        for run in sorted(set(a) & set(b)):
            if a[run] and b[run]:
                out.append(a[run] / b[run] if invert else b[run] / a[run])
        return out


def f(v, nd=1):
    if v is None:
        return "–"
    return "%.*f" % (nd, v)


def fr(rng, nd=1):
    if rng is None:
        return ""
    return " (%s–%s)" % (f(rng[0], nd), f(rng[1], nd))


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fx(v):
    return "–" if v is None else "**%.2fx**" % v


def main():
    out = sys.argv[1]
    raw, meta = load(out)
    r = R(raw)
    L = []
    m = lambda topo, k: "; ".join(meta.get((topo, k), []))
    have_real = any(k[0] == "real" for k in raw)
    have_hub = any(k[0] == "hub" for k in raw)
    runs_real = max([run for (t, _, _), v in raw.items() if t == "real" for run, _ in v] or [0])

    L.append("Command: `%s`" % m("all", "command"))
    L.append("")
    L.append("- binary: %s" % m("all", "binary"))
    for topo in ("real", "hub"):
        if m(topo, "host"):
            L.append("- host (%s part): %s; load average %s before, %s after; %s"
                     % (topo, m(topo, "host"), m(topo, "load_before"), m(topo, "load_after"),
                        m(topo, "date")))
        for c in meta.get((topo, "crash"), []):
            L.append("- **%s part: %s**" % (topo, c))
        for k in ("skipped", "failed"):
            if m(topo, k):
                L.append("- %s part %s: %s" % (topo, k, m(topo, k)))
    if m("real", "server"):
        L.append("- server: %s" % m("real", "server"))
    for topo in ("real", "hub"):
        if m(topo, "params"):
            L.append("- %s: %s" % (topo, m(topo, "params")))
        if m(topo, "niceness"):
            L.append("- niceness (%s): %s" % (topo, m(topo, "niceness")))
    L.append("- duration: %s" % m("all", "duration"))
    L.append("")

    # --- throughput ---
    L.append("### Throughput (MB/s = 10^6 bytes/s; median of the runs, min–max)")
    L.append("")
    L.append("| test | official vpnclient (TAP) | sevpn-proxy (SOCKS5) | ratio | per-run ratios | target | sevpn-proxy via test hub |")
    L.append("|---|---|---|---|---|---|---|")
    chart_tput = []
    for key, label, target in TESTS:
        mk = key + "_MBps"
        o, s, h = r.med("real", "official", mk), r.med("real", "sevpn", mk), r.med("hub", "sevpn", mk)
        pr = r.paired("real", mk)
        L.append("| %s | %s%s | %s%s | %s | %s | %s | %s%s |" % (
            label, f(o), fr(r.rng("real", "official", mk)), f(s), fr(r.rng("real", "sevpn", mk)),
            fx(ratio(s, o)), ("%.2f–%.2f" % (min(pr), max(pr))) if pr else "–",
            ("≥ %.1fx" % target) if target else "", f(h), fr(r.rng("hub", "sevpn", mk))))
        chart_tput.append((label.replace("download", "down").replace("upload", "up")
                           .replace(", 1 stream", "").replace(", 4 streams", " x4"), o, s, h))
    L.append("")

    # --- CPU ---
    L.append("### CPU seconds per GB (10^9 bytes moved; utime+stime of the process over the whole command; medians)")
    L.append("")
    L.append("| test | client: official | client: sevpn-proxy | ratio | vpnserver: official | vpnserver: sevpn-proxy | socksfwd.py (sevpn, iperf3) | hub run: sevpn-proxy | hub run: sevpn-testhub |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for key, label, _ in TESTS:
        oc, sc = r.med("real", "official", key + "_cpu_client"), r.med("real", "sevpn", key + "_cpu_client")
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, f(oc, 2), f(sc, 2), fx(ratio(sc, oc)),
            f(r.med("real", "official", key + "_cpu_server"), 2),
            f(r.med("real", "sevpn", key + "_cpu_server"), 2),
            f(r.med("real", "sevpn", key + "_cpu_fwd"), 2),
            f(r.med("hub", "sevpn", key + "_cpu_client"), 2),
            f(r.med("hub", "sevpn", key + "_cpu_server"), 2)))
    L.append("")

    # --- connections ---
    L.append("### Connections (official: connect() through the NIC; sevpn-proxy: SOCKS5 CONNECT request → success reply; medians of the runs)")
    L.append("")
    L.append("| metric | official vpnclient | sevpn-proxy | ratio | target | sevpn-proxy via test hub |")
    L.append("|---|---|---|---|---|---|")
    conn = [("connect_p50_ms", "connect latency p50, ms", 3, "≤ 1.5x"),
            ("connect_p99_ms", "connect latency p99, ms", 3, ""),
            ("connect_full_p50_ms", "p50 incl. socket + SOCKS greeting, ms", 3, ""),
            ("rate_c1_per_s", "setup rate, sequential, conn/s", 0, ""),
            ("rate_c16_per_s", "setup rate, 16 threads, conn/s", 0, ""),
            ("rate_c1_busy_client", "sequential: client process CPU, cores", 2, ""),
            ("rate_c16_busy_client", "16 threads: client process CPU, cores", 2, ""),
            ("rate_c16_busy_server", "16 threads: server process CPU, cores", 2, ""),
            ("rate_c16_gen_busy", "16 threads: load generator (Python) CPU, cores", 2, "")]
    for key, label, nd, target in conn:
        o, s, h = r.med("real", "official", key), r.med("real", "sevpn", key), r.med("hub", "sevpn", key)
        L.append("| %s | %s%s | %s%s | %s | %s | %s |" % (
            label, f(o, nd), fr(r.rng("real", "official", key), nd), f(s, nd),
            fr(r.rng("real", "sevpn", key), nd), fx(ratio(s, o)), target, f(h, nd)))
    errs = sum(r.vals("real", "sevpn", "rate_c16_errors") + r.vals("real", "sevpn", "rate_c1_errors")
               + r.vals("hub", "sevpn", "rate_c16_errors") + r.vals("hub", "sevpn", "rate_c1_errors")
               + r.vals("real", "official", "rate_c16_errors") + r.vals("real", "official", "rate_c1_errors"))
    L.append("")
    L.append("Failed connections in the rate tests: %d." % errs)
    L.append("")

    # --- start -> ready ---
    L.append("### Start → ready, seconds (median, min–max)")
    L.append("")
    L.append("| client | total | of which: session up |")
    L.append("|---|---|---|")
    L.append("| official: `vpncmd AccountConnect` → DHCP lease (udhcpc, known MAC) | %s%s | |" % (
        f(r.med("real", "official", "ready_s"), 3), fr(r.rng("real", "official", "ready_s"), 3)))
    L.append("| official: engine's \"connection processing started\" log line → lease | %s%s | %s |" % (
        f(r.med("real", "official", "ready_engine_s"), 3), fr(r.rng("real", "official", "ready_engine_s"), 3),
        f(r.med("real", "official", "ready_session_s"), 3)))
    L.append("| sevpn-proxy: fork → `ready` line (DHCP lease) | %s%s | %s |" % (
        f(r.med("real", "sevpn", "ready_s"), 3), fr(r.rng("real", "sevpn", "ready_s"), 3),
        f(r.med("real", "sevpn", "ready_session_s"), 3)))
    L.append("| sevpn-proxy via test hub | %s%s | %s |" % (
        f(r.med("hub", "sevpn", "ready_s"), 3), fr(r.rng("hub", "sevpn", "ready_s"), 3),
        f(r.med("hub", "sevpn", "ready_session_s"), 3)))
    rr = ratio(r.med("real", "sevpn", "ready_s"), r.med("real", "official", "ready_engine_s"))
    L.append("")
    L.append("sevpn-proxy / official (engine start): %s (target ≤ 1.0x); against `vpncmd AccountConnect`: %s." % (
        fx(rr), fx(ratio(r.med("real", "sevpn", "ready_s"), r.med("real", "official", "ready_s")))))
    L.append("")

    # --- memory ---
    L.append("### Memory")
    L.append("")
    L.append("| | official vpnclient | sevpn-proxy | sevpn-proxy (test hub run) |")
    L.append("|---|---|---|---|")
    L.append("| RSS after all transfers, MiB | %s | %s | %s |" % tuple(
        f(None if v is None else v / 1024) for v in (r.med("real", "official", "rss_kb"),
                                                     r.med("real", "sevpn", "rss_kb"),
                                                     r.med("hub", "sevpn", "rss_kb"))))
    L.append("| peak RSS (VmHWM), MiB | %s | %s | %s |" % tuple(
        f(None if v is None else v / 1024) for v in (r.med("real", "official", "hwm_kb"),
                                                     r.med("real", "sevpn", "hwm_kb"),
                                                     r.med("hub", "sevpn", "hwm_kb"))))
    idle_pc = r.med("hub", "sevpn", "idle_per_conn_kb")
    if r.med("hub", "sevpn", "idle_n") is not None:
        L.append("")
        L.append("Idle connections through the test hub: %d of %d opened in %s s (errors: %s); sevpn-proxy RSS "
                 "%s → %s KiB (%s descriptors): **%s KiB per idle connection** (target ≤ 8 KB); "
                 "after they closed: %s KiB; the hub's RSS grew by %s MiB." % (
                     r.med("hub", "sevpn", "idle_open"), r.med("hub", "sevpn", "idle_n"),
                     f(r.med("hub", "sevpn", "idle_open_s")), m("hub", "idle_errors") or "none",
                     f(r.med("hub", "sevpn", "idle_base_kb"), 0), f(r.med("hub", "sevpn", "idle_rss_kb"), 0),
                     f(r.med("hub", "sevpn", "idle_fds"), 0), f(idle_pc, 2),
                     f(r.med("hub", "sevpn", "idle_after_close_kb"), 0),
                     f(None if r.med("hub", "server", "idle_hub_kb") is None
                       else r.med("hub", "server", "idle_hub_kb") / 1024, 0)))
    L.append("")

    # --- targets ---
    def tgt(name, v, ok):
        return "- %s: %s — %s" % (name, v, "met" if ok else ("not met" if ok is not None else "no data"))

    def ok(v, cond):
        return None if v is None else cond(v)

    L.append("### Targets of issue 7 (this run)")
    L.append("")
    d = ratio(r.med("real", "sevpn", "curl_dl_MBps"), r.med("real", "official", "curl_dl_MBps"))
    u = ratio(r.med("real", "sevpn", "curl_ul_MBps"), r.med("real", "official", "curl_ul_MBps"))
    c = ratio(r.med("real", "sevpn", "connect_p50_ms"), r.med("real", "official", "connect_p50_ms"))
    cd = ratio(r.med("real", "sevpn", "curl_dl_cpu_client"), r.med("real", "official", "curl_dl_cpu_client"))
    cu = ratio(r.med("real", "sevpn", "curl_ul_cpu_client"), r.med("real", "official", "curl_ul_cpu_client"))
    L.append(tgt("single-stream download ≥ 1.2x", fx(d), ok(d, lambda x: x >= 1.2)))
    L.append(tgt("single-stream upload ≥ 1.0x", fx(u), ok(u, lambda x: x >= 1.0)))
    L.append(tgt("SOCKS5 CONNECT p50 ≤ 1.5x raw connect", fx(c), ok(c, lambda x: x <= 1.5)))
    L.append(tgt("client CPU s per GB ≤ official (download / upload)", "%s / %s" % (fx(cd), fx(cu)),
                 None if cd is None or cu is None else (cd <= 1 and cu <= 1)))
    L.append(tgt("start → ready ≤ official", fx(rr), ok(rr, lambda x: x <= 1.0)))
    n_open = r.med("hub", "sevpn", "idle_open") or 0
    if idle_pc is not None and n_open < 10000:
        L.append("- 10,000 idle connections, ≤ 8 KB each: %s KiB each, but only %d connections "
                 "opened (of %s asked) — not shown at 10,000" % (
                     f(idle_pc, 2), n_open, f(r.med("hub", "sevpn", "idle_n"), 0)))
    else:
        L.append(tgt("10,000 idle connections, ≤ 8 KB each", "%s KiB each with %d open" % (f(idle_pc, 2), n_open),
                     ok(idle_pc, lambda x: x * 1024 <= 8000)))
    text = "\n".join(L) + "\n"
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write(text)
    print(text)

    # --- chart ---
    bars = [("curl down", d, 1.2), ("curl up", u, 1.0)]
    for key, lab in (("ip_dl", "iperf3 down"), ("ip_ul", "iperf3 up"), ("ip4_dl", "iperf3 4x down")):
        bars.append((lab, ratio(r.med("real", "sevpn", key + "_MBps"), r.med("real", "official", key + "_MBps")), None))
    bars.append(("connect p50", None if c is None else 1 / c, 1 / 1.5))
    bars.append(("conn/s seq", ratio(r.med("real", "sevpn", "rate_c1_per_s"), r.med("real", "official", "rate_c1_per_s")), None))
    bars.append(("conn/s 16x", ratio(r.med("real", "sevpn", "rate_c16_per_s"), r.med("real", "official", "rate_c16_per_s")), None))
    bars.append(("start→ready", None if rr is None else 1 / rr, 1.0))
    bars.append(("CPU/GB down", None if cd is None else 1 / cd, 1.0))
    bars.append(("CPU/GB up", None if cu is None else 1 / cu, 1.0))
    draw(out, chart_tput, bars, m("real", "date") or m("hub", "date"), have_real, have_hub)


def draw(out, tput, bars, date, have_real, have_hub):
    try:
        subprocess.run(["gnuplot", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        print("(gnuplot not installed: no chart)", file=sys.stderr)
        return
    z = lambda v: "NaN" if v is None else "%.3f" % v
    with open(os.path.join(out, "tput.dat"), "w") as fh:
        for lab, o, s, h in tput:
            fh.write('"%s" %s %s %s\n' % (lab, z(o), z(s), z(h)))
    with open(os.path.join(out, "ratio.dat"), "w") as fh:
        for i, (lab, v, t) in enumerate(bars):
            good = v is not None and v >= (t if t is not None else 1.0)
            fh.write('%d "%s" %s %s %s %s\n' % (i, lab, z(v), z(t), "0x2ca02c" if good else "0xd62728",
                                               '"%.2f"' % v if v is not None else '"n/a"'))
    names = ["official vpnclient (TAP NIC)", "sevpn-proxy (SOCKS5), real server",
             "sevpn-proxy via test hub (ceiling)"]
    colors = ["#7f7f7f", "#1f77b4", "#aec7e8"]
    series = [i for i in range(3) if any(row[1 + i] is not None for row in tput)]
    if not series:
        return
    tplot = ", \\\n     ".join(
        "'%s' using %d%s title \"%s\" lc rgb \"%s\"" % (
            os.path.join(out, "tput.dat"), 2 + i, ":xtic(1)" if k == 0 else "", names[i], colors[i])
        for k, i in enumerate(series))
    have_ratio = any(v is not None for _, v, _ in bars)
    gp = r"""
set terminal pngcairo size %(width)d,520 font "DejaVu Sans,10"
set output '%(png)s'
set multiplot layout 1,%(panels)d title "%(title)s — %(date)s" font ",12"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set key top left
set ylabel "MB/s (higher is better)"
set xtics rotate by -25 nomirror
set yrange [0:%(ymax).0f]
set title "Throughput through the VPN"
plot %(tplot)s
"""
    gp2 = r"""unset style
set style fill solid 0.85 border -1
set title "sevpn-proxy / official: > 1 = sevpn-proxy better (time, latency, CPU inverted)\nblack bar = issue 7 target; green = meets it (or > 1 where none)"
set ylabel "ratio"
set yrange [0:*]
set xrange [-0.6:%(nb)d-0.4]
set boxwidth 0.7
set key off
plot '%(ratio)s' using 1:3:5:xtic(2) with boxes lc rgb variable, \
     '' using 1:3:6 with labels offset 0,0.7 font ",9", \
     '' using 1:4:(0.38) with xerrorbars pt -1 lw 3 lc rgb "black", \
     1 with lines dt 2 lc rgb "black"
"""
    if have_ratio:
        gp += gp2
    gp += "unset multiplot\n"
    gp = gp % {"png": os.path.join(out, "results.png"), "tplot": tplot,
               "ratio": os.path.join(out, "ratio.dat"), "date": date or "", "nb": len(bars),
               "ymax": 1.45 * max([v for row in tput for v in row[1:] if v is not None] or [1]),
               "width": 1200 if have_ratio else 640, "panels": 2 if have_ratio else 1,
               "title": "sevpn-proxy vs official SoftEther client (same run, medians)" if have_ratio
               else "sevpn-proxy through sevpn-testhub (medians)"}
    with open(os.path.join(out, "results.gp"), "w") as fh:
        fh.write(gp)
    subprocess.run(["gnuplot", os.path.join(out, "results.gp")], check=False)


if __name__ == "__main__":
    main()
