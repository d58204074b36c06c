/*
 * Sessions of the test hub and the switch between them and the LAN (see server.h).
 *
 * A session is created by a successful login and ends
 *   - when it has had no connection for the session timeout (spec 11.2, 13.1): until
 *     then additional_connect with its key re-attaches to it;
 *   - at once when one of its connections ends without close_notify and
 *     faults.kill_session is set (the 5.01 behaviour of spec 13.3): its other
 *     connections are closed and its key no longer works (error 13);
 *   - when the hub stops.
 * Frames from the client: MAC learning, then the fault pipe (if any), then the LAN.
 * Frames from the LAN: to the session(s) owning the destination MAC (all for broadcast
 * and multicast), then the fault pipe, then the connection with the least queued.
 */
#define SV_LOG_MODULE "sess"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "platform/platform.h"
#include "server.h"

enum { ERR_TOO_MANY_CONNECTION = 15 };

static uint64_t
now_us(void)
{
	return uv_hrtime() / 1000u;
}

static void
sess_handle_closed(uv_handle_t *h)
{
	struct hub_sess *s = h->data;
	if (--s->open_handles > 0)
		return;
	explicit_bzero(s->key, sizeof s->key);
	free(s);
}

static void
sess_unlink(struct hub_sess *s)
{
	for (struct hub_sess **pp = &s->hub->sess; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			return;
		}
}

/* Ends s: its connections are closed without close_notify; freed in the callbacks. */
static void
sess_end(struct hub_sess *s, const char *why)
{
	if (s->dead)
		return;
	s->dead = true;
	sess_unlink(s);
	s->hub->sessions--;
	log_info("session %s of %s ended: %s (%llu frames in, %llu out)", s->name, s->user, why,
		(unsigned long long)s->frames_in, (unsigned long long)s->frames_out);
	if (s->shaped)
		log_info("session %s: pipe up %llu passed %llu lost %llu overflow, down %llu "
			 "passed %llu lost %llu overflow", s->name,
			(unsigned long long)s->up.passed, (unsigned long long)s->up.lost,
			(unsigned long long)s->up.overflow, (unsigned long long)s->down.passed,
			(unsigned long long)s->down.lost, (unsigned long long)s->down.overflow);
	while (s->n_conns > 0) {
		struct hub_conn *c = s->conns[--s->n_conns];
		hub_conn_kill(c, "its session ended");
	}
	hub_pipe_clear(&s->up);
	hub_pipe_clear(&s->down);
	uv_close((uv_handle_t *)&s->timer, sess_handle_closed);
	uv_close((uv_handle_t *)&s->pipe_timer, sess_handle_closed);
}

static void
on_sess_timeout(uv_timer_t *t)
{
	sess_end(t->data, "no connection for the session timeout");
}

/* --- frames ------------------------------------------------------------------------ */

/* To the connection with the least queued output. */
static void
sess_send(struct hub_sess *s, const uint8_t *f, size_t n)
{
	struct hub_conn *best = NULL;
	size_t best_q = (size_t)-1;
	for (size_t i = 0; i < s->n_conns; i++) {
		size_t q = hub_conn_queued(s->conns[i]);
		if (q < best_q) {
			best = s->conns[i];
			best_q = q;
		}
	}
	if (best == NULL) {
		s->no_conn_drops++; /* between connections: lost, as on an unplugged cable */
		return;
	}
	s->frames_out++;
	hub_conn_send_frame(best, f, n);
}

static void on_pipe_timer(uv_timer_t *t);

static void
pipe_arm(struct hub_sess *s)
{
	uint64_t a = hub_pipe_next_due(&s->up), b = hub_pipe_next_due(&s->down);
	uint64_t next = a == 0 ? b : b == 0 ? a : a < b ? a : b;
	if (next == 0) {
		uv_timer_stop(&s->pipe_timer);
		return;
	}
	uint64_t now = now_us();
	uv_timer_start(&s->pipe_timer, on_pipe_timer, next > now ? (next - now + 999) / 1000 : 0,
		0);
}

static void
on_pipe_timer(uv_timer_t *t)
{
	struct hub_sess *s = t->data;
	struct hub_pipe_frame *f;
	uint64_t now = now_us();
	if (s->dead)
		return;
	while ((f = hub_pipe_get(&s->up, now)) != NULL) {
		hub_lan_input(s->hub->lan, f->data, f->len);
		free(f);
	}
	while ((f = hub_pipe_get(&s->down, now)) != NULL) {
		sess_send(s, f->data, f->len);
		free(f);
	}
	pipe_arm(s);
}

static void
pipe_put(struct hub_sess *s, struct hub_pipe *p, const uint8_t *f, size_t n)
{
	bool was_empty = hub_pipe_next_due(p) == 0;
	int r = hub_pipe_put(p, f, n, now_us());
	if (r == HUB_PIPE_QUEUED && was_empty)
		pipe_arm(s);
	else if (r != HUB_PIPE_QUEUED)
		log_trace("session %s: frame of %zu bytes %s", s->name, n,
			r == HUB_PIPE_LOST ? "lost (fault)" : "dropped (pipe full)");
}

