/*
 * The hub's LAN: one libslirp instance, shared by every session, driven by the libuv
 * loop (see server.h).
 *
 * Loop integration (libslirp 4.7 has no event-loop API of its own):
 *   uv_prepare  slirp_pollfds_fill(): for each fd slirp wants, a uv_poll handle is
 *               started with those events (created on first sight, kept until slirp's
 *               unregister_poll_fd); fds not wanted this turn are stopped. A uv_timer
 *               wakes the loop after slirp's timeout (its TCP timers).
 *   uv_poll cb  records the events that fired.
 *   uv_check    slirp_pollfds_poll() with the recorded events, once per fill.
 *   timers      timer_new_opaque -> uv_timer -> slirp_handle_timer().
 * slirp's send_packet may run inside slirp_input(); it only copies the frame into the
 * session's tunnel output (through emit), never calls back into slirp.
 *
 * Safety: frames reach slirp_input() only if hub_frame_filter() passes them
 * (frame.c; IPv4 fragments to the virtual host included, slirp reassembles them); slirp's own DNS forwarding is disabled and its nameserver address is never
 * reachable, DNS is answered here from the hub's table.
 */
#define SV_LOG_MODULE "lan"

#include <arpa/inet.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/tunnel.h"
#include "server.h"

struct lan_fd {
	struct hub_lan *lan;
	uv_poll_t poll;
	int fd;
	int want;    /* SLIRP_POLL_* asked for in this turn's fill */
	int revents; /* SLIRP_POLL_* seen in this turn's poll */
	bool started;
	struct lan_fd *next;
};

struct lan_timer {
	struct hub_lan *lan;
	uv_timer_t t;
	SlirpTimerId id;
	void *cb_opaque;
	struct lan_timer *next;
};

struct hub_lan {
	uv_loop_t *loop;
	Slirp *slirp;
	struct hub_net net;
	const struct hub_dns *dns;
	unsigned id;
	hub_lan_emit_cb *emit;
	void *arg;
	uv_prepare_t prep;
	uv_check_t check;
	uv_timer_t wake;
	struct lan_fd *fds;
	struct lan_timer *timers;
	struct lan_fd **polled; /* this turn's fill, by index */
	size_t npolled, cap_polled;
	bool filled;
	unsigned open_handles; /* the LAN is freed when the last one has closed */
	uint64_t dropped, dns_answers;
	struct hub_frag_table frags; /* IPv4 fragments in flight (hub_frame_filter) */
	uint8_t frame[2048];
	/* --arp-claim: the client that declined the claimed address (see claim_input) */
	bool declined;
	uint8_t declined_mac[6];
	uint8_t claim_frame[2048]; /* a rewritten DISCOVER (l->frame is slirp's output) */
};

static void
lan_handle_closed(uv_handle_t *h)
{
	struct hub_lan *l = h->data;
	if (--l->open_handles == 0) {
		free(l->polled);
		free(l);
	}
}

static void
fd_closed(uv_handle_t *h)
{
	struct lan_fd *f = h->data;
	struct hub_lan *l = f->lan;
	free(f);
	if (--l->open_handles == 0) {
		free(l->polled);
		free(l);
	}
}

static void
timer_closed(uv_handle_t *h)
{
	struct lan_timer *t = h->data;
	struct hub_lan *l = t->lan;
	free(t);
	if (--l->open_handles == 0) {
		free(l->polled);
		free(l);
	}
}

/* --- slirp callbacks ------------------------------------------------------------ */

static ssize_t
cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct hub_lan *l = opaque;
	if (len > SV_TUNNEL_FRAME_MAX || len > sizeof l->frame)
		return (ssize_t)len; /* cannot happen with MTU 1500; dropped */
	memcpy(l->frame, buf, len);
	hub_frame_rewrite_dns(&l->net, l->frame, len);
	len = hub_frame_add_dhcp_routes(&l->net, l->frame, len, 1514); /* Ethernet's max */
	l->emit(l->arg, l->frame, len);
	return (ssize_t)len;
}

static void
cb_guest_error(const char *msg, void *opaque)
{
	struct hub_lan *l = opaque;
	log_warn("lan %u: slirp: %s", l->id, msg);
}

static int64_t
cb_clock_ns(void *opaque)
{
	(void)opaque;
	return (int64_t)uv_hrtime();
}

static void
on_slirp_timer(uv_timer_t *h)
{
	struct lan_timer *t = h->data;
	if (t->lan->slirp)
		slirp_handle_timer(t->lan->slirp, t->id, t->cb_opaque);
}

