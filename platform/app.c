/*
 * The running client: loop, tunnel connection and wiring; see app.h.
 *
 * The network stack and the proxy listeners live as long as the process. The tunnel is
 * a series of attempts, each a `struct tun`: RESOLVING (the server name is resolved
 * again on every attempt) -> CONNECTING -> LOGIN (TLS handshake and the session's
 * signature, hello, login) -> ESTABLISHED -> CLOSING (close_notify queued) -> DONE.
 * With an upstream proxy, TUN_PROXY sits between connecting (to the proxy) and login:
 * the proxy's handshake runs on plain bytes, then TLS starts with whatever followed.
 * Bytes move only in pump(): socket -> TLS records -> plaintext -> session -> frames ->
 * lwIP, and back.
 *
 * When an attempt fails the app decides (one function, attempt_failed): a permanent
 * refusal (bad password, unknown hub, certificate) ends the process; otherwise it tries
 * again, at once after losing an established session, then with exponential backoff and
 * jitter. While no session is up, lwIP's frames are dropped (as on a cable that is out)
 * and its TCP connections wait; they survive a new session because the MAC, and so the
 * DHCP lease, stay the same. Before the first session ever came up only a few attempts
 * are made, so a wrong --server fails a CI job quickly instead of hanging it.
 *
 * A tun is freed only from its handle's close callback; libuv cancels its pending
 * writes (their callbacks run first), so nothing refers to it afterwards.
 */
#define SV_LOG_MODULE "tunnel"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#ifdef HAVE_SIGACTION
#include <signal.h>
#endif

#include "core/err.h"
#include "core/log.h"
#include "core/retry.h"
#include "core/session.h"
#include "core/tls.h"
#include "core/upstream.h"
#include "netstack/resolve.h"
#include "netstack/stack.h"
#include "netstack/tcpconn.h"
#include "platform/app.h"
#include "platform/control.h"
#include "platform/known.h"
#include "platform/mux.h"
#include "platform/status.h"
#include "platform/os.h"
#include "platform/platform.h"
#include "socks/forward.h"
#include "socks/httpproxy.h"
#include "socks/proxy.h"

/* TLS bytes the socket did not take yet. Beyond it the TLS engine, then the session's
 * batch fill up and frames are dropped (lwIP retransmits): a small queue keeps the
 * latency of every proxied connection low on a slow uplink. */
#define WRITE_QUEUE_MAX (256u << 10)
#define CONNECT_TIMEOUT_MS 10000   /* name resolution plus TCP connect */
#define SHUTDOWN_GRACE_MS 2000
/* Between the DHCP release and close_notify: time for an ARP exchange with the DHCP
 * server and for the server to take the frame (a 5.01 server drops the frames that
 * arrive just before the close). */
#define RELEASE_GRACE_MS 300
#define INITIAL_ATTEMPTS 3         /* before any session was ever established */
#define REATTACH_HOLD_MS 2000
#define PRODUCTIVE_BYTES (1u << 20) /* a session that carried this much has worked */
#define LEASE_WARN_MS 20000
#define PROXY_READ_BUF 4096
/* One read() from the server takes several TLS records (BearSSL alone would ask for a
 * record's 5-byte header, then its body: two reads per record). */
#define TLS_READ_BUF (64u << 10)
#define MAX_TCP 32
#define EXTRA_RETRY_MS 1000 /* the official AdditionalConnectionInterval */
#define ENV_MAX 4096      /* a re-attach dropped sooner did not really work */

enum tun_state {
	TUN_RESOLVING,
	TUN_CONNECTING,
	TUN_PROXY, /* the upstream proxy's handshake */
	TUN_LOGIN,
	TUN_ESTABLISHED,
	TUN_CLOSING,
	TUN_DONE,
};

static const char *const tun_state_names[] = {
	"resolving", "connecting", "proxy", "login", "established", "closing", "done",
};

struct app;

/* One attempt at a tunnel connection. */
struct tun {
	struct app *app;
	unsigned id;
	enum tun_state state;
	uv_tcp_t tcp;
	uv_connect_t creq;
	bool reading;
	bool reattach;         /* joins the previous session with its key (spec 12) */
	bool extra;            /* an additional connection of the current session */
	uint64_t established_at;
	uint64_t bytes_in;     /* frame bytes received on this connection */
	bool failing;          /* tun_fail() has run: later errors are echoes */
	bool close_notify_due; /* CLOSING: close_notify once the session output drained */
	size_t wq_bytes;       /* queued copies not yet written */
	struct sv_tls *tls;
	uint8_t *rx;           /* TLS_READ_BUF: bytes read, rx[rx_off..rx_len) not yet */
	size_t rx_off, rx_len; /* given to the engine; reading waits until all were */
	struct sv_session *sess;
	uint64_t session_next_ms;
	struct sv_upstream *up;       /* TUN_PROXY only */
	uint8_t *up_buf;              /* read buffer while in TUN_PROXY */
	bool proxy_failed;            /* the proxy refused: its own words were logged */
	bool proxy_permanent;
};

struct write_chunk {
	uv_write_t req;
	struct tun *tun;
	size_t len;
	uint8_t data[];
};

struct resolve_req {
	uv_getaddrinfo_t req;
	struct app *app;
	bool abandoned;
};

struct app {
	uv_loop_t *loop;
	const struct sv_app_params *p;
	const struct sv_config *cfg;

	uv_prepare_t prepare;
	uv_timer_t timer;
	/* maybe_trim: peaks since the last trim, and its time */
	size_t trim_peak_conns, trim_peak_held;
	uint64_t trim_at;
	uv_signal_t sigint, sigterm, sighup;

	struct tun *tun;              /* the current attempt, or NULL */
	/* --max-tcp: additional connections of the established session (spec 12) */
	struct tun *extra[MAX_TCP];
	unsigned n_extra;
	uint64_t extra_at;            /* when to open the next one, 0 = not now */
	struct sockaddr_storage server_addr; /* what the primary connected to */
	unsigned next_tun_id;
	struct resolve_req *resolving;
	struct addrinfo *addrs, *next_addr;
	uint64_t connect_deadline;    /* while resolving or connecting */
	uint64_t retry_at;            /* next attempt scheduled, or 0 */
	struct sv_retry retry;        /* when to try again (core/retry.h) */
	bool ever_established;
	/* The last session, for one quick re-attach after it was lost (spec 13.4). */
	bool can_reattach;
	uint8_t session_key[20];
	struct sv_welcome welcome;
	uint64_t lost_at;

	bool ready, stopping;
	uint64_t shutdown_deadline;
	uint64_t release_until; /* stopping: the session closes then (RELEASE_GRACE_MS) */
	uint64_t auto_disconnect_at; /* the hub's AutoDisconnect policy, 0 = none */
	uint64_t lease_warn_at;      /* say so if DHCP has not bound by then */
	/* for the status screen */
	uint64_t started_at, first_session_at, session_at; /* Unix seconds */
	unsigned sessions, reconnects;
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	int exit_code;
	/* every listener opened, for the ready line, the ready file and exec mode */
	struct listener {
		const char *key;  /* "socks5", "proxy" (SOCKS and HTTP) or "http" */
		char addr[120];   /* "127.0.0.1:1080", "[::1]:8080" or "unix:PATH" */
	} listeners[3 * SV_MAX_LISTENERS];
	unsigned n_listeners;
	/* exec mode */
	uv_process_t child;
	bool child_running;
	/* the socket --stdio runs attach to (platform/mux.h), "" if none */
	char attach_socket[256];
	/* trust on first use: the certificate recorded by this process */
	bool tofu_pinned;
	uint8_t tofu_pin[32];
};

static void tun_fail(struct tun *t, int err);
static void pump(struct tun *t);
static void start_attempt(struct app *a);
static void connect_next(struct app *a);
static void open_extra(struct app *a);
static void finish(struct app *a, int exit_code);

static void
tun_set_state(struct tun *t, enum tun_state st)
{
	if (t->state == st)
		return;
	log_debug("connection %u: %s -> %s", t->id, tun_state_names[t->state],
		tun_state_names[st]);
	t->state = st;
}

/* --- socket -> TLS ---------------------------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tun *t = h->data;
	size_t len = 0;
	uint8_t *p = NULL;
	if (t->state == TUN_PROXY) {
		p = t->up_buf;
		len = PROXY_READ_BUF;
	} else if (t->rx != NULL && t->rx_off == t->rx_len &&
		sv_tls_recv_buf(t->tls, &len) != NULL) {
		/* as before rx existed: nothing is read while the engine takes no input
		 * (closed, or waiting to send), so EOF is not seen before it matters */
		p = t->rx;
		len = TLS_READ_BUF;
	}
	*buf = uv_buf_init((char *)p, p ? (unsigned)len : 0);
}

