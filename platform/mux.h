/*
 * Attaching --stdio to a running instance (like ssh's ControlMaster).
 *
 * An instance with listeners or forwards serves SOCKS5 (no authentication: the socket's
 * mode 0600 inside a directory only its user can enter is the guard) on a per-account
 * Unix socket, the "mux path". A later `--stdio HOST:PORT` for the same account
 * connects there first and asks that instance for HOST:PORT, instead of logging in
 * and leasing an address of its own; only when nobody answers does it log in.
 *
 * The default path is DIR/mux-<16 hex digits>.sock: DIR is $XDG_RUNTIME_DIR/sevpn-proxy
 * (when $XDG_RUNTIME_DIR is an absolute directory owned by this user) or
 * /tmp/sevpn-proxy-UID; it must be a real directory owned by this user with no access
 * for anyone else (a directory another user made first in /tmp is refused). The hex
 * digits hash the server (host and port), the hub and the user, so every instance for
 * one account finds the same path. --control-path PATH replaces it.
 */
#ifndef SV_MUX_H
#define SV_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "platform/config.h"

/* "mux-" + 16 hex digits + ".sock" and the NUL. */
#define SV_MUX_NAME_LEN 26

/* The socket's file name for an account: the same for the same server, port, hub and
 * user (hub and user compare without case, as SoftEther's do). NULL strings count as
 * empty. */
void sv_mux_name(char out[static SV_MUX_NAME_LEN], const char *host, uint16_t port,
	const char *hub, const char *user);

/* Is st (from lstat) a directory the user uid may keep a private socket in: a real
 * directory (not a symbolic link), owned by uid, with no permission for group or
 * others? 0, or -EPERM / -ENOTDIR with a sentence in err. */
int sv_mux_check_dir(const struct stat *st, uid_t uid, const char *path, char *err,
	size_t errcap);

/* The mux path for cfg: --control-path if given; else the default, creating its
 * directory (mode 0700) when create is true. 0, or a negative code with a sentence in
 * err (no private directory, or a path too long for a Unix socket). */
int sv_mux_path(const struct sv_config *cfg, bool create, char *out, size_t cap,
	char *err, size_t errcap);

/*
 * --stdio: tries the instance serving cfg's account. When nobody serves the mux path
 * (no socket, a stale one, no SOCKS5 answer, or a process of another user behind it)
 * it returns false and the caller logs in itself. Otherwise it relays stdin/stdout
 * through that instance until the far end closes (or stdout goes away), stores the
 * exit status in *exit_code (0 after a clean close, 1 when the instance could not
 * connect to HOST:PORT or the relay failed) and returns true.
 */
bool sv_mux_stdio(const struct sv_config *cfg, int *exit_code);

#endif