/* Remembers the client's source MAC; a MAC moves to the session that used it last. */
static void
learn_mac(struct hub_sess *s, const uint8_t *mac)
{
	if (mac[0] & 1)
		return; /* not a station address */
	if (s->n_macs > 0 && memcmp(s->macs[0], mac, 6) == 0)
		return;
	for (struct hub_sess *o = s->hub->sess; o; o = o->next)
		for (size_t i = 0; i < o->n_macs; i++)
			if (memcmp(o->macs[i], mac, 6) == 0) {
				memmove(o->macs[i], o->macs[i + 1], (o->n_macs - i - 1) * 6);
				o->n_macs--;
				break;
			}
	if (s->n_macs == HUB_SESS_MACS)
		s->n_macs--; /* forget the oldest */
	memmove(s->macs[1], s->macs[0], s->n_macs * 6);
	memcpy(s->macs[0], mac, 6);
	s->n_macs++;
	log_debug("session %s: MAC %02x:%02x:%02x:%02x:%02x:%02x", s->name, mac[0], mac[1],
		mac[2], mac[3], mac[4], mac[5]);
}

/* see server.h */
void
hub_sess_input(struct hub_sess *s, const uint8_t *f, size_t n)
{
	if (s->dead || n < 14)
		return;
	s->frames_in++;
	learn_mac(s, f + 6);
	if (s->shaped)
		pipe_put(s, &s->up, f, n);
	else
		hub_lan_input(s->hub->lan, f, n);
}

static void
sess_output(struct hub_sess *s, const uint8_t *f, size_t n)
{
	if (s->shaped)
		pipe_put(s, &s->down, f, n);
	else
		sess_send(s, f, n);
}

/* see server.h */
void
hub_switch_emit(void *arg, const uint8_t *f, size_t n)
{
	struct hub *h = arg;
	if (n < 14)
		return;
	for (struct hub_sess *s = h->sess; s; s = s->next) {
		if (f[0] & 1) {
			sess_output(s, f, n);
			continue;
		}
		for (size_t i = 0; i < s->n_macs; i++)
			if (memcmp(s->macs[i], f, 6) == 0) {
				sess_output(s, f, n);
				return; /* a MAC lives in one session */
			}
	}
}

/* --- lifetime ------------------------------------------------------------------------ */

/* see server.h */
struct hub_sess *
hub_sess_new(struct hub *h, const struct hub_login_result *res, unsigned id)
{
	struct hub_sess *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	if (sv_random(s->key, sizeof s->key) != 0) {
		free(s);
		return NULL;
	}
	s->hub = h;
	s->id = id;
	snprintf(s->user, sizeof s->user, "%s", res->user);
	char up[HUB_NAME_MAX + 1];
	size_t i = 0;
	for (; res->user[i] && i < HUB_NAME_MAX; i++) {
		char ch = res->user[i];
		up[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
	}
	up[i] = '\0';
	snprintf(s->name, sizeof s->name, "SID-%s-%u", up, id);
	s->max_connection = res->max_connection ? res->max_connection : 1;
	const struct hub_faults *f = &h->cfg->faults;
	s->shaped = hub_pipe_wanted(f);
	hub_pipe_init(&s->up, f, &h->rng);
	hub_pipe_init(&s->down, f, &h->rng);
	uv_timer_init(h->loop, &s->timer);
	uv_timer_init(h->loop, &s->pipe_timer);
	s->timer.data = s->pipe_timer.data = s;
	s->open_handles = 2;
	s->next = h->sess;
	h->sess = s;
	h->sessions++;
	return s;
}

/* see server.h */
struct hub_sess *
hub_sess_find(struct hub *h, const uint8_t key[20])
{
	for (struct hub_sess *s = h->sess; s; s = s->next) {
		uint8_t d = 0;
		for (int i = 0; i < 20; i++)
			d |= (uint8_t)(s->key[i] ^ key[i]);
		if (d == 0 && !s->dead)
			return s;
	}
	return NULL;
}

/* see server.h */
unsigned
hub_sess_attach(struct hub_sess *s, struct hub_conn *c)
{
	/* Spec 12: refused only when it already has more than max_connection. */
	if (s->n_conns > s->max_connection || s->n_conns >= HUB_SESS_CONNS)
		return ERR_TOO_MANY_CONNECTION;
	s->conns[s->n_conns++] = c;
	uv_timer_stop(&s->timer);
	return 0;
}

/* see server.h */
void
hub_sess_detach(struct hub_sess *s, struct hub_conn *c, bool abrupt)
{
	size_t i = 0;
	while (i < s->n_conns && s->conns[i] != c)
		i++;
	if (i == s->n_conns)
		return;
	memmove(&s->conns[i], &s->conns[i + 1], (s->n_conns - i - 1) * sizeof s->conns[0]);
	s->n_conns--;
	if (abrupt && s->hub->cfg->faults.kill_session) {
		sess_end(s, "a connection ended without close_notify (fault: kill session)");
		return;
	}
	if (s->n_conns == 0 && !s->dead) {
		log_info("session %s: no connection left, kept for %u ms", s->name,
			s->hub->cfg->timeout_ms);
		uv_timer_start(&s->timer, on_sess_timeout, s->hub->cfg->timeout_ms, 0);
	}
}

/* see server.h */
void
hub_sess_end_all(struct hub *h)
{
	while (h->sess)
		sess_end(h->sess, "hub stopping");
}
