#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Slow local readers (issue 4): N SOCKS5 clients fetch the same file from the hub's LAN,
# read the first 1 MiB, then stop reading while the client's resident memory is sampled:
# it grows by at most 64 KiB of window per connection (plus allocator overhead), not by
# what the senders would like to send. Then every reader reads to the end: all bodies
# arrive intact (SHA-256) and /status reports the budget and nothing left buffered.
# Then the other direction: a -R forward carries the file from a local server to the
# hub's side intact (the relay's shared read buffer under back-pressure).
# (libslirp never scales its window, so windows stay at 64 KiB here; the budget itself
# is exercised against a real peer by tests/integration/realserver_slowreaders.sh.)
# usage: slow_readers_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init slowread "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"

N=${SV_SLOW_N:-20}
MIB=${SV_SLOW_MIB:-16}
HF=$(hl_free_port)
RP=$(hl_free_port)
hl_hub_start hub --hostfwd "tcp:127.0.0.1:$HF-10.77.0.100:$RP"
hl_http_start
hl_file big.bin "$MIB"
port=${HL_URL##*:}
ctl=127.0.0.1:$(hl_free_port)
hl_proxy_start client --no-config --max-buffer-memory 8M --control "$ctl" \
	-R "$RP:127.0.0.1:$port"
hl_fetch "$HL_URL/small.txt" >/dev/null # warm up (DNS, ARP)
out=$("$HL_PY" "$HERE/slow_readers.py" --socks "$HL_SOCKS" --url-host intranet.test \
	--url-port "$port" --path /big.bin --n "$N" --pre 1048576 --pid "$HL_PROXY_PID" \
	--sha256 "$HL_SHA256" --size $((MIB * 1048576))) ||
	hl_fail "not every body arrived intact: $out"
hl_log "$N readers stopped after 1 MiB: $out"
growth=$(sed -n 's/.*rss_growth_kib=\([0-9]*\).*/\1/p' <<<"$out")
# N windows of 64 KiB, pbufs cost ~1.3x their payload, plus 8 MiB of slack
limit=$((N * 64 * 13 / 10 + 8192))
if grep -q __asan_init "$HL_PROXY_BIN"; then
	hl_log "AddressSanitizer build: its quarantine and shadow memory make RSS meaningless; not checked"
else
	[ "$growth" -le "$limit" ] || hl_fail "RSS grew by $growth KiB (limit $limit KiB)"
fi
status=$(curl -sf "http://$ctl/status") || hl_fail "no /status"
grep -q '"buffer_budget_bytes":8388608' <<<"$status" || hl_fail "/status lacks the budget: $status"
grep -q '"buffered_bytes":0,' <<<"$status" || hl_fail "bytes still buffered after the readers finished: $status"
metrics=$(curl -sf "http://$ctl/metrics") || hl_fail "no /metrics"
grep -q '^sevpn_buffer_budget_bytes 8388608$' <<<"$metrics" || hl_fail "/metrics lacks the budget"
# The other direction: the relay reads the local side into its shared buffer and keeps
# what lwIP's full send buffer did not take (-R: the hub's side downloads from here).
got=$(curl -sS --max-time 60 "http://127.0.0.1:$HF/big.bin" | sha256sum | cut -d' ' -f1) || true
[ "$got" = "$HL_SHA256" ] || hl_fail "-R: $MIB MiB from the local side did not arrive intact"
hl_log "-R: $MIB MiB from the local side arrived intact"
hl_proxy_stop
hl_log "PASS"