static void proxy_input(struct tun *t, const uint8_t *p, size_t n);
static void proxy_failed(struct tun *t, int err);

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tun *t = s->data;
	if (nread > 0 && t->state == TUN_PROXY) {
		proxy_input(t, buf->base ? (const uint8_t *)buf->base : t->up_buf, (size_t)nread);
		return;
	}
	if (nread > 0) {
		t->rx_off = 0;
		t->rx_len = (size_t)nread;
		pump(t);
		return;
	}
	if (nread == 0)
		return;
	uv_read_stop(s);
	t->reading = false;
	if (t->state == TUN_PROXY) {
		proxy_failed(t, nread == UV_EOF ? SV_E_CLOSED : (int)nread);
		return;
	}
	if (nread != UV_ENOBUFS) /* ENOBUFS: see on_alloc; pump() resumes reading */
		tun_fail(t, nread == UV_EOF ? SV_E_CLOSED : (int)nread);
}

/* --- TLS -> socket ---------------------------------------------------------------- */

static void
on_write_done(uv_write_t *req, int status)
{
	struct write_chunk *c = (struct write_chunk *)req;
	struct tun *t = c->tun;
	t->wq_bytes -= c->len;
	free(c);
	if (status == UV_ECANCELED)
		return; /* the handle is closing */
	if (status < 0)
		tun_fail(t, status);
	else
		pump(t);
}

static int
queue_copy(struct tun *t, const uint8_t *p, size_t n)
{
	struct write_chunk *c = malloc(sizeof *c + n);
	if (c == NULL)
		return SV_E_NOMEM;
	c->tun = t;
	c->len = n;
	memcpy(c->data, p, n);
	uv_buf_t b = uv_buf_init((char *)c->data, (unsigned)n);
	int r = uv_write(&c->req, (uv_stream_t *)&t->tcp, &b, 1, on_write_done);
	if (r < 0) {
		free(c);
		return r;
	}
	t->wq_bytes += n;
	return 0;
}

static bool
tun_has_socket(const struct tun *t)
{
	return t->state >= TUN_PROXY && t->state <= TUN_CLOSING;
}

/* Moves TLS records to the socket: straight from the engine's buffer when the socket
 * takes them, else as a queued copy (bounded). Returns true if anything moved. */
static bool
send_records(struct tun *t)
{
	bool moved = false;
	size_t n;
	const uint8_t *p;
	while (tun_has_socket(t) && t->wq_bytes < WRITE_QUEUE_MAX &&
		(p = sv_tls_send_buf(t->tls, &n)) != NULL && n > 0) {
		size_t done = 0;
		if (t->wq_bytes == 0) {
			uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
			int r = uv_try_write((uv_stream_t *)&t->tcp, &b, 1);
			if (r > 0)
				done = (size_t)r;
			else if (r != UV_EAGAIN) {
				tun_fail(t, r);
				return moved;
			}
		}
		if (done < n) {
			int r = queue_copy(t, p + done, n - done);
			if (r != 0) {
				tun_fail(t, r);
				return moved;
			}
		}
		sv_tls_send_ack(t->tls, n);
		moved = true;
	}
	return moved;
}

/* --- the pump --------------------------------------------------------------------- */

/* Moves read bytes into the TLS engine, as far as it takes them (up to the end of a
 * record; then it wants the record's plaintext consumed first). */
static bool
rx_to_tls(struct tun *t)
{
	bool fed = false;
	size_t room;
	uint8_t *dst;
	while (t->rx_off < t->rx_len &&
		(dst = sv_tls_recv_buf(t->tls, &room)) != NULL && room > 0) {
		size_t k = t->rx_len - t->rx_off;
		if (k > room)
			k = room;
		memcpy(dst, t->rx + t->rx_off, k);
		t->rx_off += k;
		sv_tls_recv_ack(t->tls, k);
		fed = true;
	}
	return fed;
}

static bool
session_to_tls(struct tun *t)
{
	bool wrote = false;
	const uint8_t *o;
	size_t on, room;
	uint8_t *dst;
	while ((o = sv_session_output(t->sess, &on)) != NULL && on > 0 &&
		(dst = sv_tls_app_out(t->tls, &room)) != NULL && room > 0) {
		size_t k = on < room ? on : room;
		memcpy(dst, o, k);
		sv_tls_app_out_ack(t->tls, k);
		sv_session_output_ack(t->sess, k);
		wrote = true;
	}
	if (wrote)
		sv_tls_flush(t->tls);
	return wrote;
}

static void
tls_ended(struct tun *t)
{
	char detail[512] = "";
	int r = sv_tls_error(t->tls, detail, sizeof detail);
	if (r == 0) /* the engine closed cleanly */
		r = SV_E_CLOSED;
	if (detail[0] != '\0' && t->state < TUN_ESTABLISHED)
		log_err("%s", detail);
	else if (detail[0] != '\0')
		log_debug("tls: %s", detail);
	tun_fail(t, r);
}

static bool
tls_drained(struct tun *t)
{
	size_t n = 0;
	return t->wq_bytes == 0 && sv_tls_send_buf(t->tls, &n) == NULL;
}

static void
pump(struct tun *t)
{
	if (!tun_has_socket(t) || t->state == TUN_PROXY)
		return;
	uint64_t now = sv_now_ms();
	for (bool progress = true; progress;) {
		progress = rx_to_tls(t);
		size_t n;
		const uint8_t *in = sv_tls_app_in(t->tls, &n);
		if (in != NULL && n > 0) {
			int r = sv_session_input(t->sess, in, n, now);
			sv_tls_app_in_ack(t->tls, n);
			progress = true;
			if (r != 0) {
				tun_fail(t, r);
				return;
			}
		}
		if (!sv_tls_is_closed(t->tls) && session_to_tls(t))
			progress = true;
		if (t->close_notify_due && (sv_session_output(t->sess, &n), n == 0)) {
			t->close_notify_due = false;
			sv_tls_close(t->tls);
			progress = true;
		}
		if (send_records(t))
			progress = true;
		if (!tun_has_socket(t))
			return;
	}
	if (sv_tls_is_closed(t->tls) && tls_drained(t)) {
		if (t->state == TUN_CLOSING) {
			tun_set_state(t, TUN_DONE);
			finish(t->app, t->app->exit_code);
		} else {
			tls_ended(t);
		}
		return;
	}
	size_t room = 0;
	if (!t->reading && t->rx_off == t->rx_len &&
		sv_tls_recv_buf(t->tls, &room) != NULL &&
		uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read) == 0)
		t->reading = true;
}

/* --- session and stack callbacks ---------------------------------------------------- */

static void
on_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct tun *t = arg;
	t->bytes_in += len;
	t->app->frames_in++;
	t->app->bytes_in += len;
	sv_stack_input(frame, len);
}

/* Trust on first use: the login succeeded with an unverified certificate; remember it
 * (known_servers) so that every later connection must present the same one. */
static void
tofu_record(struct app *a, struct tun *t)
{
	const struct sv_config *c = a->cfg;
	if (!sv_tls_peer_cert_sha256(t->tls, a->tofu_pin))
		return;
	a->tofu_pinned = true;
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", a->tofu_pin[i]);
	int r = c->known_servers ? sv_known_servers_add(c->known_servers, c->server_host,
					   c->server_port, a->tofu_pin)
				 : SV_E_INVAL;
	if (r != 0)
		log_warn_r(r, "trust on first use: could not record the certificate "
			"(SHA-256 %s) in %s; it is trusted for this run only", hex,
			c->known_servers ? c->known_servers : "(no known-servers file)");
	else
		log_warn("trust on first use: %s:%u presented the certificate SHA-256 %s; "
			"recorded in %s, later connections must present the same one",
			c->server_host, c->server_port, hex, c->known_servers);
}

/* Connections the session should have: what we asked for, at most what was granted. */
static unsigned
want_connections(const struct app *a)
{
	unsigned want = a->p->max_tcp ? a->p->max_tcp : 1;
	const struct sv_welcome *w = a->tun && a->tun->sess ? sv_session_welcome(a->tun->sess)
							     : NULL;
	if (w != NULL && w->max_connection < want)
		want = w->max_connection ? w->max_connection : 1;
	return want;
}