static void *
cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct hub_lan *l = opaque;
	struct lan_timer *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->lan = l;
	t->id = id;
	t->cb_opaque = cb_opaque;
	uv_timer_init(l->loop, &t->t);
	t->t.data = t;
	l->open_handles++;
	t->next = l->timers;
	l->timers = t;
	return t;
}

static void
cb_timer_free(void *timer, void *opaque)
{
	struct hub_lan *l = opaque;
	struct lan_timer *t = timer, **pp;
	if (t == NULL)
		return;
	for (pp = &l->timers; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	uv_close((uv_handle_t *)&t->t, timer_closed);
}

static void
cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct lan_timer *t = timer;
	(void)opaque;
	if (t == NULL)
		return;
	int64_t now = (int64_t)(uv_hrtime() / 1000000);
	uint64_t delay = expire_ms > now ? (uint64_t)(expire_ms - now) : 0;
	uv_timer_start(&t->t, on_slirp_timer, delay, 0);
}

static struct lan_fd *
find_fd(struct hub_lan *l, int fd)
{
	for (struct lan_fd *f = l->fds; f; f = f->next)
		if (f->fd == fd)
			return f;
	return NULL;
}

static void
cb_register_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque; /* handles are made lazily in add_poll */
}

static void
cb_unregister_fd(int fd, void *opaque)
{
	struct hub_lan *l = opaque;
	struct lan_fd **pp, *f;
	for (pp = &l->fds; (f = *pp) != NULL; pp = &f->next)
		if (f->fd == fd)
			break;
	if (f == NULL)
		return;
	*pp = f->next;
	for (size_t i = 0; i < l->npolled; i++)
		if (l->polled[i] == f)
			l->polled[i] = NULL;
	/* uv_close stops the watcher now, before slirp closes the descriptor. */
	uv_close((uv_handle_t *)&f->poll, fd_closed);
}

static void
cb_notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb lan_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_fd,
	.unregister_poll_fd = cb_unregister_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* --- poll integration ----------------------------------------------------------- */

static void
on_fd_event(uv_poll_t *h, int status, int events)
{
	struct lan_fd *f = h->data;
	if (status < 0) {
		f->revents |= SLIRP_POLL_ERR | SLIRP_POLL_HUP;
		return;
	}
	if (events & UV_READABLE)
		f->revents |= SLIRP_POLL_IN;
	if (events & UV_WRITABLE)
		f->revents |= SLIRP_POLL_OUT;
	if (events & UV_PRIORITIZED)
		f->revents |= SLIRP_POLL_PRI;
	if (events & UV_DISCONNECT)
		f->revents |= SLIRP_POLL_HUP;
}

static int
add_poll(int fd, int events, void *opaque)
{
	struct hub_lan *l = opaque;
	struct lan_fd *f = find_fd(l, fd);
	if (f == NULL) {
		f = calloc(1, sizeof *f);
		if (f == NULL)
			return -1;
		if (uv_poll_init(l->loop, &f->poll, fd) != 0) {
			log_warn("lan %u: cannot poll fd %d", l->id, fd);
			free(f);
			return -1;
		}
		f->lan = l;
		f->fd = fd;
		f->poll.data = f;
		f->next = l->fds;
		l->fds = f;
		l->open_handles++;
	}
	if (l->npolled == l->cap_polled) {
		size_t cap = l->cap_polled ? l->cap_polled * 2 : 16;
		struct lan_fd **p = realloc(l->polled, cap * sizeof *p);
		if (p == NULL)
			return -1;
		l->polled = p;
		l->cap_polled = cap;
	}
	f->want |= events;
	l->polled[l->npolled] = f;
	return (int)l->npolled++;
}

static int
get_revents(int idx, void *opaque)
{
	struct hub_lan *l = opaque;
	if (idx < 0 || (size_t)idx >= l->npolled || l->polled[idx] == NULL)
		return 0;
	struct lan_fd *f = l->polled[idx];
	return f->revents & (f->want | SLIRP_POLL_ERR | SLIRP_POLL_HUP);
}

static void
on_wake(uv_timer_t *h)
{
	(void)h; /* only makes the loop run prepare/check again */
}

