/*
 * The running client: loop, tunnel connection and wiring; see app.h.
 *
 * Tunnel connection states: RESOLVING -> CONNECTING -> TLS/LOGIN (session handshake)
 * -> ESTABLISHED -> CLOSING (close_notify queued) -> DONE. Bytes move only in pump():
 * socket -> TLS records -> plaintext -> session -> frames -> lwIP, and back.
 */
#define SV_LOG_MODULE "tunnel"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "core/session.h"
#include "core/tls.h"
#include "netstack/stack.h"
#include "platform/app.h"
#include "platform/os.h"
#include "platform/platform.h"
#include "socks/proxy.h"

#define WRITE_QUEUE_MAX (4u << 20) /* TLS bytes the socket did not take yet */
#define TCP_CONNECT_TIMEOUT_MS 10000
#define SHUTDOWN_GRACE_MS 2000

enum conn_state {
	CONN_RESOLVING,
	CONN_CONNECTING,
	CONN_LOGIN,
	CONN_ESTABLISHED,
	CONN_CLOSING,
	CONN_DONE,
};

static const char *const conn_state_names[] = {
	"resolving", "connecting", "login", "established", "closing", "done",
};

struct write_chunk {
	uv_write_t req;
	struct app *app;
	size_t len;
	uint8_t data[];
};

struct app {
	uv_loop_t *loop;
	const struct sv_app_params *p;
	const struct sv_config *cfg;

	uv_prepare_t prepare;
	uv_timer_t timer;
	uv_signal_t sigint, sigterm;

	enum conn_state state;
	uv_getaddrinfo_t gai;
	struct addrinfo *addrs, *next_addr;
	uv_connect_t creq;
	uv_tcp_t tcp;
	bool tcp_open, reading;
	uint64_t connect_deadline, shutdown_deadline;
	size_t wq_bytes;

	struct sv_tls *tls;
	struct sv_session *sess;
	uint64_t session_next_ms;

	bool ready, stopping;
	bool close_notify_due; /* CLOSING: send close_notify once the session output drained */
	int exit_code;
	char listeners[SV_MAX_LISTENERS][80];
};

static void fail(struct app *a, int err);
static void pump(struct app *a);
static void try_next_address(struct app *a);

static void
set_state(struct app *a, enum conn_state st)
{
	if (a->state == st)
		return;
	log_debug("connection: %s -> %s", conn_state_names[a->state], conn_state_names[st]);
	a->state = st;
}

/* --- socket -> TLS ---------------------------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct app *a = h->data;
	size_t len = 0;
	uint8_t *p = a->tls ? sv_tls_recv_buf(a->tls, &len) : NULL;
	*buf = uv_buf_init((char *)p, p ? (unsigned)len : 0);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct app *a = s->data;
	if (nread > 0) {
		sv_tls_recv_ack(a->tls, (size_t)nread);
		pump(a);
		return;
	}
	if (nread == UV_ENOBUFS) { /* engine full: resume from pump() */
		uv_read_stop(s);
		a->reading = false;
		return;
	}
	if (nread < 0) {
		uv_read_stop(s);
		a->reading = false;
		fail(a, nread == UV_EOF ? SV_E_CLOSED : (int)nread);
	}
}

/* --- TLS -> socket ---------------------------------------------------------------- */

static void
on_write_done(uv_write_t *req, int status)
{
	struct write_chunk *c = (struct write_chunk *)req;
	struct app *a = c->app;
	a->wq_bytes -= c->len;
	free(c);
	if (status < 0 && status != UV_ECANCELED) {
		fail(a, status);
		return;
	}
	pump(a);
}

static int
queue_copy(struct app *a, const uint8_t *p, size_t n)
{
	struct write_chunk *c = malloc(sizeof *c + n);
	if (c == NULL)
		return SV_E_NOMEM;
	c->app = a;
	c->len = n;
	memcpy(c->data, p, n);
	uv_buf_t b = uv_buf_init((char *)c->data, (unsigned)n);
	int r = uv_write(&c->req, (uv_stream_t *)&a->tcp, &b, 1, on_write_done);
	if (r < 0) {
		free(c);
		return r;
	}
	a->wq_bytes += n;
	return 0;
}

