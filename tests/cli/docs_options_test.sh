#!/bin/bash
# The options the program has, the ones `sevpn-proxy --help` lists and the ones the
# manual page documents are the same set:
#  - --help: the names on its option lines (two blanks, then a dash);
#  - docs/sevpn-proxy.1: the names on the tag line of each .TP entry;
#  - platform/config.c: the long options getopt accepts (its struct option table);
# any name in one and not in another fails, with the difference. No hub, no network.
# usage: docs_options_test.sh SEVPN_PROXY SOURCE_DIR   (0 pass, 1 fail)
set -u
BIN=${1:?usage: $0 SEVPN_PROXY SOURCE_DIR}
SRC=${2:?usage: $0 SEVPN_PROXY SOURCE_DIR}
MAN=$SRC/docs/sevpn-proxy.1
CFG=$SRC/platform/config.c
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" --help >"$W/help.txt" || fail "sevpn-proxy --help exited $?"
# "  -L, --local-forward SPEC", "  --socks [ADDR:]PORT", "  -- COMMAND": names before
# the first argument word
grep -E '^  -' "$W/help.txt" |
	grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z0-9-]*|^  --( |$)' | tr -d ' ,' | sort -u >"$W/help"
# the line after each .TP, with \- as -
awk 'p { print; p = 0 } /^\.TP/ { p = 1 }' "$MAN" | sed 's/\\-/-/g' |
	grep -oE '(^|[ "])--?[A-Za-z][A-Za-z0-9-]*|"-- ' | tr -d ' "' | sort -u >"$W/man"
# { "name", required_argument, ... } entries; "--" and the short forms come from --help
grep -oE '\{ "[a-z0-9-]+", *(no|required|optional)_argument' "$CFG" |
	sed -E 's/^\{ "([^"]+)".*/--\1/' | sort -u >"$W/src"
grep -E '^--.' "$W/help" >"$W/help-long"

n=$(wc -l <"$W/help")
[ "$n" -ge 40 ] || fail "only $n options found in --help: is the extraction broken?"
[ "$(wc -l <"$W/src")" -ge 40 ] || fail "too few long options found in $CFG"
rc=0
if ! diff -u "$W/help" "$W/man" >"$W/d1"; then
	echo "FAIL: --help (-) and docs/sevpn-proxy.1 (+) list different options:" >&2
	grep -E '^[-+]-' "$W/d1" | grep -vE '^(---|\+\+\+) ' >&2
	rc=1
fi
if ! diff -u "$W/src" "$W/help-long" >"$W/d2"; then
	echo "FAIL: platform/config.c's long options (-) and --help (+) differ:" >&2
	grep -E '^[-+]-' "$W/d2" | grep -vE '^(---|\+\+\+) ' >&2
	rc=1
fi
[ "$rc" -eq 0 ] && echo "PASS: $n options, the same in --help, the manual page and the parser"
exit "$rc"