static void
on_prepare(uv_prepare_t *h)
{
	struct hub_lan *l = h->data;
	if (l->slirp == NULL)
		return;
	for (struct lan_fd *f = l->fds; f; f = f->next)
		f->want = f->revents = 0;
	l->npolled = 0;
	uint32_t timeout = 1000;
	slirp_pollfds_fill(l->slirp, &timeout, add_poll, l);
	for (struct lan_fd *f = l->fds; f; f = f->next) {
		int ev = 0;
		if (f->want & SLIRP_POLL_IN)
			ev |= UV_READABLE;
		if (f->want & SLIRP_POLL_OUT)
			ev |= UV_WRITABLE;
		if (f->want & SLIRP_POLL_PRI)
			ev |= UV_PRIORITIZED;
		if (ev) {
			uv_poll_start(&f->poll, ev | UV_DISCONNECT, on_fd_event);
			f->started = true;
		} else if (f->started) {
			uv_poll_stop(&f->poll);
			f->started = false;
		}
	}
	l->filled = true;
	uv_timer_start(&l->wake, on_wake, timeout > 1000 ? 1000 : timeout, 0);
}

static void
on_check(uv_check_t *h)
{
	struct hub_lan *l = h->data;
	if (l->slirp == NULL || !l->filled)
		return;
	l->filled = false;
	slirp_pollfds_poll(l->slirp, 0, get_revents, l);
}

/* --- public ----------------------------------------------------------------------- */

static struct in_addr
in4(const uint8_t a[4])
{
	struct in_addr r;
	memcpy(&r.s_addr, a, 4);
	return r;
}

static struct in6_addr
in6(const uint8_t a[16])
{
	struct in6_addr r;
	memcpy(r.s6_addr, a, 16);
	return r;
}

/* see server.h */
int
hub_lan_hostfwd(struct hub_lan *l, const char *spec)
{
	char hip[INET_ADDRSTRLEN], gip[INET_ADDRSTRLEN];
	unsigned hport, gport;
	struct in_addr ha, ga;
	int used = 0;

	if (sscanf(spec, "tcp:%15[0-9.]:%5u-%15[0-9.]:%5u%n", hip, &hport, gip, &gport,
		&used) != 4 || spec[used] != '\0' || hport == 0 || hport > 65535 ||
		gport == 0 || gport > 65535 || inet_pton(AF_INET, hip, &ha) != 1 ||
		inet_pton(AF_INET, gip, &ga) != 1) {
		log_err("hostfwd '%s': expected tcp:HOSTIP:PORT-GUESTIP:PORT", spec);
		return SV_E_INVAL;
	}
	if (slirp_add_hostfwd(l->slirp, 0, ha, (int)hport, ga, (int)gport) != 0) {
		log_err("hostfwd '%s': slirp refused it (port in use?)", spec);
		return SV_E_INVAL;
	}
	log_info("lan %u: %s:%u forwarded to %s:%u", l->id, hip, hport, gip, gport);
	return 0;
}

/* see server.h */
struct hub_lan *
hub_lan_new(uv_loop_t *loop, const struct hub_net *net, const struct hub_dns *dns,
	unsigned id, hub_lan_emit_cb *emit, void *arg)
{
	struct hub_lan *l = calloc(1, sizeof *l);
	if (l == NULL)
		return NULL;
	l->loop = loop;
	l->net = *net;
	l->dns = dns;
	l->id = id;
	l->emit = emit;
	l->arg = arg;

	SlirpConfig cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.version = 4;
	/* Not restricted (that would block the virtual host -> 127.0.0.1 mapping too);
	 * hub_frame_classify() is the filter. */
	cfg.restricted = 0;
	cfg.in_enabled = true;
	cfg.vnetwork = in4(net->network);
	cfg.vnetmask = in4(net->netmask);
	cfg.vhost = in4(net->vhost);
	cfg.in6_enabled = true;
	cfg.vprefix_addr6 = in6(net->prefix6);
	cfg.vprefix_len = (uint8_t)net->prefix6_len;
	cfg.vhost6 = in6(net->vhost6);
	cfg.vhostname = "sevpn-testhub";
	cfg.vdhcp_start = in4(net->dhcp_start);
	cfg.vnameserver = in4(net->slirp_dns);
	cfg.vnameserver6 = in6(net->slirp_dns6);
	cfg.if_mtu = 1500;
	cfg.if_mru = 1500;
	cfg.disable_host_loopback = false;
	cfg.disable_dns = true;
	cfg.vdomainname = net->dhcp_domain;
	if (net->dhcp_search[0] != NULL)
		cfg.vdnssearch = l->net.dhcp_search;
	l->slirp = slirp_new(&cfg, &lan_callbacks, l);
	if (l->slirp == NULL) {
		log_err("lan %u: slirp_new failed", id);
		free(l);
		return NULL;
	}
	uv_prepare_init(loop, &l->prep);
	uv_check_init(loop, &l->check);
	uv_timer_init(loop, &l->wake);
	l->prep.data = l->check.data = l->wake.data = l;
	l->open_handles += 3; /* slirp_new may have made timers already */
	uv_prepare_start(&l->prep, on_prepare);
	uv_check_start(&l->check, on_check);
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET, net->vhost, a, sizeof a);
	inet_ntop(AF_INET6, net->vhost6, b, sizeof b);
	log_debug("lan %u: slirp %s up, gateway %s and %s", id, slirp_version_string(), a, b);
	return l;
}