static void
on_established(void *arg, const struct sv_welcome *w)
{
	struct tun *t = arg;
	struct app *a = t->app;
	tun_set_state(t, TUN_ESTABLISHED);
	t->established_at = sv_now_ms();
	if (t->extra) {
		log_info("session: connection %u of %u joined %s", a->n_extra + 1,
			want_connections(a), w->session_name);
		a->extra_at = a->n_extra + 1 < want_connections(a) ? sv_now_ms() + 1 : 0;
		return;
	}
	sv_retry_established(&a->retry);
	a->extra_at = want_connections(a) > 1 ? sv_now_ms() + 1 : 0;
	a->session_at = (uint64_t)time(NULL);
	if (t->reattach) { /* the same session: the hub still knows our MAC and lease */
		log_info("session: %s re-attached (%s)", w->session_name,
			sv_tls_suite_name(t->tls));
		return;
	}
	a->sessions++;
	if (a->first_session_at == 0)
		a->first_session_at = a->session_at;
	if (a->cfg->tofu_record && !a->tofu_pinned)
		tofu_record(a, t);
	log_info("session: %s established on hub %s as %s (%s, timeout %u s)",
		w->session_name, a->cfg->hub, a->cfg->user, sv_tls_suite_name(t->tls),
		w->timeout_ms / 1000);
	if (w->msg[0] != '\0')
		log_info("session: message from the hub: %s", w->msg);
	if (w->policy_auto_disconnect) {
		/* spec 8: enforced by the client, and the official one does not retry */
		a->auto_disconnect_at = sv_now_ms() + (uint64_t)w->policy_auto_disconnect * 1000;
		log_info("session: the hub's policy ends this session after %u s",
			w->policy_auto_disconnect);
	}
	if (w->policy_max_download || w->policy_max_upload)
		log_info("session: the hub limits this user to %u kbit/s down, %u kbit/s up",
			w->policy_max_download / 1000, w->policy_max_upload / 1000);
	if (a->ever_established) {
		sv_stack_renew(); /* same MAC: DHCP confirms the lease, TCP connections live on */
	} else {
		sv_stack_start();
		a->lease_warn_at = sv_now_ms() + LEASE_WARN_MS;
	}
	a->ever_established = true;
}

static size_t
backlog(struct tun *t)
{
	size_t n = 0;
	sv_session_output(t->sess, &n);
	return n + t->wq_bytes;
}

static void
stack_output(void *arg, const uint8_t *frame, size_t len)
{
	struct app *a = arg;
	struct tun *t = a->tun;
	if (t == NULL || t->state != TUN_ESTABLISHED)
		return; /* no session: the frame is lost, as on an unplugged cable */
	/* spec 11.5: any connection of the session carries any frame; take the one with
	 * the least waiting to be sent */
	size_t best = sv_session_direction(t->sess) == 1 ? SIZE_MAX : backlog(t);
	for (unsigned i = 0; i < a->n_extra; i++) {
		struct tun *x = a->extra[i];
		size_t b;
		if (x->state == TUN_ESTABLISHED && sv_session_direction(x->sess) != 1 &&
			(b = backlog(x)) < best) {
			best = b;
			t = x;
		}
	}
	if (best == SIZE_MAX)
		return; /* no connection may send now (half-duplex, senders reconnecting) */
	int r = sv_session_send_frame(t->sess, frame, len);
	if (r != 0) {
		log_trace("frame of %zu bytes dropped: %s", len, sv_strerror(r));
		return;
	}
	a->frames_out++;
	a->bytes_out += len;
}

static void
format_lease(const struct sv_lease *l, char *out, size_t cap)
{
	char ip[SV_IP_STRLEN], gw[SV_IP_STRLEN], dns[SV_IP_STRLEN];
	int n = snprintf(out, cap, "ip=%s/%u gw=%s", sv_ip_format(&l->ip, ip, sizeof ip),
		l->prefix_len, sv_ip_format(&l->gw, gw, sizeof gw));
	for (unsigned i = 0; i < l->n_dns && n > 0 && (size_t)n < cap; i++)
		n += snprintf(out + n, cap - (size_t)n, "%s%s", i ? "," : " dns=",
			sv_ip_format(&l->dns[i], dns, sizeof dns));
	for (unsigned i = 0; i < l->n_ip6 && n > 0 && (size_t)n < cap; i++) {
		if (l->ip6[i].b[0] == 0xfe && (l->ip6[i].b[1] & 0xc0) == 0x80)
			continue; /* link-local: not useful to a user */
		n += snprintf(out + n, cap - (size_t)n, " ip6=%s",
			sv_ip_format(&l->ip6[i], dns, sizeof dns));
	}
}

/* --ready-file: JSON, written to a temporary file and renamed, so a reader never sees
 * half of it. Written when ready and again for every new IPv4 lease after (a reconnect,
 * a DHCP conflict that moved us), so it names the current address. */
