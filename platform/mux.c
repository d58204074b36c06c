/* Attaching --stdio to a running instance; see mux.h. */
#define _GNU_SOURCE /* struct ucred (SO_PEERCRED) */
#define SV_LOG_MODULE "attach"

#include <bearssl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "platform/mux.h"
#include "socks/socks5.h"

#define HANDSHAKE_MS 5000     /* a live instance answers the greeting at once */
#define CONNECT_EXTRA_MS 15000 /* beyond our --connect-timeout, for the instance's */
#define RELAY_BUF 65536

/* --- the path ------------------------------------------------------------------------ */

static void
hash_lower(br_sha256_context *h, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		char ch = (char)tolower((unsigned char)*s);
		br_sha256_update(h, &ch, 1);
	}
	br_sha256_update(h, "\n", 1);
}

/* see mux.h */
void
sv_mux_name(char out[static SV_MUX_NAME_LEN], const char *host, uint16_t port,
	const char *hub, const char *user)
{
	br_sha256_context h;
	uint8_t d[32];
	char p[8];

	br_sha256_init(&h);
	br_sha256_update(&h, "sevpn-proxy mux\n", 16);
	hash_lower(&h, host); /* DNS names compare without case too */
	snprintf(p, sizeof p, "%u", (unsigned)port);
	hash_lower(&h, p);
	hash_lower(&h, hub);
	hash_lower(&h, user);
	br_sha256_out(&h, d);
	snprintf(out, SV_MUX_NAME_LEN, "mux-%02x%02x%02x%02x%02x%02x%02x%02x.sock", d[0], d[1],
		d[2], d[3], d[4], d[5], d[6], d[7]);
}

/* see mux.h */
int
sv_mux_check_dir(const struct stat *st, uid_t uid, const char *path, char *err,
	size_t errcap)
{
	if (!S_ISDIR(st->st_mode)) {
		snprintf(err, errcap, "%s is not a directory (a file or a symbolic link is "
			"in its place); remove it or give --control-path", path);
		return -ENOTDIR;
	}
	if (st->st_uid != uid) {
		snprintf(err, errcap, "%s belongs to uid %u, not to this user (uid %u); "
			"remove it or give --control-path", path, (unsigned)st->st_uid,
			(unsigned)uid);
		return -EPERM;
	}
	if ((st->st_mode & 077) != 0) {
		snprintf(err, errcap, "%s is open to other users (mode %03o); make it 0700 "
			"(chmod 700 %s)", path, (unsigned)(st->st_mode & 0777), path);
		return -EPERM;
	}
	return 0;
}

/* Is path an absolute directory owned by uid ($XDG_RUNTIME_DIR as pam_systemd makes
 * it; under sudo it may still name the other user's)? */
static bool
is_own_dir(const char *path, uid_t uid)
{
	struct stat st;
	return path != NULL && path[0] == '/' && stat(path, &st) == 0 &&
		S_ISDIR(st.st_mode) && st.st_uid == uid;
}

static int
private_dir(char *out, size_t cap, bool create, char *err, size_t errcap)
{
	uid_t uid = getuid();
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (is_own_dir(rt, uid))
		n = snprintf(out, cap, "%s/sevpn-proxy", rt);
	else
		n = snprintf(out, cap, "/tmp/sevpn-proxy-%u", (unsigned)uid);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, errcap, "$XDG_RUNTIME_DIR %s is too long for a Unix socket "
			"path; give a shorter --control-path", rt != NULL ? rt : "");
		return -ENAMETOOLONG;
	}
	if (create && mkdir(out, 0700) != 0 && errno != EEXIST) {
		int e = -errno;
		snprintf(err, errcap, "cannot create %s: %s", out, strerror(errno));
		return e;
	}
	if (lstat(out, &st) != 0) {
		int e = -errno;
		snprintf(err, errcap, "%s: %s", out, strerror(errno));
		return e;
	}
	return sv_mux_check_dir(&st, uid, out, err, errcap);
}

