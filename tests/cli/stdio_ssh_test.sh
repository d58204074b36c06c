#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# ssh through `sevpn-proxy --stdio` (ProxyCommand) against the test hub: an sshd of its
# own (Debian openssh-server; own host key and configuration, key login only, on
# 127.0.0.1, which the hub's LAN reaches as intranet.test) runs as the user running the
# test, so ssh logs in as that same user:
#  - with an instance of the account running, three ssh runs attach to it (their
#    ProxyCommand has no password and no terminal): each prints the remote command's
#    output, 4 MiB go up and come back through `cat`, and the hub saw one login;
#  - without an instance, ssh works through a --stdio that logs in itself.
# Skips (77) when sshd is not installed (scripts/install-deps.sh --integration), or when
# it will not log in the user running the test (a system account with a locked password
# or no login shell, such as uid 65534).
# When run as root it needs sshd's privilege separation directory /run/sshd (which
# ssh.service would create); it creates it if missing.
# usage: stdio_ssh_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || { echo "SKIP: sshd not installed (openssh-server)"; exit 77; }
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init stdio_ssh "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
for t in ssh ssh-keygen setsid; do
	command -v "$t" >/dev/null || hl_skip "$t not installed"
done
hl_hub_start hub

export XDG_RUNTIME_DIR=$HL_W/rt
mkdir -m 700 "$XDG_RUNTIME_DIR"
logins() { grep -c 'session for alice up' "$HL_HUB_LOG" || true; }

# --- the sshd: as this user, on 127.0.0.1:SSH_PORT (intranet.test:SSH_PORT on the LAN)
S=$HL_W/ssh
mkdir -m 700 "$S"
ssh-keygen -q -t ed25519 -N '' -f "$S/host_key" -C test-host
ssh-keygen -q -t ed25519 -N '' -f "$S/user_key" -C test-user
cp "$S/user_key.pub" "$S/authorized_keys"
SSH_PORT=$(hl_free_port)
cat >"$S/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $S/host_key
AuthorizedKeysFile $S/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PidFile $S/sshd.pid
LogLevel VERBOSE
EOF
if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
	mkdir -m 0755 /run/sshd # privilege separation, as ssh.service's RuntimeDirectory
fi
"$SSHD" -D -e -f "$S/sshd_config" 2>"$HL_W/sshd.log" &
HL_PIDS+=($!)
SSHD_PID=$!
n=100
until grep -qs 'Server listening on 127.0.0.1' "$HL_W/sshd.log"; do
	hl_alive "$SSHD_PID" || hl_fail "sshd exited: $(cat "$HL_W/sshd.log")"
	n=$((n - 1))
	[ "$n" -gt 0 ] || hl_fail "sshd did not start"
	sleep 0.1
done
ME=$(id -un)

PROXY="$HL_PROXY_BIN --no-config --server 127.0.0.1:$HL_HUB_PORT --hub DEFAULT --user $HL_USER --pin $HL_FP --connect-timeout 5 -v --stdio %h:%p"
# run_ssh NAME PASSWORD: `echo hello-NAME` over ssh through --stdio, in a new session
# (no terminal); sets OUT, LOG, RC.
run_ssh() {
	local name=$1 pass=$2
	OUT=$HL_W/$name.out
	LOG=$HL_W/$name.log
	RC=0
	env -u SEVPN_PASSWORD ${pass:+SEVPN_PASSWORD=$pass} setsid timeout 60 ssh -F /dev/null \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o LogLevel=ERROR -o ConnectTimeout=30 -i "$S/user_key" \
		-o ProxyCommand="$PROXY" -p "$SSH_PORT" "$ME@intranet.test" "echo hello-$name" \
		</dev/null >"$OUT" 2>"$LOG" || RC=$?
	if [ "$RC" -ne 0 ] && grep -q 'not allowed because' "$HL_W/sshd.log"; then
		# e.g. a system account (uid 65534) with no login shell or a locked password
		hl_skip "sshd will not log in $ME: $(grep -m1 'not allowed because' "$HL_W/sshd.log")"
	fi
	[ "$RC" -eq 0 ] || hl_fail "ssh $name: exit $RC: $(tail -n 5 "$LOG")"
	[ "$(cat "$OUT")" = "hello-$name" ] || hl_fail "ssh $name printed '$(cat "$OUT")'"
}

# --- with an instance: every ssh attaches
hl_proxy_start master -v
MASTER=$HL_PROXY_PID
for i in 1 2 3; do
	run_ssh "attached$i" ""
	grep -q "attached to the instance $MASTER through" "$LOG" ||
		hl_fail "ssh attached$i: the ProxyCommand did not attach to instance $MASTER"
done
# 4 MiB up and back down through the attached relay
head -c 4194304 /dev/urandom >"$HL_W/up.bin"
want=$(sha256sum <"$HL_W/up.bin" | cut -d' ' -f1)
rc=0
got=$(setsid timeout 60 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
	-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o LogLevel=ERROR -i "$S/user_key" \
	-o ProxyCommand="$PROXY" -p "$SSH_PORT" "$ME@intranet.test" cat <"$HL_W/up.bin" 2>"$HL_W/cat.log" |
	sha256sum | cut -d' ' -f1) || rc=$?
{ [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; } || hl_fail "ssh cat of 4 MiB through the attached relay: exit $rc, wrong data"
[ "$(logins)" -eq 1 ] || hl_fail "three attached ssh runs: the hub saw $(logins) logins, expected 1"
hl_log "three ssh runs through --stdio attached to instance $MASTER: one login on the hub"
hl_proxy_stop

# --- without an instance: --stdio logs in itself
run_ssh own "$HL_PASS"
grep -q "attached to the instance" "$LOG" && hl_fail "ssh own: attached without an instance"
[ "$(logins)" -eq 2 ] || hl_fail "ssh without an instance: the hub saw $(logins) logins, expected 2"
grep -q "Accepted publickey for $ME" "$HL_W/sshd.log" || hl_fail "sshd logged no key login"
hl_log "ssh through a --stdio of its own: logged in"
hl_log "PASS"