static void
write_ready_file(struct app *a, const struct sv_lease *l)
{
	const char *path = a->p->ready_file;
	char tmp[4200], b[SV_IP_STRLEN], extra[4096];
	if (sv_status_lease_extra_json(l, extra, sizeof extra) < 0)
		snprintf(extra, sizeof extra, "\"domain\":\"\",\"search\":[],\"routes\":[]");
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)uv_os_getpid());
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		log_warn("cannot write --ready-file %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "{");
	static const char *const keys[] = { "socks5", "proxy", "http" };
	for (size_t k = 0; k < 3; k++) {
		fprintf(f, "\"%s\":[", keys[k]);
		unsigned m = 0;
		for (unsigned i = 0; i < a->n_listeners; i++)
			if (strcmp(a->listeners[i].key, keys[k]) == 0)
				fprintf(f, "%s\"%s\"", m++ ? "," : "", a->listeners[i].addr);
		fprintf(f, "],");
	}
	fprintf(f, "\"ip\":\"%s\",\"prefix_len\":%u,", sv_ip_format(&l->ip, b, sizeof b),
		l->prefix_len);
	fprintf(f, "\"gateway\":\"%s\",\"dns\":[", sv_ip_format(&l->gw, b, sizeof b));
	for (unsigned i = 0; i < l->n_dns; i++)
		fprintf(f, "%s\"%s\"", i ? "," : "", sv_ip_format(&l->dns[i], b, sizeof b));
	fprintf(f, "],%s,\"ipv6\":[", extra);
	for (unsigned i = 0; i < l->n_ip6; i++)
		fprintf(f, "%s\"%s\"", i ? "," : "", sv_ip_format(&l->ip6[i], b, sizeof b));
	fprintf(f, "],\"pid\":%d}\n", (int)uv_os_getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		log_warn("cannot write --ready-file %s: %s", path, strerror(errno));
		remove(tmp);
	}
}

static bool
env_is_replaced(const char *kv)
{
	static const char *const names[] = {
		"ALL_PROXY=", "all_proxy=", "HTTP_PROXY=", "http_proxy=", "HTTPS_PROXY=",
		"https_proxy=", "NO_PROXY=", "no_proxy=", /* ours replace them */
		"SEVPN_PASSWORD=", "SEVPN_PROXY_PASSWORD=", /* secrets never reach the child */
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strncmp(kv, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

static void begin_shutdown(struct app *a);
static void start_stdio(struct app *a);

static void
on_child_exit(uv_process_t *proc, int64_t status, int term_signal)
{
	struct app *a = proc->data;
	a->child_running = false;
	a->exit_code = term_signal ? 128 + term_signal : (int)status;
	log_info("exec: the command exited with status %d; stopping", a->exit_code);
	uv_close((uv_handle_t *)proc, NULL);
	begin_shutdown(a);
}

/* The first listener of one of two kinds reachable over TCP (a URL cannot name a Unix
 * socket), or NULL. */
static const char *
first_tcp_listener(const struct app *a, const char *k1, const char *k2)
{
	for (unsigned i = 0; i < a->n_listeners; i++) {
		const struct listener *l = &a->listeners[i];
		if ((strcmp(l->key, k1) == 0 || strcmp(l->key, k2) == 0) &&
			strncmp(l->addr, "unix:", 5) != 0)
			return l->addr;
	}
	return NULL;
}

static void
percent_encode(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s != '\0' && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			(ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

/* "user:pass@" when the listeners require credentials: the command needs them to use
 * the proxy (they are the local proxy's, never the VPN password). */
static void
proxy_credentials(const struct app *a, char *out, size_t cap)
{
	const struct sv_config *c = a->cfg;
	if (c->proxy_user == NULL || c->proxy_password == NULL)
		return;
	char u[256], p[300];
	percent_encode(u, sizeof u, c->proxy_user);
	percent_encode(p, sizeof p, c->proxy_password);
	snprintf(out, cap, "%s:%s@", u, p);
	explicit_bzero(p, sizeof p);
}

/* Exec mode: the command, with our proxy in its environment. */
static void
spawn_child(struct app *a)
{
	extern char **environ;
	static char proxy[8][900];
	static char *env[ENV_MAX];
	size_t n = 0;
	for (char **e = environ; *e != NULL && n < ENV_MAX - 9; e++)
		if (!env_is_replaced(*e))
			env[n++] = *e;
	/* ALL_PROXY: a SOCKS listener (names resolved through the tunnel: socks5h);
	 * HTTP(S)_PROXY: an HTTP-capable listener if there is one, else the same SOCKS */
	const char *socks = first_tcp_listener(a, "socks5", "proxy");
	const char *http = first_tcp_listener(a, "proxy", "http");
	char cred[600] = "";
	proxy_credentials(a, cred, sizeof cred);
	static const char *const vars[] = { "ALL_PROXY", "all_proxy", "HTTP_PROXY",
		"http_proxy", "HTTPS_PROXY", "https_proxy" };
	for (size_t i = 0; i < 6; i++) {
		bool use_http = i >= 2 && http != NULL;
		const char *where = use_http ? http : socks ? socks : http;
		snprintf(proxy[i], sizeof proxy[i], "%s=%s://%s%s", vars[i],
			use_http || socks == NULL ? "http" : "socks5h", cred, where);
		env[n++] = proxy[i];
	}
	snprintf(proxy[6], sizeof proxy[6], "NO_PROXY=localhost,127.0.0.1,::1");
	snprintf(proxy[7], sizeof proxy[7], "no_proxy=localhost,127.0.0.1,::1");
	env[n++] = proxy[6];
	env[n++] = proxy[7];
	env[n] = NULL;

	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_INHERIT_FD, .data.fd = 0 },
		{ .flags = UV_INHERIT_FD, .data.fd = 1 },
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	uv_process_options_t o = {
		.exit_cb = on_child_exit,
		.file = a->p->exec_argv[0],
		.args = (char **)a->p->exec_argv,
		.env = env,
		.stdio_count = 3,
		.stdio = stdio,
	};
	a->child.data = a;
	int r = uv_spawn(a->loop, &a->child, &o);
	if (r != 0) {
		log_err("exec: cannot run %s: %s", a->p->exec_argv[0], uv_strerror(r));
		uv_close((uv_handle_t *)&a->child, NULL);
		a->exit_code = r == UV_ENOENT ? SV_EXIT_EXEC_NOTFOUND : SV_EXIT_EXEC_CANNOT;
		begin_shutdown(a);
		return;
	}
	a->child_running = true;
	log_info("exec: running %s (pid %d) with its proxy variables pointing at %s",
		a->p->exec_argv[0], a->child.pid, socks ? socks : http);
}

static void
on_lease(void *arg, const struct sv_lease *lease)
{
	struct app *a = arg;
	char desc[512];
	format_lease(lease, desc, sizeof desc);
	if (a->ready) {
		/* while DHCP confirms the lease after a reconnect it has no IPv4 for a moment */
		if (lease->ip.family == 4) {
			log_info("address: %s", desc);
			if (a->p->ready_file != NULL)
				write_ready_file(a, lease);
		}
		return;
	}
	if (lease->ip.family != 4)
		return;
	a->ready = true;
	{
		char ip[SV_IP_STRLEN];
		sv_forward_log_lease(sv_ip_format(&lease->ip, ip, sizeof ip));
	}
	char lis[1200] = "";
	size_t n = 0;
	for (unsigned i = 0; i < a->n_listeners && n < sizeof lis; i++)
		n += (size_t)snprintf(lis + n, sizeof lis - n, "%s%s=%s", i ? " " : "",
			a->listeners[i].key, a->listeners[i].addr);
	if (a->p->ready_file != NULL) /* first: who sees the ready line finds the file */
		write_ready_file(a, lease);
	fprintf(stderr, "ready %s%s%s\n", lis, lis[0] != '\0' ? " " : "", desc);
	fflush(stderr);
	if (a->p->exec_argv != NULL)
		spawn_child(a);
	if (a->cfg->have_stdio)
		start_stdio(a);
}

/* --- failures, retries and shutdown -------------------------------------------------- */

/* Logs why an attempt failed, in words for the user. */
static void
explain(struct tun *t, int err)
{
	const struct sv_config *c = t->app->cfg;
	if (t->proxy_failed)
		return; /* proxy_failed() logged the proxy's own words */
	switch (err) {
	case SV_E_SERVER: {
		unsigned code = sv_session_server_error(t->sess);
		if (t->reattach && code == 13) { /* the normal answer once a session ended */
			log_info("the previous session has ended on the server; logging in again");
			return;
		}
		log_err("the server refused the login: %s (SoftEther error %u, %s)",
			sv_softether_err_text(code), code, sv_softether_err_name(code));
		return;
	}
	case SV_E_CERT:
		/* tls_ended() logged the detail with the fingerprint */
		if (c->known_line > 0) {
			uint8_t got[32];
			char text[1024];
			if (sv_tls_peer_cert_sha256(t->tls, got)) {
				sv_known_servers_mismatch_text(c->known_servers, c->known_line,
					c->server_host, c->server_port, got, text, sizeof text);
				log_err("%s", text);
			}
		}
		return;
	case SV_E_NOTVPN:
		log_err("%s:%u answered, but not as a SoftEther VPN Server; check --server "
			"(host and port)", c->server_host, c->server_port);
		return;
	case SV_E_TLS:
		log_err("TLS with %s:%u failed; is it a SoftEther VPN Server (TLS 1.2 or newer) "
			"on that port?", c->server_host, c->server_port);
		return;
	default:
		break;
	}
	if (t->state < TUN_PROXY && t->app->p->upstream != NULL)
		log_err_r(err, "cannot connect to the upstream proxy %s:%u; check "
			"--upstream-proxy or HTTPS_PROXY / ALL_PROXY", t->app->p->upstream->host,
			t->app->p->upstream->port);
	else if (t->state < TUN_LOGIN)
		log_err_r(err, "cannot connect to %s:%u; check the host, the port and that the "
			"server is running", c->server_host, c->server_port);
	else if (t->state == TUN_LOGIN)
		log_err_r(err, "the connection to %s:%u ended during login", c->server_host,
			c->server_port);
	else
		log_warn_r(err, "the VPN session with %s:%u was lost", c->server_host,
			c->server_port);
}

/* One attempt ended with err (t may be NULL when no connection was made); the retry
 * policy (core/retry.h) decides what comes next. */
static void
attempt_failed(struct app *a, struct tun *t, int err)
{
	if (a->stopping) {
		finish(a, a->exit_code);
		return;
	}
	if (t != NULL && t->proxy_permanent) {
		log_info("not retrying: the upstream proxy would refuse again");
		finish(a, SV_EXIT_REFUSED);
		return;
	}
	if (t != NULL && t->reattach &&
		(t->established_at == 0 || sv_now_ms() - t->established_at < REATTACH_HOLD_MS)) {
		/* the old session is gone (error 13), or the server dropped the re-attached
		 * connection at once (5.01 after an abrupt loss, spec 13.3): log in afresh */
		log_info("re-attach did not hold; logging in again");
		a->can_reattach = false;
		a->retry_at = sv_now_ms() + 1;
		return;
	}
	unsigned code = err == SV_E_SERVER && t != NULL ? sv_session_server_error(t->sess) : 0;
	uint32_t rnd = 0;
	sv_random(&rnd, sizeof rnd);
	/* a session counts as having worked (resetting the backoff) when it lasted or
	 * carried real traffic; one that dies right after its welcome does not */
	uint64_t lived = t != NULL && t->established_at ? sv_now_ms() - t->established_at : 0;
	if (t != NULL && t->bytes_in >= PRODUCTIVE_BYTES)
		lived = SV_RETRY_STABLE_MS;
	long d = sv_retry_failed(&a->retry, err, code, lived, rnd);
	if (d == SV_RETRY_NEVER) {
		log_info("not retrying: the same login would be refused again");
		finish(a, err == SV_E_CERT ? SV_EXIT_CERT
				: err == SV_E_NOTVPN ? SV_EXIT_FAILURE : SV_EXIT_REFUSED);
		return;
	}
	if (d == SV_RETRY_GIVE_UP) {
		log_err("giving up after %u attempts", a->retry.failures);
		finish(a, SV_EXIT_FAILURE);
		return;
	}
	if (a->ever_established)
		a->reconnects++;
	if (d == 0)
		log_info("reconnecting now");
	else
		log_info("reconnecting in %.1f s (attempt %u)", (double)d / 1000,
			a->retry.failures + 1);
	a->retry_at = sv_now_ms() + (uint64_t)d;
	if (a->retry_at == 0)
		a->retry_at = 1;
}

static void
on_tun_closed(uv_handle_t *h)
{
	struct tun *t = h->data;
	sv_upstream_free(t->up);
	free(t->up_buf);
	free(t->rx);
	sv_session_free(t->sess);
	sv_tls_free(t->tls);
	free(t);
}

/* Detach t from the app and close its socket (t is freed by the close callback). */
static void
tun_close(struct tun *t)
{
	struct app *a = t->app;
	if (a->tun == t)
		a->tun = NULL;
	for (unsigned i = 0; i < a->n_extra; i++)
		if (a->extra[i] == t) {
			a->extra[i] = a->extra[--a->n_extra];
			break;
		}
	tun_set_state(t, TUN_DONE);
	t->reading = false;
	uv_close((uv_handle_t *)&t->tcp, on_tun_closed);
}

/* Additional connections end with the session, with close_notify where possible. */
static void
close_extras(struct app *a)
{
	while (a->n_extra > 0) {
		struct tun *x = a->extra[0];
		if (tun_has_socket(x) && sv_tls_is_established(x->tls)) {
			x->failing = true; /* send errors are echoes now */
			sv_tls_close(x->tls);
			send_records(x);
		}
		tun_close(x);
	}
	a->extra_at = 0;
}

/* An additional connection ended: the session goes on; open another one later. */
static void
extra_failed(struct tun *t, int err)
{
	struct app *a = t->app;
	log_info_r(err, "session: an additional connection ended");
	bool ours = err <= SV_E_INCOMPLETE && err != SV_E_CLOSED && err != SV_E_TLS;
	if (ours && tun_has_socket(t) && sv_tls_is_established(t->tls)) {
		sv_tls_close(t->tls);
		send_records(t);
	}
	tun_close(t);
	if (a->tun != NULL && a->tun->state == TUN_ESTABLISHED && !a->stopping)
		a->extra_at = sv_now_ms() + EXTRA_RETRY_MS;
}

/* The first error of an attempt wins; the app decides what comes next. */
static void
tun_fail(struct tun *t, int err)
{
	struct app *a = t->app;
	if (t->state == TUN_DONE || t->failing)
		return;
	if (t->state == TUN_CLOSING) { /* shutting down: errors now are expected */
		tun_close(t);
		finish(a, a->exit_code);
		return;
	}
	t->failing = true;
	enum tun_state was = t->state;
	if (t->extra) {
		extra_failed(t, err);
		return;
	}
	close_extras(a);
	a->can_reattach = false;
	if (was == TUN_ESTABLISHED && sv_session_key(t->sess, a->session_key) &&
		sv_session_welcome(t->sess) != NULL) {
		a->welcome = *sv_session_welcome(t->sess);
		a->lost_at = sv_now_ms();
		a->can_reattach = !t->reattach || sv_now_ms() - t->established_at >= REATTACH_HOLD_MS;
	}
	if (t->sess != NULL)
		sv_session_fail(t->sess, err);
	explain(t, err);
	/* Our own decision to end (a refused login, a dead peer, a protocol error): say so
	 * with close_notify, best effort, so the server does not see an abrupt loss. */
	bool ours = err <= SV_E_INCOMPLETE && err != SV_E_CLOSED && err != SV_E_TLS &&
		err != SV_E_CERT;
	if (ours && was >= TUN_LOGIN && sv_tls_is_established(t->tls)) {
		sv_tls_close(t->tls);
		send_records(t); /* its errors come back here and are ignored (failing) */
	}
	bool had_socket = was >= TUN_LOGIN;
	tun_close(t);
	if (!had_socket && was == TUN_CONNECTING && a->next_addr != NULL) {
		connect_next(a); /* another address of the same name */
		return;
	}
	attempt_failed(a, t, err);
}

/* Ends the process: stop the loop; sv_app_run() closes what is left. */
static void
finish(struct app *a, int exit_code)
{
	if (a->p->exec_argv != NULL && !a->ready && exit_code != 0)
		exit_code = SV_EXIT_EXEC_TUNNEL; /* the command never ran */
	if (a->child_running) { /* the tunnel gave up under the command */
		log_warn("exec: stopping the command (pid %d)", a->child.pid);
		uv_process_kill(&a->child, SIGTERM);
		a->child_running = false;
		if (exit_code == 0)
			exit_code = SV_EXIT_FAILURE;
	}
	a->exit_code = exit_code;
	a->retry_at = 0;
	uv_stop(a->loop);
}

/* Orderly end, second step: flush, close_notify, then FIN. */
static void
close_session(struct app *a)
{
	struct tun *t = a->tun;
	a->release_until = 0;
	if (t == NULL || t->state != TUN_ESTABLISHED) {
		finish(a, a->exit_code);
		return;
	}
	close_extras(a); /* after the release: it may have gone out on any of them */
	sv_stack_flush_all();
	sv_session_flush(t->sess);
	tun_set_state(t, TUN_CLOSING);
	t->close_notify_due = true; /* after the release has gone into TLS (pump) */
	a->shutdown_deadline = sv_now_ms() + SHUTDOWN_GRACE_MS;
	pump(t);
}

/* Orderly end: release the lease, then close the session (close_session) a little
 * later, so that the release reaches the hub's network. */
static void
begin_shutdown(struct app *a)
{
	if (a->stopping)
		return;
	a->stopping = true;
	log_info("shutting down");
	sv_proxy_close_all();
	sv_forward_close_all();
	struct tun *t = a->tun;
	if (t == NULL || t->state != TUN_ESTABLISHED) {
		finish(a, a->exit_code);
		return;
	}
	sv_stack_stop(); /* DHCP release goes out as a frame, maybe after an ARP exchange */
	sv_stack_flush_all();
	a->release_until = sv_now_ms() + RELEASE_GRACE_MS;
}

/* Was signum ignored when we started (nohup, a shell's `trap '' HUP`)? Installing a
 * handler would undo that: the caller asked for us to outlive its terminal. */
static bool
signal_ignored_at_start(int signum)
{
#ifdef HAVE_SIGACTION
	struct sigaction sa;
	return sigaction(signum, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
#else
	(void)signum;
	return false;
#endif
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct app *a = h->data;
	if (a->child_running) { /* exec mode: the command decides when we stop */
		uv_process_kill(&a->child, signum);
		return;
	}
	begin_shutdown(a);
}

/* --- loop hooks ------------------------------------------------------------------- */

static void on_timer(uv_timer_t *timer);

static void
earliest(uint64_t *next, uint64_t when)
{
	if (when != 0 && when < *next)
		*next = when;
}

static void
arm_timer(struct app *a)
{
	uint64_t now = sv_now_ms();
	uint64_t next = now + sv_stack_sleeptime();
	if (a->tun != NULL && a->tun->state >= TUN_LOGIN && a->tun->state <= TUN_ESTABLISHED)
		earliest(&next, a->tun->session_next_ms);
	earliest(&next, a->connect_deadline);
	earliest(&next, a->retry_at);
	earliest(&next, a->shutdown_deadline);
	earliest(&next, a->release_until);
	earliest(&next, a->auto_disconnect_at);
	earliest(&next, a->lease_warn_at);
	earliest(&next, a->extra_at);
	for (unsigned i = 0; i < a->n_extra; i++)
		if (a->extra[i]->state >= TUN_LOGIN && a->extra[i]->state <= TUN_ESTABLISHED)
			earliest(&next, a->extra[i]->session_next_ms);
	uv_timer_start(&a->timer, on_timer, next > now ? next - now : 0, 0);
}

/* Received data waits in ~1.6 KB pbufs scattered through the heap; once they are freed
 * glibc keeps most of those pages. After the connections or the buffered bytes fell to
 * under half (a quarter) of a large peak, give the free pages back; at most every 10 s. */
#define TRIM_MIN_CONNS 64u
#define TRIM_MIN_HELD (8u * 1024u * 1024u)
#define TRIM_INTERVAL_MS 10000u

static void
maybe_trim(struct app *a)
{
#ifdef HAVE_MALLOC_TRIM
	struct sv_tcpconn_mem mem;
	size_t n = sv_proxy_count();
	uint64_t now;

	sv_tcpconn_mem_stats(&mem);
	if (n > a->trim_peak_conns)
		a->trim_peak_conns = n;
	if (mem.rx_held > a->trim_peak_held)
		a->trim_peak_held = mem.rx_held;
	if (!(a->trim_peak_conns >= TRIM_MIN_CONNS && n <= a->trim_peak_conns / 2) &&
		!(a->trim_peak_held >= TRIM_MIN_HELD && mem.rx_held <= a->trim_peak_held / 4))
		return;
	now = sv_now_ms();
	if (now - a->trim_at < TRIM_INTERVAL_MS)
		return;
	a->trim_at = now;
	a->trim_peak_conns = n;
	a->trim_peak_held = mem.rx_held;
	malloc_trim(0);
#else
	(void)a;
#endif
}

static void
on_prepare(uv_prepare_t *h)
{
	struct app *a = h->data;
	sv_stack_flush();
	maybe_trim(a);
	if (a->tun != NULL && a->tun->state == TUN_ESTABLISHED)
		sv_session_flush(a->tun->sess);
	if (a->tun != NULL)
		pump(a->tun);
	for (unsigned i = 0; i < a->n_extra; i++) {
		struct tun *x = a->extra[i];
		if (x->state == TUN_ESTABLISHED)
			sv_session_flush(x->sess);
		pump(x); /* may close x: the array shrinks, but only after this index */
	}
	arm_timer(a);
}

static void
on_timer(uv_timer_t *timer)
{
	struct app *a = timer->data;
	uint64_t now = sv_now_ms();
	sv_stack_poll();
	if (a->shutdown_deadline && now >= a->shutdown_deadline) {
		log_debug("shutdown: the server did not take the close in time");
		finish(a, a->exit_code);
		return;
	}
	if (a->release_until && now >= a->release_until) {
		close_session(a); /* on_prepare re-arms the timer */
		return;
	}
	if (a->lease_warn_at && now >= a->lease_warn_at) {
		a->lease_warn_at = 0;
		if (!a->ready)
			log_warn("no DHCP lease %u s after the session came up: the hub's network "
				"may have no DHCP server (SecureNAT off, no local bridge, or a "
				"DHCP filter policy); still trying", LEASE_WARN_MS / 1000);
	}
	if (a->auto_disconnect_at && now >= a->auto_disconnect_at && !a->stopping) {
		a->auto_disconnect_at = 0;
		log_err("the hub's policy (AutoDisconnect) ended the session; not reconnecting, "
			"as the official client does not (SoftEther error 126)");
		a->exit_code = SV_EXIT_FAILURE;
		begin_shutdown(a);
		return;
	}
	if (a->connect_deadline && now >= a->connect_deadline) {
		a->connect_deadline = 0;
		if (a->resolving != NULL) { /* getaddrinfo is stuck: let it finish unseen */
			a->resolving->abandoned = true;
			a->resolving = NULL;
			log_err("resolving %s timed out", a->cfg->server_host);
			attempt_failed(a, NULL, SV_E_TIMEOUT);
		} else if (a->tun != NULL && a->tun->state == TUN_CONNECTING) {
			a->next_addr = NULL;
			tun_fail(a->tun, -ETIMEDOUT);
		} else if (a->tun != NULL && a->tun->state == TUN_PROXY) {
			proxy_failed(a->tun, SV_E_TIMEOUT);
		}
		return;
	}
	if (a->retry_at && now >= a->retry_at) {
		a->retry_at = 0;
		start_attempt(a);
		return;
	}
	if (a->extra_at && now >= a->extra_at)
		open_extra(a);
	for (unsigned i = a->n_extra; i-- > 0;) {
		struct tun *x = a->extra[i];
		if (x->state >= TUN_LOGIN && x->state <= TUN_ESTABLISHED) {
			int r = sv_session_tick(x->sess, now, &x->session_next_ms);
			if (r != 0)
				tun_fail(x, r);
		}
	}
	struct tun *t = a->tun;
	if (t != NULL && t->state >= TUN_LOGIN && t->state <= TUN_ESTABLISHED) {
		int r = sv_session_tick(t->sess, now, &t->session_next_ms);
		if (r != 0)
			tun_fail(t, r);
	}
}

/* --- connecting ------------------------------------------------------------------- */

static void
session_random(void *p, size_t n)
{
	if (sv_random(p, n) != 0)
		memset(p, 0, n); /* padding and keep-alive filler only: not secret */
}

/* TLS and session for a connected socket. */
static int
tun_start_login(struct tun *t)
{
	const struct sv_config *c = t->app->cfg;
	const struct sv_app_params *p = t->app->p;
	struct sv_tls_config tc = { .verify = c->verify, .ca_file = c->ca_file,
		.server_name = c->server_host };
	memcpy(tc.pin, c->pin, sizeof tc.pin);
	if (t->app->tofu_pinned) { /* recorded at this process's first login */
		tc.verify = SV_TLS_VERIFY_PIN;
		memcpy(tc.pin, t->app->tofu_pin, sizeof tc.pin);
	}
	int r = 0;
	if ((t->tls = sv_tls_new(&tc, &r)) == NULL)
		return r ? r : SV_E_NOMEM;
	if ((t->rx = malloc(TLS_READ_BUF)) == NULL) /* only with t->tls: on_alloc */
		return SV_E_NOMEM;

	struct sv_session_config sc = {
		.host = c->server_host,
		.hub = c->hub,
		.username = c->user,
		.authtype = p->authtype,
		.plain_password = p->plain_password,
		.cert = p->cert,
		.client_hostname = sv_os_hostname(),
	};
	memcpy(sc.password_hash, p->password_hash, sizeof sc.password_hash);
	memcpy(sc.unique_id, p->unique_id, sizeof sc.unique_id);
	struct app *a = t->app;
	uint8_t key[20];
	if (t->extra) { /* join the current session (spec 12) */
		if (a->tun == NULL || !sv_session_key(a->tun->sess, key) ||
			sv_session_welcome(a->tun->sess) == NULL)
			return SV_E_CLOSED;
		sc.attach_key = key;
		sc.attach_welcome = sv_session_welcome(a->tun->sess);
		t->reattach = true;
	} else if (a->can_reattach && sv_now_ms() - a->lost_at < a->welcome.timeout_ms) {
		/* the server keeps a session T ms after its last connection (spec 13.1) */
		sc.attach_key = a->session_key;
		sc.attach_welcome = &a->welcome;
		t->reattach = true;
		a->can_reattach = false;
		log_info("re-attaching to %s", a->welcome.session_name);
	}
	static const struct sv_session_ops ops = {
		.on_frame = on_frame,
		.on_established = on_established,
	};
	sc.compress = p->compress;
	sc.max_connection = p->max_tcp;
	sc.half_connection = p->half_duplex;
	sv_session_set_random(session_random);
	t->sess = sv_session_new(&sc, &ops, t);
	explicit_bzero(sc.password_hash, sizeof sc.password_hash);
	if (t->sess == NULL)
		return SV_E_NOMEM;
	sv_session_start(t->sess, sv_now_ms());
	sv_session_tick(t->sess, sv_now_ms(), &t->session_next_ms);
	return 0;
}

/* Connected (to the server, or through the proxy): TLS and the session begin. Bytes
 * that followed the proxy's reply belong to TLS. */
static void
tls_start(struct tun *t, const uint8_t *early, size_t n)
{
	tun_set_state(t, TUN_LOGIN);
	int r = tun_start_login(t);
	while (r == 0 && n > 0) {
		size_t room = 0;
		uint8_t *dst = sv_tls_recv_buf(t->tls, &room);
		if (dst == NULL || room == 0) {
			r = SV_E_PROTO; /* cannot happen before the ServerHello was asked for */
			break;
		}
		size_t k = n < room ? n : room;
		memcpy(dst, early, k);
		sv_tls_recv_ack(t->tls, k);
		early += k;
		n -= k;
	}
	if (r != 0) {
		tun_fail(t, r);
		return;
	}
	pump(t);
}

static bool
proxy_send(struct tun *t)
{
	size_t n;
	const uint8_t *p = sv_upstream_output(t->up, &n);
	if (p == NULL || n == 0)
		return true;
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int w = uv_try_write((uv_stream_t *)&t->tcp, &b, 1);
	size_t done = w > 0 ? (size_t)w : 0;
	if (w < 0 && w != UV_EAGAIN) {
		proxy_failed(t, w);
		return false;
	}
	if (done < n && queue_copy(t, p + done, n - done) != 0) {
		proxy_failed(t, SV_E_NOMEM);
		return false;
	}
	sv_upstream_output_ack(t->up, n);
	return true;
}

/* The proxy said no, or the connection to it failed: its words, then the policy. */
static void
proxy_failed(struct tun *t, int err)
{
	if (t->state != TUN_PROXY)
		return;
	if (t->up != NULL) {
		sv_upstream_fail(t->up, err); /* words the transport failure as the proxy's */
		log_err("%s", sv_upstream_error_text(t->up));
		t->proxy_permanent = sv_upstream_error_is_permanent(t->up);
	}
	t->proxy_failed = true;
	tun_fail(t, err);
}

static void
proxy_input(struct tun *t, const uint8_t *p, size_t n)
{
	size_t used = 0;
	int r = sv_upstream_input(t->up, p, n, &used);
	if (r < 0) {
		log_err("%s", sv_upstream_error_text(t->up));
		t->proxy_permanent = sv_upstream_error_is_permanent(t->up);
		t->proxy_failed = true;
		tun_fail(t, r);
		return;
	}
	if (r == 0) {
		proxy_send(t);
		return;
	}
	log_info("upstream proxy %s:%u connected us to %s:%u", t->app->p->upstream->host,
		t->app->p->upstream->port, t->app->cfg->server_host, t->app->cfg->server_port);
	t->app->connect_deadline = 0;
	sv_upstream_free(t->up);
	t->up = NULL;
	/* the rest of this read (if any) is the server's first TLS bytes: keep a copy,
	 * since p is the proxy buffer that TLS replaces as the read target */
	uint8_t early[PROXY_READ_BUF];
	size_t rest = n - used;
	memcpy(early, p + used, rest);
	tls_start(t, early, rest);
}

static void
proxy_start(struct tun *t)
{
	struct app *a = t->app;
	tun_set_state(t, TUN_PROXY);
	int r = sv_upstream_new(&t->up, a->p->upstream, a->cfg->server_host,
		a->cfg->server_port);
	if (r == 0 && (t->up_buf = malloc(PROXY_READ_BUF)) == NULL)
		r = SV_E_NOMEM;
	if (r != 0) {
		tun_fail(t, r);
		return;
	}
	if (!proxy_send(t))
		return;
	if (uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read) == 0)
		t->reading = true;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct tun *t = req->data;
	struct app *a = t->app;
	if (t->state != TUN_CONNECTING)
		return; /* closed meanwhile */
	if (status < 0 && t->extra) {
		tun_fail(t, status);
		return;
	}
	if (status < 0) {
		char host[64] = "?";
		if (a->next_addr != NULL)
			uv_ip_name(a->next_addr->ai_addr, host, sizeof host);
		log_debug("connection %u: connect to %s: %s", t->id, host, uv_strerror(status));
		if (a->next_addr != NULL)
			a->next_addr = a->next_addr->ai_next;
		tun_fail(t, status);
		return;
	}
	uv_tcp_nodelay(&t->tcp, 1);
	if (!t->extra && a->next_addr != NULL)
		memcpy(&a->server_addr, a->next_addr->ai_addr, a->next_addr->ai_addrlen);
	if (a->p->upstream != NULL) {
		proxy_start(t); /* the connect deadline still runs */
		return;
	}
	a->connect_deadline = 0; /* from here on the session's own deadlines apply */
	tls_start(t, NULL, 0);
}

/* --max-tcp: one more connection to the server the primary reached. */
static void
open_extra(struct app *a)
{
	a->extra_at = 0;
	if (a->tun == NULL || a->tun->state != TUN_ESTABLISHED || a->stopping ||
		a->n_extra + 1 >= want_connections(a) || a->n_extra >= MAX_TCP)
		return;
	struct tun *t = calloc(1, sizeof *t);
	if (t == NULL)
		return;
	t->app = a;
	t->id = ++a->next_tun_id;
	t->state = TUN_CONNECTING;
	t->extra = true;
	uv_tcp_init(a->loop, &t->tcp);
	t->tcp.data = t;
	t->creq.data = t;
	a->extra[a->n_extra++] = t;
	int r = uv_tcp_connect(&t->creq, &t->tcp, (struct sockaddr *)&a->server_addr, on_connect);
	if (r != 0)
		tun_fail(t, r);
}

/* Connect to a->next_addr with a new tun. */
static void
connect_next(struct app *a)
{
	struct tun *t = calloc(1, sizeof *t);
	if (t == NULL) {
		attempt_failed(a, NULL, SV_E_NOMEM);
		return;
	}
	t->app = a;
	t->id = ++a->next_tun_id;
	t->state = TUN_CONNECTING;
	uv_tcp_init(a->loop, &t->tcp);
	t->tcp.data = t;
	t->creq.data = t;
	a->tun = t;
	int r = uv_tcp_connect(&t->creq, &t->tcp, a->next_addr->ai_addr, on_connect);
	if (r != 0) {
		a->next_addr = a->next_addr->ai_next;
		tun_fail(t, r);
	}
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct resolve_req *rr = (struct resolve_req *)req;
	struct app *a = rr->app;
	bool abandoned = rr->abandoned;
	free(rr);
	if (abandoned) {
		if (res)
			uv_freeaddrinfo(res);
		return;
	}
	a->resolving = NULL;
	if (status < 0 && a->p->upstream != NULL) {
		log_err("cannot resolve the upstream proxy's name %s: %s; check "
			"--upstream-proxy or HTTPS_PROXY / ALL_PROXY", a->p->upstream->host,
			uv_strerror(status));
		a->connect_deadline = 0;
		attempt_failed(a, NULL, status);
		return;
	}
	if (status < 0) {
		log_err("cannot resolve the server name %s: %s; check --server",
			a->cfg->server_host, uv_strerror(status));
		a->connect_deadline = 0;
		attempt_failed(a, NULL, status);
		return;
	}
	if (a->addrs)
		uv_freeaddrinfo(a->addrs);
	a->addrs = a->next_addr = res;
	connect_next(a);
}

/* A new attempt: resolve the server name again (it may have moved), then connect. */
static void
start_attempt(struct app *a)
{
	const struct sv_config *c = a->cfg;
	struct resolve_req *rr = calloc(1, sizeof *rr);
	if (rr == NULL) {
		attempt_failed(a, NULL, SV_E_NOMEM);
		return;
	}
	rr->app = a;
	const struct sv_upstream_cfg *up = a->p->upstream;
	const char *host = up ? up->host : c->server_host;
	char port[8];
	snprintf(port, sizeof port, "%u", up ? up->port : c->server_port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	if (up != NULL)
		log_info("connecting to %s:%u through the upstream proxy %s:%u, hub %s, user %s",
			c->server_host, c->server_port, up->host, up->port, c->hub, c->user);
	else
		log_info("connecting to %s:%u, hub %s, user %s", c->server_host,
			c->server_port, c->hub, c->user);
	a->connect_deadline = sv_now_ms() + CONNECT_TIMEOUT_MS;
	a->resolving = rr;
	int r = uv_getaddrinfo(a->loop, &rr->req, on_resolved, host, port, &hints);
	if (r != 0) {
		free(rr);
		a->resolving = NULL;
		a->connect_deadline = 0;
		log_err("cannot resolve %s: %s", host, uv_strerror(r));
		attempt_failed(a, NULL, r);
	}
}

/* --- status -------------------------------------------------------------------- */

static const char *
status_state(const struct app *a)
{
	const struct tun *t = a->tun;
	if (a->stopping)
		return "stopping";
	if (t == NULL || t->state == TUN_DONE)
		return a->retry_at ? "retrying" : "connecting";
	if (t->state < TUN_LOGIN)
		return "connecting";
	if (t->state == TUN_LOGIN)
		return sv_tls_is_established(t->tls) ? "authenticating" : "negotiating";
	return t->state == TUN_ESTABLISHED ? "established" : "stopping";
}

static void
fill_status(void *arg, struct sv_status *st)
{
	struct app *a = arg;
	const struct sv_config *c = a->cfg;
	const struct tun *t = a->tun;
	st->state = status_state(a);
	snprintf(st->server, sizeof st->server, "%s", c->server_host);
	st->port = c->server_port;
	snprintf(st->hub, sizeof st->hub, "%s", c->hub);
	snprintf(st->user, sizeof st->user, "%s", c->user);
	if (a->p->upstream != NULL)
		sv_upstream_cfg_describe(a->p->upstream, st->upstream_proxy,
			sizeof st->upstream_proxy);
	snprintf(st->attach_socket, sizeof st->attach_socket, "%s", a->attach_socket);
	st->encryption = true;
	if (t != NULL && t->sess != NULL) {
		const char *prod = sv_session_server_product(t->sess, &st->server_version,
			&st->server_build);
		snprintf(st->server_product, sizeof st->server_product, "%s", prod);
		const struct sv_welcome *w = sv_session_welcome(t->sess);
		if (w != NULL) {
			snprintf(st->session_name, sizeof st->session_name, "%s", w->session_name);
			snprintf(st->connection_name, sizeof st->connection_name, "%s",
				w->connection_name);
			st->max_connection = w->max_connection;
			st->compression = w->use_compress;
			st->connections = 1 + a->n_extra;
		}
	}
	uint8_t h[32];
	if (t != NULL && t->tls != NULL) {
		snprintf(st->cipher, sizeof st->cipher, "%s", sv_tls_suite_name(t->tls));
		if (sv_tls_peer_cert_sha256(t->tls, h))
			for (int i = 0; i < 32; i++)
				snprintf(st->cert_sha256 + 2 * i, 3, "%02x", h[i]);
	}
	st->started_at = a->started_at;
	st->first_session_at = a->first_session_at;
	st->session_at = t != NULL && t->state == TUN_ESTABLISHED ? a->session_at : 0;
	st->sessions = a->sessions;
	st->reconnects = a->reconnects;
	st->have_lease = sv_stack_lease(&st->lease);
	st->bytes_in = a->bytes_in;
	st->bytes_out = a->bytes_out;
	st->frames_in = a->frames_in;
	st->frames_out = a->frames_out;
	st->proxy_connections = sv_proxy_count();
	struct sv_tcpconn_mem mem;
	sv_tcpconn_mem_stats(&mem);
	st->buffered_bytes = mem.rx_held;
	st->buffer_budget_bytes = mem.budget;
	st->upload_queued_bytes = mem.tx_queued;
}

/* --- set-up and tear-down ---------------------------------------------------------- */

/* The per-account socket that later --stdio runs attach to (platform/mux.h): SOCKS5
 * without credentials (only this user can reach it) and without an idle timeout (an
 * ssh session may sit idle for hours). Not fatal: without it --stdio logs in itself. */
static void
open_mux(struct app *a)
{
	const struct sv_config *c = a->cfg;
	struct sv_proxy_config pc = {
		.connect_timeout_ms = c->connect_timeout_ms,
		.max_clients = c->max_clients,
		.conn_buffer = 64 * 1024,
	};
	char path[256], addr[300], err[512];
	int r;

	if (c->have_stdio || c->no_attach)
		return;
	if ((r = sv_mux_path(c, true, path, sizeof path, err, sizeof err)) != 0) {
		log_warn("attach: %s; --stdio runs will log in themselves", err);
		return;
	}
	snprintf(addr, sizeof addr, "unix:%s", path);
	r = sv_proxy_listen(a->loop, SV_PROXY_SOCKS, addr, &pc, NULL, 0);
	if (r == -EADDRINUSE)
		log_info("attach: another instance already serves %s; --stdio runs attach "
			"to that one", path);
	else if (r != 0)
		log_warn_r(r, "attach: cannot serve --stdio runs on %s", path);
	else {
		log_info("attach: --stdio runs for this account attach through %s", path);
		snprintf(a->attach_socket, sizeof a->attach_socket, "%s", path);
	}
}

static int
open_listeners(struct app *a)
{
	const struct sv_config *c = a->cfg;
	struct sv_proxy_config pc = {
		.connect_timeout_ms = c->connect_timeout_ms,
		.max_clients = c->max_clients,
		.max_per_client = c->max_conns_per_client,
		.conn_buffer = 64 * 1024,
		.idle_timeout_ms = c->idle_timeout_ms,
		.user = c->proxy_user,
		.password = c->proxy_password,
	};
	const struct {
		enum sv_proxy_kind kind;
		const char *what, *key;
		char *const *addrs;
		unsigned n;
	} sets[] = {
		{ SV_PROXY_SOCKS, "SOCKS", "socks5", c->socks, c->n_socks },
		{ SV_PROXY_MIXED, "SOCKS/HTTP", "proxy", c->proxy, c->n_proxy },
		{ SV_PROXY_HTTP, "HTTP", "http", c->http, c->n_http },
	};
	for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
		for (unsigned i = 0; i < sets[k].n; i++) {
			struct listener *l = &a->listeners[a->n_listeners];
			char *bound = l->addr;
			int r = sv_proxy_listen(a->loop, sets[k].kind, sets[k].addrs[i], &pc,
				bound, sizeof l->addr);
			if (r != 0) {
				log_err_r(r, "cannot open the %s listener %s; is the port in use, "
					"the address not local, or the path taken?", sets[k].what,
					sets[k].addrs[i]);
				return r;
			}
			l->key = sets[k].key;
			a->n_listeners++;
			log_info("listener: %s proxy on %s%s", sets[k].what, bound,
				pc.user != NULL ? " (credentials required)" : "");
		}
	}
	/* forwards (-L, -R; socks/forward.h) */
	for (unsigned i = 0; i < c->n_fwd; i++) {
		char text[400], bound[80];
		sv_forward_format(&c->fwd[i], text, sizeof text);
		int r = sv_forward_open(a->loop, &c->fwd[i], &pc, bound, sizeof bound);
		if (r != 0) {
			log_err_r(r, "cannot open the forward %s %s", c->fwd[i].kind ==
				SV_FWD_REMOTE ? "-R" : "-L", text);
			return r;
		}
		log_info("forward: %s %s on %s", c->fwd[i].kind == SV_FWD_REMOTE ? "-R" : "-L",
			text, bound);
	}
	open_mux(a);
	/* /proxy.pac names the SOCKS and HTTP listeners reachable over TCP */
	sv_httpproxy_set_pac_info(first_tcp_listener(a, "socks5", "proxy"),
		first_tcp_listener(a, "proxy", "http"));
	return 0;
}

/* --stdio: the relay ended (socks/forward.h sv_stdio_start); stop. */
static void
stdio_done(void *arg, int err)
{
	struct app *a = arg;
	if (err != 0 && a->exit_code == 0)
		a->exit_code = SV_EXIT_FAILURE;
	begin_shutdown(a);
}

static void
start_stdio(struct app *a)
{
	const struct sv_config *c = a->cfg;
	struct sv_proxy_config pc = {
		.connect_timeout_ms = c->connect_timeout_ms,
		.max_clients = c->max_clients,
	};
	int r = sv_stdio_start(a->loop, 0, 1, c->stdio.host, c->stdio.hostport, &pc,
		stdio_done, a);
	if (r != 0) {
		log_err_r(r, "--stdio: cannot relay stdin/stdout (stdin and stdout must be "
			"pipes, sockets or a terminal)");
		a->exit_code = SV_EXIT_FAILURE;
		begin_shutdown(a);
	}
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* see app.h */
int
sv_app_run(const struct sv_app_params *p)
{
	static struct app app; /* one per process: lwIP is a singleton too */
	struct app *a = &app;
	memset(a, 0, sizeof *a);
	a->p = p;
	a->cfg = p->cfg;
	a->loop = uv_default_loop();
	sv_retry_init(&a->retry, INITIAL_ATTEMPTS);

	static const struct sv_stack_ops stack_ops = { .output = stack_output, .on_lease = on_lease };
	int r = sv_stack_init(p->mac, &stack_ops, a);
	if (r != 0) {
		log_err_r(r, "cannot start the network stack");
		return SV_EXIT_FAILURE;
	}
	/* --resolve-local: the patterns were checked when the options were read */
	if ((r = sv_resolve_set_local((const char *const *)a->cfg->resolve_local,
		     a->cfg->n_resolve_local)) != 0) {
		log_err_r(r, "--resolve-local: cannot use the patterns");
		return SV_EXIT_FAILURE;
	}
	sv_tcpconn_set_buffer_budget(a->cfg->max_buffer_memory);
	uv_prepare_init(a->loop, &a->prepare);
	a->prepare.data = a;
	uv_prepare_start(&a->prepare, on_prepare);
	uv_timer_init(a->loop, &a->timer);
	a->timer.data = a;
	uv_signal_init(a->loop, &a->sigint);
	uv_signal_init(a->loop, &a->sigterm);
	uv_signal_init(a->loop, &a->sighup);
	a->sigint.data = a->sigterm.data = a->sighup.data = a;
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	/* ssh ends its ProxyCommand (--stdio) with SIGHUP: an orderly end too, unless
	 * we were started with it ignored (nohup) */
	if (!signal_ignored_at_start(SIGHUP))
		uv_signal_start(&a->sighup, on_signal, SIGHUP);
	else
		log_debug("SIGHUP was ignored at start (nohup): it does not stop us");

	a->started_at = (uint64_t)time(NULL);
	char control[80];
	if (p->control != NULL &&
		(r = sv_control_listen(a->loop, p->control, fill_status, a, control,
			sizeof control)) != 0) {
		log_err_r(r, "cannot open the control listener %s (it must be a loopback "
			"address and a free port)", p->control);
		a->exit_code = SV_EXIT_FAILURE;
	} else if (p->control != NULL) {
		log_info("control: status on http://%s/status", control);
	}
	if (a->exit_code == 0 && open_listeners(a) == 0) {
		start_attempt(a);
		uv_run(a->loop, UV_RUN_DEFAULT);
	} else {
		a->exit_code = SV_EXIT_FAILURE;
	}

	/* tear down: the current tun through its own close (it frees TLS and session) */
	sv_proxy_close_all();
	sv_forward_close_all();
	sv_control_close();
	close_extras(a);
	if (a->tun != NULL)
		tun_close(a->tun);
	if (a->resolving != NULL)
		a->resolving->abandoned = true; /* freed by its callback, which still runs */
	uv_walk(a->loop, close_walk, NULL); /* timer, signals, prepare, listeners */
	uv_run(a->loop, UV_RUN_DEFAULT);     /* close and cancelled-write callbacks */
	if (a->addrs)
		uv_freeaddrinfo(a->addrs);
	uv_loop_close(a->loop);
	return a->exit_code;
}