/* see mux.h */
int
sv_mux_path(const struct sv_config *cfg, bool create, char *out, size_t cap, char *err,
	size_t errcap)
{
	char dir[sizeof ((struct sockaddr_un *)NULL)->sun_path];
	char name[SV_MUX_NAME_LEN];
	size_t max = sizeof ((struct sockaddr_un *)NULL)->sun_path;
	int r, n;

	if (cfg->control_path != NULL) {
		if (strlen(cfg->control_path) >= max || strlen(cfg->control_path) >= cap) {
			snprintf(err, errcap, "--control-path %s: longer than a Unix socket path "
				"may be (%zu bytes)", cfg->control_path, max - 1);
			return -ENAMETOOLONG;
		}
		snprintf(out, cap, "%s", cfg->control_path);
		return 0;
	}
	if ((r = private_dir(dir, sizeof dir, create, err, errcap)) != 0)
		return r;
	sv_mux_name(name, cfg->server_host, cfg->server_port, cfg->hub, cfg->user);
	n = snprintf(out, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= max) {
		snprintf(err, errcap, "%s/%s: longer than a Unix socket path may be; give a "
			"shorter --control-path", dir, name);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* --- the client side: SOCKS5 over the Unix socket ---------------------------------- */

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads exactly n bytes from the non-blocking fd before deadline. 0, SV_E_TIMEOUT,
 * SV_E_CLOSED or -errno. */
static int
read_full(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return SV_E_TIMEOUT;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, (int)(deadline - now));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		ssize_t got = read(fd, p, n);
		if (got == 0)
			return SV_E_CLOSED;
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* The request is a few hundred bytes into an empty socket buffer: one send. */
static int
send_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
	if (w < 0)
		return -errno;
	return (size_t)w == n ? 0 : SV_E_INTERNAL;
}

/* A connect() in progress on fd (EINPROGRESS) finished within ms: 0, SV_E_TIMEOUT or
 * -errno (its result). */
static int
connect_wait(int fd, unsigned ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int r, err = 0;

	do
		r = poll(&pf, 1, (int)ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return SV_E_TIMEOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -errno;
	return -err;
}

/* Connects to the Unix socket at path (non-blocking fd), or -errno. Non-blocking from
 * the start: a blocking connect() waits without limit while the listener's backlog is
 * full (an instance that is stopped or stuck); Linux fails at once with EAGAIN instead,
 * other systems may say EINPROGRESS and finish within HANDSHAKE_MS. */
static int
mux_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, e;

	size_t len = strlen(path);
	if (len >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
		e = -errno;
	else if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		return fd;
	else
		e = errno == EINPROGRESS ? connect_wait(fd, HANDSHAKE_MS) : -errno;
	if (e == 0)
		return fd;
	close(fd);
	return e;
}

/* RFC 1928 section 3: offer "no authentication" only. 0 when the instance chose it. */
static int
socks_greet(int fd)
{
	static const uint8_t hello[3] = { SV_SOCKS5_VERSION, 1, SV_SOCKS5_METHOD_NONE };
	uint8_t ans[2];
	int r;

	if ((r = send_all(fd, hello, sizeof hello)) != 0 ||
		(r = read_full(fd, ans, sizeof ans, now_ms() + HANDSHAKE_MS)) != 0)
		return r;
	return ans[0] == SV_SOCKS5_VERSION && ans[1] == SV_SOCKS5_METHOD_NONE ? 0 : SV_E_PROTO;
}

/* RFC 1928 sections 4 and 6: CONNECT host (as a name; the instance parses address
 * literals) and the reply. 0 and *rep = the reply code once a reply arrived, or a
 * negative code when none did. */
static int
socks_connect(int fd, const char *host, uint16_t port, unsigned wait_ms, uint8_t *rep)
{
	uint8_t req[4 + 1 + 255 + 2], hdr[5], rest[255 + 2];
	size_t hl = strlen(host), tail;
	int r;

	if (hl == 0 || hl > 255)
		return SV_E_INVAL;
	req[0] = SV_SOCKS5_VERSION;
	req[1] = SV_SOCKS5_CMD_CONNECT;
	req[2] = 0;
	req[3] = SV_SOCKS5_ATYP_DOMAIN;
	req[4] = (uint8_t)hl;
	memcpy(req + 5, host, hl);
	req[5 + hl] = (uint8_t)(port >> 8);
	req[6 + hl] = (uint8_t)port;
	if ((r = send_all(fd, req, 7 + hl)) != 0)
		return r;
	/* VER REP RSV ATYP, then the first byte of BND.ADDR (the length for a name) */
	uint64_t deadline = now_ms() + wait_ms;
	if ((r = read_full(fd, hdr, sizeof hdr, deadline)) != 0)
		return r;
	if (hdr[0] != SV_SOCKS5_VERSION)
		return SV_E_PROTO;
	switch (hdr[3]) {
	case SV_SOCKS5_ATYP_IPV4: tail = 4 - 1 + 2; break;
	case SV_SOCKS5_ATYP_IPV6: tail = 16 - 1 + 2; break;
	case SV_SOCKS5_ATYP_DOMAIN: tail = (size_t)hdr[4] + 2; break;
	default: return SV_E_PROTO;
	}
	if (hdr[1] == SV_SOCKS5_REP_SUCCEEDED &&
		(r = read_full(fd, rest, tail, deadline)) != 0)
		return r;
	*rep = hdr[1];
	return 0;
}

/* --- the relay ---------------------------------------------------------------------- */

/* One direction: bytes read from `from` wait in buf until `to` takes them. */
struct pipe_dir {
	int from, to;
	bool to_sock; /* send() with MSG_NOSIGNAL, shutdown() at the end */
	uint8_t buf[RELAY_BUF];
	size_t len, off;
	bool eof;  /* from reached its end, or to cannot take more */
	bool done; /* eof and nothing left to write */
	int err;   /* the first read or write error, 0 if none */
};

/* Reads into d's empty buffer. */
static void
dir_read(struct pipe_dir *d)
{
	ssize_t n = read(d->from, d->buf, sizeof d->buf);
	if (n > 0) {
		d->len = (size_t)n;
		d->off = 0;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		if (n < 0 && d->err == 0)
			d->err = -errno;
		d->eof = true;
	}
}

/* Writes what d holds; a reader that went away ends the direction. */
static void
dir_write(struct pipe_dir *d)
{
	const uint8_t *p = d->buf + d->off;
	size_t n = d->len - d->off;
	ssize_t w = d->to_sock ? send(d->to, p, n, MSG_NOSIGNAL) : write(d->to, p, n);
	if (w > 0) {
		d->off += (size_t)w;
		if (d->off == d->len)
			d->len = d->off = 0;
	} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
		if (errno != EPIPE && d->err == 0)
			d->err = -errno;
		d->eof = true;
		d->len = d->off = 0;
	}
}

/* Adds d's wishes to the poll set: read when the buffer is empty, else write. */
static void
dir_poll(struct pipe_dir *d, struct pollfd *pf, unsigned *n, int *slot)
{
	*slot = -1;
	if (d->len > 0)
		pf[*n] = (struct pollfd){ .fd = d->to, .events = POLLOUT };
	else if (!d->eof)
		pf[*n] = (struct pollfd){ .fd = d->from, .events = POLLIN };
	else
		return;
	*slot = (int)(*n)++;
}

static void
dir_step(struct pipe_dir *d, const struct pollfd *pf, int slot)
{
	if (slot < 0 || pf[slot].revents == 0)
		return;
	if (d->len > 0)
		dir_write(d);
	else
		dir_read(d);
	if (d->eof && d->len == 0 && !d->done) {
		d->done = true;
		if (d->to_sock)
			(void)shutdown(d->to, SHUT_WR); /* the far end sees our EOF */
	}
}

/* Pipes and sockets become non-blocking (flags restored at the end). A terminal stays
 * as it is: its flags are shared with the shell, which a signal could leave with
 * O_NONBLOCK; a read after POLLIN does not block on it anyway. */
static void
set_nonblock(int fd, int *saved)
{
	*saved = isatty(fd) ? -1 : fcntl(fd, F_GETFL);
	if (*saved >= 0)
		(void)fcntl(fd, F_SETFL, *saved | O_NONBLOCK);
}

/* Relays in <-> sock, sock -> out until the far end closed and its bytes were written
 * (or out went away). 0, or the first error. */
static int
relay(int sock, int in, int out)
{
	struct pipe_dir *up = calloc(1, sizeof *up), *down = calloc(1, sizeof *down);
	int in_flags, out_flags, r = 0;

	if (up == NULL || down == NULL) {
		free(up);
		free(down);
		return SV_E_NOMEM;
	}
	*up = (struct pipe_dir){ .from = in, .to = sock, .to_sock = true };
	*down = (struct pipe_dir){ .from = sock, .to = out };
	set_nonblock(in, &in_flags);
	set_nonblock(out, &out_flags);
	while (!down->done) {
		struct pollfd pf[2];
		unsigned n = 0;
		int su, sd;
		dir_poll(up, pf, &n, &su);
		dir_poll(down, pf, &n, &sd);
		if (poll(pf, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		dir_step(up, pf, su);
		dir_step(down, pf, sd);
	}
	if (r == 0)
		r = down->err != 0 ? down->err : up->err;
	/* shared with whoever gave them to us; in the reverse order of set_nonblock: when
	 * in and out are one open file (a socket from socat or inetd), out_flags were read
	 * after in was made non-blocking, and in_flags are the original ones */
	if (out_flags >= 0)
		(void)fcntl(out, F_SETFL, out_flags);
	if (in_flags >= 0)
		(void)fcntl(in, F_SETFL, in_flags);
	free(up);
	free(down);
	return r;
}

/* The process at the other end of a Unix socket: its PID (0 if unknown) and whether it
 * runs as this user (or root). A socket at a --control-path in a shared directory could
 * be another user's, who would then see the relayed bytes: refused. */
static bool
peer_is_ours(int fd, long *pid)
{
	*pid = 0;
#ifdef SO_PEERCRED
	struct ucred uc;
	socklen_t len = sizeof uc;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
		return false;
	*pid = (long)uc.pid;
	return uc.uid == getuid() || uc.uid == 0;
#else
	uid_t uid;
	gid_t gid;
	return getpeereid(fd, &uid, &gid) == 0 && (uid == getuid() || uid == 0);
#endif
}

/* Connects to the instance serving cfg's account and greets it. The socket (path and
 * the peer's PID set), or -1 when there is none to attach to (logged). */
static int
attach_open(const struct sv_config *cfg, char *path, size_t cap, long *pid)
{
	char err[512];
	int fd, r;

	if (sv_mux_path(cfg, false, path, cap, err, sizeof err) != 0) {
		log_debug("no instance to attach to: %s", err);
		return -1;
	}
	if ((fd = mux_connect(path)) == -EAGAIN || fd == SV_E_TIMEOUT) {
		log_warn("the instance on %s does not take connections (stopped, or stuck?); "
			"logging in", path);
		return -1;
	}
	if (fd < 0) {
		log_debug("no instance serves %s (%s); logging in", path, sv_strerror(fd));
		return -1;
	}
	if (!peer_is_ours(fd, pid)) {
		log_warn("%s is served by another user's process; not attaching, logging in",
			path);
		close(fd);
		return -1;
	}
	if ((r = socks_greet(fd)) != 0) {
		log_warn_r(r, "the instance %ld on %s did not answer (at its --max-clients?); "
			"logging in", *pid, path);
		close(fd);
		return -1;
	}
	return fd;
}

/* see mux.h */
bool
sv_mux_stdio(const struct sv_config *cfg, int *exit_code)
{
	char path[256];
	const char *host = cfg->stdio.host;
	unsigned port = cfg->stdio.hostport;
	uint8_t rep = 0;
	long pid;
	int fd, r;

	if ((fd = attach_open(cfg, path, sizeof path, &pid)) < 0)
		return false;
	log_debug("attached to the instance %ld through %s", pid, path);
	r = socks_connect(fd, host, (uint16_t)port, cfg->connect_timeout_ms + CONNECT_EXTRA_MS,
		&rep);
	if (r != 0)
		log_err_r(r, "--stdio %s:%u: no answer from the instance %ld", host, port, pid);
	else if (rep != SV_SOCKS5_REP_SUCCEEDED)
		log_err("--stdio %s:%u: the instance %ld could not connect: %s", host, port,
			pid, sv_socks5_rep_name(rep));
	if (r == 0 && rep == SV_SOCKS5_REP_SUCCEEDED) {
		log_debug("stdio: connected to %s:%u through the instance %ld", host, port, pid);
		if ((r = relay(fd, 0, 1)) != 0)
			log_err_r(r, "--stdio %s:%u: the relay failed", host, port);
		else
			log_debug("stdio: relay finished");
	}
	close(fd);
	*exit_code = r == 0 && rep == SV_SOCKS5_REP_SUCCEEDED ? 0 : 1;
	return true;
}