/* Moves TLS records to the socket: straight from the engine's buffer when the socket
 * takes them, else as a queued copy (bounded). Returns true if anything moved. */
static bool
send_records(struct app *a)
{
	bool moved = false;
	size_t n;
	const uint8_t *p;
	while (a->tcp_open && a->wq_bytes < WRITE_QUEUE_MAX &&
		(p = sv_tls_send_buf(a->tls, &n)) != NULL && n > 0) {
		size_t done = 0;
		if (a->wq_bytes == 0) {
			uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
			int r = uv_try_write((uv_stream_t *)&a->tcp, &b, 1);
			if (r > 0)
				done = (size_t)r;
			else if (r != UV_EAGAIN) {
				fail(a, r);
				return moved;
			}
		}
		if (done < n) {
			int r = queue_copy(a, p + done, n - done);
			if (r != 0) {
				fail(a, r);
				return moved;
			}
		}
		sv_tls_send_ack(a->tls, n);
		moved = true;
	}
	return moved;
}

/* --- the pump --------------------------------------------------------------------- */

static bool
session_to_tls(struct app *a)
{
	bool wrote = false;
	const uint8_t *o;
	size_t on, room;
	uint8_t *dst;
	while ((o = sv_session_output(a->sess, &on)) != NULL && on > 0 &&
		(dst = sv_tls_app_out(a->tls, &room)) != NULL && room > 0) {
		size_t k = on < room ? on : room;
		memcpy(dst, o, k);
		sv_tls_app_out_ack(a->tls, k);
		sv_session_output_ack(a->sess, k);
		wrote = true;
	}
	if (wrote)
		sv_tls_flush(a->tls);
	return wrote;
}

static void
tls_failed(struct app *a)
{
	char detail[512] = "";
	int r = sv_tls_error(a->tls, detail, sizeof detail);
	if (r == 0) /* the engine closed cleanly */
		r = SV_E_CLOSED;
	if (detail[0] != '\0' && a->state < CONN_ESTABLISHED)
		log_err("%s", detail);
	else if (detail[0] != '\0')
		log_debug("tls: %s", detail);
	fail(a, r);
}

static void
pump(struct app *a)
{
	if (a->tls == NULL || !a->tcp_open)
		return;
	uint64_t now = sv_now_ms();
	for (bool progress = true; progress;) {
		progress = false;
		size_t n;
		const uint8_t *in = sv_tls_app_in(a->tls, &n);
		if (in != NULL && n > 0) {
			int r = sv_session_input(a->sess, in, n, now);
			sv_tls_app_in_ack(a->tls, n);
			progress = true;
			if (r != 0) {
				fail(a, r);
				return;
			}
		}
		if (!sv_tls_is_closed(a->tls) && session_to_tls(a))
			progress = true;
		if (a->close_notify_due &&
			(sv_session_output(a->sess, &n), n == 0)) {
			a->close_notify_due = false;
			sv_tls_close(a->tls);
			progress = true;
		}
		if (send_records(a))
			progress = true;
		if (a->state == CONN_DONE)
			return;
	}
	if (sv_tls_is_closed(a->tls) && a->wq_bytes == 0 && sv_tls_send_buf(a->tls, &(size_t){ 0 }) == NULL) {
		if (a->state == CONN_CLOSING) {
			set_state(a, CONN_DONE);
			uv_stop(a->loop);
		} else {
			tls_failed(a);
		}
		return;
	}
	if (!a->reading && a->tcp_open && sv_tls_recv_buf(a->tls, &(size_t){ 0 }) != NULL) {
		if (uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read) == 0)
			a->reading = true;
	}
}

/* --- session and stack callbacks ---------------------------------------------------- */

static void
on_frame(void *arg, const uint8_t *frame, size_t len)
{
	sv_stack_input(frame, len);
}

static void
on_established(void *arg, const struct sv_welcome *w)
{
	struct app *a = arg;
	set_state(a, CONN_ESTABLISHED);
	log_info("session: %s established on hub %s as %s (%s, timeout %u s)",
		w->session_name, a->cfg->hub, a->cfg->user, sv_tls_suite_name(a->tls),
		w->timeout_ms / 1000);
	if (w->msg[0] != '\0')
		log_info("session: message from the hub: %s", w->msg);
	if (w->policy_max_download || w->policy_max_upload)
		log_info("session: the hub limits this user to %u kbit/s down, %u kbit/s up",
			w->policy_max_download / 1000, w->policy_max_upload / 1000);
	sv_stack_start();
}