/*
 * --arp-claim: another host has the claimed address. ARP requests for it get that host's
 * reply. slirp's DHCP server ignores DHCPDECLINE and would offer the same address to the
 * same MAC again, so after a client has declined the claimed address its DISCOVERs ask
 * for the next address (option 50), which slirp then offers, as a real server that marks
 * a declined address would. Returns the frame to go on (maybe rewritten into claim_frame,
 * *len updated), or NULL when it was answered here.
 */
static const uint8_t *
claim_input(struct hub_lan *l, const uint8_t *frame, size_t *len)
{
	static const uint8_t claim_mac[6] = HUB_CLAIM_MAC;
	uint8_t out[42], ch[6], req[4];
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, l->net.claim, a, sizeof a);
	if (hub_arp_claim_reply(l->net.claim, claim_mac, frame, *len, out) != 0) {
		log_info("lan %u: ARP for %s answered with the claiming host's MAC", l->id, a);
		l->emit(l->arg, out, sizeof out);
		return NULL;
	}
	int type = hub_dhcp_peek(frame, *len, ch, req);
	if (type == 4 && memcmp(req, l->net.claim, 4) == 0) {
		log_info("lan %u: %02x:%02x:%02x:%02x:%02x:%02x declined %s", l->id, ch[0], ch[1],
			ch[2], ch[3], ch[4], ch[5], a);
		l->declined = true;
		memcpy(l->declined_mac, ch, 6);
	} else if (type == 1 && l->declined && memcmp(ch, l->declined_mac, 6) == 0 &&
		*len <= sizeof l->claim_frame) {
		uint8_t next[4];
		memcpy(next, l->net.claim, 4);
		next[3]++;
		memcpy(l->claim_frame, frame, *len);
		size_t n = hub_dhcp_set_requested(l->claim_frame, *len, sizeof l->claim_frame,
			next);
		if (n != 0) {
			*len = n;
			return l->claim_frame;
		}
	}
	return frame;
}

/* see server.h */
void
hub_lan_input(struct hub_lan *l, const uint8_t *frame, size_t len)
{
	if (l == NULL || l->slirp == NULL)
		return;
	if (l->net.has_claim && (frame = claim_input(l, frame, &len)) == NULL)
		return;
	switch (hub_frame_filter(&l->net, &l->frags, uv_now(l->loop), frame, len)) {
	case HUB_PASS:
		slirp_input(l->slirp, frame, (int)len);
		break;
	case HUB_DNS: {
		uint8_t out[1600];
		size_t n = hub_dns_reply(l->dns, frame, len, out, sizeof out);
		if (n) {
			l->dns_answers++;
			l->emit(l->arg, out, n);
		}
		break;
	}
	case HUB_DROP:
	default:
		l->dropped++;
		log_debug("lan %u: filter dropped a %zu-byte frame (type %02x%02x)", l->id, len,
			len >= 14 ? frame[12] : 0, len >= 14 ? frame[13] : 0);
		break;
	}
}

/* see server.h */
void
hub_lan_free(struct hub_lan *l)
{
	if (l == NULL)
		return;
	log_debug("lan %u: down (%llu frames filtered, %llu DNS answers, %llu fragment keys "
		  "evicted)", l->id, (unsigned long long)l->dropped,
		(unsigned long long)l->dns_answers, (unsigned long long)l->frags.evicted);
	/* Stop watching slirp's descriptors before slirp closes them. */
	while (l->fds) {
		struct lan_fd *f = l->fds;
		l->fds = f->next;
		uv_close((uv_handle_t *)&f->poll, fd_closed);
	}
	l->npolled = 0;
	if (l->slirp) {
		slirp_cleanup(l->slirp); /* may call timer_free */
		l->slirp = NULL;
	}
	while (l->timers) {
		struct lan_timer *t = l->timers;
		l->timers = t->next;
		uv_close((uv_handle_t *)&t->t, timer_closed);
	}
	uv_close((uv_handle_t *)&l->prep, lan_handle_closed);
	uv_close((uv_handle_t *)&l->check, lan_handle_closed);
	uv_close((uv_handle_t *)&l->wake, lan_handle_closed);
}