static void
stack_output(void *arg, const uint8_t *frame, size_t len)
{
	struct app *a = arg;
	if (a->sess == NULL || a->state != CONN_ESTABLISHED)
		return;
	int r = sv_session_send_frame(a->sess, frame, len);
	if (r != 0)
		log_trace("frame of %zu bytes dropped: %s", len, sv_strerror(r));
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

static void
on_lease(void *arg, const struct sv_lease *lease)
{
	struct app *a = arg;
	char desc[512];
	format_lease(lease, desc, sizeof desc);
	if (a->ready) {
		log_info("address: %s", desc);
		return;
	}
	if (lease->ip.family != 4)
		return;
	a->ready = true;
	char socks[400] = "";
	size_t n = 0;
	for (unsigned i = 0; i < a->cfg->n_socks && n < sizeof socks; i++)
		n += (size_t)snprintf(socks + n, sizeof socks - n, "%ssocks5=%s", i ? " " : "",
			a->listeners[i]);
	fprintf(stderr, "ready %s %s\n", socks, desc);
	fflush(stderr);
}

/* --- failure and shutdown ---------------------------------------------------------- */

static void
explain(struct app *a, int err)
{
	const struct sv_config *c = a->cfg;
	switch (err) {
	case SV_E_SERVER: {
		unsigned code = sv_session_server_error(a->sess);
		log_err("the server refused the login: %s (SoftEther error %u, %s)",
			sv_softether_err_text(code), code, sv_softether_err_name(code));
		a->exit_code = SV_EXIT_REFUSED;
		return;
	}
	case SV_E_CERT:
		a->exit_code = SV_EXIT_CERT; /* the detail was logged by tls_failed */
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
	if (a->state < CONN_LOGIN)
		log_err_r(err, "cannot connect to %s:%u; check the host, the port and that the "
			"server is running", c->server_host, c->server_port);
	else if (a->state == CONN_LOGIN)
		log_err_r(err, "the connection to %s:%u ended during login", c->server_host,
			c->server_port);
	else
		log_err_r(err, "the VPN session with %s:%u was lost", c->server_host,
			c->server_port);
}

static void
close_tcp(struct app *a)
{
	if (a->tcp_open) {
		a->tcp_open = false;
		a->reading = false;
		uv_close((uv_handle_t *)&a->tcp, NULL);
	}
}

/* The first error wins; it ends the process (reconnecting is a later feature). */
static void
fail(struct app *a, int err)
{
	if (a->state == CONN_DONE)
		return;
	if (a->state == CONN_CLOSING) { /* errors while closing are expected */
		set_state(a, CONN_DONE);
		close_tcp(a);
		uv_stop(a->loop);
		return;
	}
	if (a->sess != NULL)
		sv_session_fail(a->sess, err);
	explain(a, err);
	set_state(a, CONN_DONE);
	/* Our own decision to end (a refused login, a dead peer, a protocol error): say so
	 * with close_notify, best effort, so the server does not see an abrupt loss. */
	bool ours = err <= SV_E_INCOMPLETE && err != SV_E_CLOSED && err != SV_E_TLS &&
		err != SV_E_CERT;
	if (ours && a->tcp_open && a->tls != NULL && sv_tls_is_established(a->tls)) {
		sv_tls_close(a->tls);
		send_records(a); /* fail() ignores errors from here on: state is DONE */
	}
	if (a->exit_code == SV_EXIT_OK)
		a->exit_code = SV_EXIT_FAILURE;
	close_tcp(a);
	uv_stop(a->loop);
}

/* Orderly end: release the lease, flush, close_notify, then FIN. */
static void
begin_shutdown(struct app *a)
{
	if (a->stopping)
		return;
	a->stopping = true;
	log_info("shutting down");
	sv_proxy_close_all();
	if (a->state != CONN_ESTABLISHED) {
		set_state(a, CONN_DONE);
		close_tcp(a);
		uv_stop(a->loop);
		return;
	}
	sv_stack_stop(); /* DHCP release goes out as a frame */
	sv_stack_flush();
	sv_session_flush(a->sess);
	set_state(a, CONN_CLOSING);
	a->close_notify_due = true; /* after the release has gone into TLS (pump) */
	a->shutdown_deadline = sv_now_ms() + SHUTDOWN_GRACE_MS;
	pump(a);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	begin_shutdown(h->data);
}

/* --- loop hooks ------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void
arm_timer(struct app *a)
{
	uint64_t now = sv_now_ms();
	uint64_t next = now + sv_stack_sleeptime();
	if (a->sess != NULL && a->session_next_ms && a->session_next_ms < next)
		next = a->session_next_ms;
	if (a->connect_deadline && a->connect_deadline < next)
		next = a->connect_deadline;
	if (a->shutdown_deadline && a->shutdown_deadline < next)
		next = a->shutdown_deadline;
	uv_timer_start(&a->timer, on_timer, next > now ? next - now : 0, 0);
}

static void
on_prepare(uv_prepare_t *h)
{
	struct app *a = h->data;
	sv_stack_flush();
	if (a->sess != NULL && a->state == CONN_ESTABLISHED)
		sv_session_flush(a->sess);
	pump(a);
	arm_timer(a);
}

static void
on_timer(uv_timer_t *t)
{
	struct app *a = t->data;
	uint64_t now = sv_now_ms();
	sv_stack_poll();
	if (a->connect_deadline && now >= a->connect_deadline) {
		a->connect_deadline = 0;
		fail(a, SV_E_TIMEOUT);
		return;
	}
	if (a->shutdown_deadline && now >= a->shutdown_deadline) {
		log_debug("shutdown: the server did not take the close in time");
		set_state(a, CONN_DONE);
		close_tcp(a);
		uv_stop(a->loop);
		return;
	}
	if (a->sess != NULL && a->state >= CONN_LOGIN && a->state <= CONN_ESTABLISHED) {
		int r = sv_session_tick(a->sess, now, &a->session_next_ms);
		if (r != 0)
			fail(a, r);
	}
}

/* --- connecting ------------------------------------------------------------------- */

static void
on_closed_retry(uv_handle_t *h)
{
	struct app *a = h->data;
	if (a->state == CONN_CONNECTING)
		try_next_address(a);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct app *a = req->data;
	if (a->state != CONN_CONNECTING)
		return;
	if (status < 0) {
		char host[64] = "?";
		uv_ip_name(a->next_addr->ai_addr, host, sizeof host);
		log_debug("connect to %s: %s", host, uv_strerror(status));
		a->next_addr = a->next_addr->ai_next;
		if (a->next_addr == NULL) {
			fail(a, status);
			return;
		}
		a->tcp_open = false;
		uv_close((uv_handle_t *)&a->tcp, on_closed_retry);
		return;
	}
	uv_tcp_nodelay(&a->tcp, 1);
	set_state(a, CONN_LOGIN);
	a->connect_deadline = 0; /* from here on the session's own deadlines apply */
	sv_session_start(a->sess, sv_now_ms());
	sv_session_tick(a->sess, sv_now_ms(), &a->session_next_ms);
	pump(a);
}

static void
try_next_address(struct app *a)
{
	for (; a->next_addr != NULL; a->next_addr = a->next_addr->ai_next) {
		uv_tcp_init(a->loop, &a->tcp);
		a->tcp.data = a;
		a->tcp_open = true;
		a->creq.data = a;
		int r = uv_tcp_connect(&a->creq, &a->tcp, a->next_addr->ai_addr, on_connect);
		if (r == 0)
			return;
		log_debug("connect: %s", uv_strerror(r));
		a->tcp_open = false;
		uv_close((uv_handle_t *)&a->tcp, on_closed_retry);
		a->next_addr = a->next_addr->ai_next;
		return;
	}
	fail(a, -ECONNREFUSED);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct app *a = req->data;
	if (status < 0) {
		log_err("cannot resolve the server name %s: %s; check --server",
			a->cfg->server_host, uv_strerror(status));
		a->exit_code = SV_EXIT_FAILURE;
		set_state(a, CONN_DONE);
		uv_stop(a->loop);
		return;
	}
	a->addrs = a->next_addr = res;
	set_state(a, CONN_CONNECTING);
	try_next_address(a);
}

static void
session_random(void *p, size_t n)
{
	if (sv_random(p, n) != 0)
		memset(p, 0, n); /* padding and keep-alive filler only: not secret */
}

static int
start_connection(struct app *a)
{
	const struct sv_config *c = a->cfg;
	struct sv_tls_config tc = { .verify = c->verify, .ca_file = c->ca_file,
		.server_name = c->server_host };
	memcpy(tc.pin, c->pin, sizeof tc.pin);
	int r = 0;
	if ((a->tls = sv_tls_new(&tc, &r)) == NULL)
		return r ? r : SV_E_NOMEM;
	if (c->verify == SV_TLS_VERIFY_INSECURE)
		log_warn("--insecure: the server certificate is not checked; anyone on the "
			"path can read and change the tunnel");

	struct sv_session_config sc = {
		.host = c->server_host,
		.hub = c->hub,
		.username = c->user,
		.authtype = a->p->authtype,
		.plain_password = a->p->plain_password,
		.client_hostname = sv_os_hostname(),
	};
	memcpy(sc.password_hash, a->p->password_hash, sizeof sc.password_hash);
	memcpy(sc.unique_id, a->p->unique_id, sizeof sc.unique_id);
	static const struct sv_session_ops ops = {
		.on_frame = on_frame,
		.on_established = on_established,
	};
	sv_session_set_random(session_random);
	a->sess = sv_session_new(&sc, &ops, a);
	explicit_bzero(sc.password_hash, sizeof sc.password_hash);
	if (a->sess == NULL)
		return SV_E_NOMEM;

	char port[8];
	snprintf(port, sizeof port, "%u", c->server_port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	a->gai.data = a;
	a->connect_deadline = sv_now_ms() + TCP_CONNECT_TIMEOUT_MS;
	set_state(a, CONN_RESOLVING);
	log_info("connecting to %s:%u, hub %s, user %s", c->server_host, c->server_port,
		c->hub, c->user);
	return uv_getaddrinfo(a->loop, &a->gai, on_resolved, c->server_host, port, &hints);
}

/* --- set-up and tear-down ---------------------------------------------------------- */

static int
open_listeners(struct app *a)
{
	struct sv_proxy_config pc = {
		.connect_timeout_ms = a->cfg->connect_timeout_ms,
		.max_clients = 10000,
		.conn_buffer = 64 * 1024,
	};
	for (unsigned i = 0; i < a->cfg->n_socks; i++) {
		int r = sv_socks5_listen(a->loop, a->cfg->socks[i], &pc, a->listeners[i],
			sizeof a->listeners[i]);
		if (r != 0) {
			log_err_r(r, "cannot open the SOCKS5 listener %s; is the port in use or "
				"the address not local?", a->cfg->socks[i]);
			return r;
		}
	}
	return 0;
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

	static const struct sv_stack_ops stack_ops = { .output = stack_output, .on_lease = on_lease };
	int r = sv_stack_init(p->mac, &stack_ops, a);
	if (r != 0) {
		log_err_r(r, "cannot start the network stack");
		return SV_EXIT_FAILURE;
	}
	uv_prepare_init(a->loop, &a->prepare);
	a->prepare.data = a;
	uv_prepare_start(&a->prepare, on_prepare);
	uv_timer_init(a->loop, &a->timer);
	a->timer.data = a;
	uv_signal_init(a->loop, &a->sigint);
	uv_signal_init(a->loop, &a->sigterm);
	a->sigint.data = a->sigterm.data = a;
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);

	if ((r = open_listeners(a)) == 0 && (r = start_connection(a)) != 0)
		log_err_r(r, "cannot start connecting to %s", a->cfg->server_host);
	if (r == 0)
		uv_run(a->loop, UV_RUN_DEFAULT);
	else
		a->exit_code = r == SV_E_INVAL ? SV_EXIT_REFUSED : SV_EXIT_FAILURE;

	sv_proxy_close_all();
	close_tcp(a);
	if (a->state == CONN_RESOLVING)
		uv_cancel((uv_req_t *)&a->gai);
	uv_walk(a->loop, close_walk, NULL);
	uv_run(a->loop, UV_RUN_DEFAULT);
	if (a->addrs)
		uv_freeaddrinfo(a->addrs);
	sv_session_free(a->sess);
	sv_tls_free(a->tls);
	uv_loop_close(a->loop);
	return a->exit_code;
}
