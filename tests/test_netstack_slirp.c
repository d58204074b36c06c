/*
 * netstack/ against libslirp in one process: lwIP's netif talks Ethernet to a slirp
 * "remote LAN" (DHCP server, NAT of 10.0.2.2 to 127.0.0.1). The test opens loopback
 * sockets only: slirp's DNS is disabled and the stack only ever connects to 10.0.2.2.
 *
 * Frames from slirp are queued and fed to the stack from the pump loop, never from inside
 * lwIP's output (slirp answers synchronously from slirp_input).
 *
 * The tests share one stack (lwIP can be initialised once per process) and run in order:
 * before the lease, lease, bulk transfer both ways with half-close, the remote closing
 * first, refused connect, resolve (the harness answers DNS itself from a small table and
 * can play a silent server; slirp's DHCP hands out a domain and a search list: search
 * expansion, AAAA, NXDOMAIN, TTL cache, failover); then UDP (udpconn.h: echo through slirp's NAT, a slirp
 * UDP port forward into a bound socket, the receive queue bound) and TCP listening
 * (tcplisten.h: a kernel client reaches the listener through slirp_add_hostfwd).
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <strings.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <slirp/libslirp.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/log.h"
#include "netstack/resolve.h"
#include "netstack/stack.h"
#include "netstack/tcpconn.h"
#include "netstack/tcplisten.h"
#include "netstack/udpconn.h"
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h" /* tcp_tw_pcbs */

#define PHASE_LIMIT_MS 20000
#define BULK_BYTES (8u * 1024u * 1024u)
#define HOLD_BYTES (64u * 1024u)
#define SMALL_BYTES (100u * 1024u)
#define RXQ_FRAMES 8192
#define FRAME_MAX 1518
#define MAX_POLLFDS 256
#define MAX_TIMERS 16

/* --- harness: slirp + frame queue + timers ------------------------------------------ */

struct frame {
	uint16_t len;
	uint8_t b[FRAME_MAX];
};

struct stimer {
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	bool used;
};

static struct {
	Slirp *slirp;
	struct frame *rxq;
	unsigned rx_head, rx_count, rx_dropped;
	struct stimer timers[MAX_TIMERS];
	struct pollfd fds[MAX_POLLFDS];
	int nfds;
	int leases;
	struct sv_lease lease;
	unsigned rst_sent; /* TCP segments with RST that the stack sent */
	unsigned blocked;  /* frames the hermetic filter kept from slirp */
	unsigned frag6_sent; /* IPv6 fragments the stack sent */
	unsigned dns_queries;
	unsigned dns_dropped;   /* queries to dns_dead, not answered */
	uint8_t dns_dead[4];    /* IPv4 address of a DNS server that never answers */
	char dns_last[256];     /* last name asked */
	bool prl_has_15, prl_has_119;
	bool prl_121_before_3_and_33; /* RFC 3442 section 4 */
	int64_t start_ms, lease_ms; /* sv_stack_start(), first lease */
	unsigned arp_probes;        /* ARP requests for 10.0.2.15 from 0.0.0.0 (RFC 5227) */
	unsigned declines;          /* DHCPDECLINE for 10.0.2.15 */
} H;

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ssize_t
slirp_send_packet(const void *buf, size_t len, void *opaque)
{
	(void)opaque;
	if (len > FRAME_MAX || H.rx_count == RXQ_FRAMES) {
		H.rx_dropped++;
		return (ssize_t)len;
	}
	struct frame *f = &H.rxq[(H.rx_head + H.rx_count) % RXQ_FRAMES];
	f->len = (uint16_t)len;
	memcpy(f->b, buf, len);
	H.rx_count++;
	return (ssize_t)len;
}

static void
slirp_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	fprintf(stderr, "slirp guest error: %s\n", msg);
}

static int64_t
slirp_clock_ns(void *opaque)
{
	(void)opaque;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *
slirp_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	(void)opaque;
	for (int i = 0; i < MAX_TIMERS; i++)
		if (!H.timers[i].used) {
			H.timers[i] = (struct stimer){ cb, cb_opaque, -1, true };
			return &H.timers[i];
		}
	fail_msg("out of slirp timers");
	return NULL;
}

static void
slirp_timer_free(void *t, void *opaque)
{
	(void)opaque;
	((struct stimer *)t)->used = false;
}

static void
slirp_timer_mod(void *t, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct stimer *)t)->expire_ms = expire_ms;
}

static void
slirp_noop_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void
slirp_notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb slirp_cbs = {
	.send_packet = slirp_send_packet,
	.guest_error = slirp_guest_error,
	.clock_get_ns = slirp_clock_ns,
	.timer_new = slirp_timer_new,
	.timer_free = slirp_timer_free,
	.timer_mod = slirp_timer_mod,
	.register_poll_fd = slirp_noop_fd,
	.unregister_poll_fd = slirp_noop_fd,
	.notify = slirp_notify,
};

static int
add_poll(int fd, int events, void *opaque)
{
	(void)opaque;
	assert_true(H.nfds < MAX_POLLFDS);
	short ev = 0;
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	H.fds[H.nfds] = (struct pollfd){ .fd = fd, .events = ev };
	return H.nfds++;
}

static int
get_revents(int idx, void *opaque)
{
	(void)opaque;
	short re = H.fds[idx].revents;
	int r = 0;
	if (re & POLLIN)
		r |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		r |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		r |= SLIRP_POLL_PRI;
	if (re & POLLERR)
		r |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		r |= SLIRP_POLL_HUP;
	return r;
}

/* Stack output: straight into slirp (it may answer through send_packet: queued). */
static void
count_rst(const uint8_t *f, size_t len)
{
	if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || f[14 + 9] != 6)
		return;
	size_t ihl = (size_t)(f[14] & 0x0f) * 4;
	if (len >= 14 + ihl + 14 && (f[14 + ihl + 13] & 0x04))
		H.rst_sent++;
}

/* Queue a frame for the stack as if slirp had sent it. */
static void
inject(const uint8_t *f, size_t len)
{
	slirp_send_packet(f, len, NULL);
}

static uint16_t
ip_checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * A tiny DNS server for the test: slirp forwards DNS as ordinary NAT when its own DNS is
 * disabled, so queries never reach it; every UDP datagram to port 53 is answered here,
 * whatever its destination, from the table below (NXDOMAIN for other names, NOERROR
 * without answers for a known name asked with another type). Queries to H.dns_dead are
 * dropped (a dead server). Checksum 0 in UDP over IPv4 means "none".
 */
struct dns_rr {
	const char *name;
	uint16_t type;
	uint32_t ttl;
	uint8_t rdata[16];
};

static const struct dns_rr dns_table[] = {
	{ "host.test", 1, 60, { 10, 0, 2, 2 } },
	{ "short.lab.test", 1, 60, { 10, 0, 2, 7 } },
	{ "only.corp.test", 1, 60, { 10, 0, 2, 5 } },
	{ "over.test", 1, 60, { 10, 0, 2, 6 } },
	{ "failover.test", 1, 60, { 10, 0, 2, 9 } },
	{ "cache.test", 1, 60, { 10, 0, 2, 4 } },
	{ "ttl0.test", 1, 0, { 10, 0, 2, 8 } },
	{ "v6.test", 28, 60, { 0xfe, 0xc0, [15] = 7 } },
};

/* qname (wire format at q, at most n bytes) in dotted form; false if malformed. */
static bool
dns_qname(const uint8_t *q, size_t n, char *out, size_t cap, size_t *wire_len)
{
	size_t i = 0, o = 0;
	while (i < n && q[i] != 0) {
		size_t l = q[i];
		if (l > 63 || i + 1 + l >= n || o + l + 2 > cap)
			return false;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, q + i + 1, l);
		o += l;
		i += 1 + l;
	}
	if (i >= n)
		return false;
	out[o] = '\0';
	*wire_len = i + 1;
	return true;
}

static void
answer_dns(const uint8_t *f, size_t len)
{
	uint8_t r[FRAME_MAX];
	size_t ihl = (size_t)(f[14] & 0x0f) * 4, dns = 14 + ihl + 8, qlen;
	char qname[256];

	if (len < dns + 12 || len + 32 > sizeof r)
		return;
	if (memcmp(f + 14 + 16, H.dns_dead, 4) == 0) {
		H.dns_dropped++;
		return;
	}
	H.dns_queries++;
	if (!dns_qname(f + dns + 12, len - dns - 12, qname, sizeof qname, &qlen) ||
		dns + 12 + qlen + 4 > len)
		return;
	snprintf(H.dns_last, sizeof H.dns_last, "%s", qname);
	uint16_t qtype = (uint16_t)(f[dns + 12 + qlen] << 8 | f[dns + 12 + qlen + 1]);
	const struct dns_rr *rr = NULL;
	bool name_known = false;
	for (size_t i = 0; i < sizeof dns_table / sizeof dns_table[0]; i++) {
		if (strcasecmp(dns_table[i].name, qname) != 0)
			continue;
		name_known = true;
		if (dns_table[i].type == qtype)
			rr = &dns_table[i];
	}
	memcpy(r, f, len);
	memcpy(r, f + 6, 6); /* swap MACs */
	memcpy(r + 6, f, 6);
	memcpy(r + 14 + 12, f + 14 + 16, 4); /* swap IPs */
	memcpy(r + 14 + 16, f + 14 + 12, 4);
	memcpy(r + 14 + ihl, f + 14 + ihl + 2, 2); /* swap ports */
	memcpy(r + 14 + ihl + 2, f + 14 + ihl, 2);
	size_t n = dns + 12 + qlen + 4; /* header and question only */
	r[dns + 2] = 0x81; /* QR, RD */
	r[dns + 3] = name_known ? 0x80 : 0x83; /* RA; NOERROR or NXDOMAIN */
	r[dns + 6] = r[dns + 7] = 0; /* ANCOUNT */
	r[dns + 8] = r[dns + 9] = r[dns + 10] = r[dns + 11] = 0;
	if (rr != NULL) {
		size_t rdlen = rr->type == 28 ? 16 : 4;
		uint8_t hdr[] = { 0xc0, 0x0c, 0, (uint8_t)rr->type, 0, 1,
			(uint8_t)(rr->ttl >> 24), (uint8_t)(rr->ttl >> 16), (uint8_t)(rr->ttl >> 8),
			(uint8_t)rr->ttl, 0, (uint8_t)rdlen };
		r[dns + 7] = 1;
		memcpy(r + n, hdr, sizeof hdr);
		memcpy(r + n + sizeof hdr, rr->rdata, rdlen);
		n += sizeof hdr + rdlen;
	}
	size_t udp_len = n - 14 - ihl, ip_len = n - 14;
	r[14 + ihl + 4] = (uint8_t)(udp_len >> 8);
	r[14 + ihl + 5] = (uint8_t)udp_len;
	r[14 + ihl + 6] = r[14 + ihl + 7] = 0;
	r[14 + 2] = (uint8_t)(ip_len >> 8);
	r[14 + 3] = (uint8_t)ip_len;
	r[14 + 10] = r[14 + 11] = 0;
	uint16_t c = ip_checksum(r + 14, ihl);
	r[14 + 10] = (uint8_t)(c >> 8);
	r[14 + 11] = (uint8_t)c;
	inject(r, n);
}

/* A DHCP request from the stack (UDP to port 67): note whether its parameter request
 * list (option 55) asks for the domain name (15) and the search list (119). */
static void
check_dhcp_request(const uint8_t *f, size_t len)
{
	size_t ihl = (size_t)(f[14] & 0x0f) * 4, o = 14 + ihl + 8 + 240;
	while (o + 1 < len && f[o] != 255) {
		if (f[o] == 0) {
			o++;
			continue;
		}
		size_t l = f[o + 1];
		if (f[o] == 55 && o + 2 + l <= len) {
			H.prl_has_15 = memchr(f + o + 2, 15, l) != NULL;
			H.prl_has_119 = memchr(f + o + 2, 119, l) != NULL;
			const uint8_t *c = memchr(f + o + 2, 121, l), *r3 = memchr(f + o + 2, 3, l),
				      *r33 = memchr(f + o + 2, 33, l);
			H.prl_121_before_3_and_33 = c != NULL && r3 != NULL && r33 != NULL &&
				c < r3 && c < r33;
		}
		o += 2 + l;
	}
}

static bool
ip4_dst_is(const uint8_t *f, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	return f[30] == a && f[31] == b && f[32] == c && f[33] == d;
}

/*
 * Hermetic filter: slirp is a real NAT, so only frames that stay inside it pass: ARP,
 * IPv4 to 10.0.2.2 (= 127.0.0.1) or broadcast (DHCP), IPv6 to link-local or multicast
 * (ND, MLD, DHCPv6) or to fec0::2 (= ::1). DNS is answered here.
 */
static bool
may_reach_slirp(const uint8_t *f, size_t len)
{
	if (len < 14)
		return false;
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == 0x0806)
		return true;
	if (type == 0x0800 && len >= 14 + 20) {
		size_t ihl = (size_t)(f[14] & 0x0f) * 4;
		if (f[14 + 9] == 17 && len >= 14 + ihl + 8 && f[14 + ihl + 2] == 0 &&
			f[14 + ihl + 3] == 53) {
			answer_dns(f, len);
			return false;
		}
		if (f[14 + 9] == 17 && len >= 14 + ihl + 8 && f[14 + ihl + 2] == 0 &&
			f[14 + ihl + 3] == 67)
			check_dhcp_request(f, len);
		return ip4_dst_is(f, 10, 0, 2, 2) || ip4_dst_is(f, 255, 255, 255, 255);
	}
	if (type == 0x86dd && len >= 14 + 40) {
		static const uint8_t slirp_host6[16] = { 0xfe, 0xc0, [15] = 2 };
		const uint8_t *dst = f + 14 + 24;
		return dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) ||
			memcmp(dst, slirp_host6, 16) == 0;
	}
	return false;
}

/* The address conflict check (netstack/stack.c): its probe and its DHCPDECLINE. */
static void
count_probe_and_decline(const uint8_t *f, size_t len)
{
	static const uint8_t leased[4] = { 10, 0, 2, 15 }, zero[4] = { 0 };
	if (len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1 &&
		memcmp(f + 28, zero, 4) == 0 && memcmp(f + 38, leased, 4) == 0)
		H.arp_probes++;
	/* IPv4 UDP to port 67; DHCP options start at 14 + 20 + 8 + 240 */
	if (len >= 14 + 20 + 8 + 240 + 9 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 17 &&
		f[36] == 0 && f[37] == 67 && f[282] == 53 && f[283] == 1 && f[284] == 4 &&
		f[285] == 50 && memcmp(f + 287, leased, 4) == 0)
		H.declines++;
}

static void
stack_output(void *arg, const uint8_t *frame, size_t len)
{
	(void)arg;
	count_rst(frame, len);
	count_probe_and_decline(frame, len);
	if (len >= 14 + 40 && frame[12] == 0x86 && frame[13] == 0xdd && frame[14 + 6] == 44)
		H.frag6_sent++;
	if (!may_reach_slirp(frame, len)) {
		H.blocked++;
		return;
	}
	slirp_input(H.slirp, frame, (int)len);
}

static void
stack_on_lease(void *arg, const struct sv_lease *lease)
{
	(void)arg;
	H.lease = *lease;
	if (H.leases++ == 0)
		H.lease_ms = now_ms();
}

static const struct sv_stack_ops stack_ops = {
	.output = stack_output,
	.on_lease = stack_on_lease,
};

static void
drain_frames(void)
{
	while (H.rx_count > 0) {
		struct frame *f = &H.rxq[H.rx_head];
		H.rx_head = (H.rx_head + 1) % RXQ_FRAMES;
		H.rx_count--;
		sv_stack_input(f->b, f->len);
	}
}

static void
run_timers(void)
{
	int64_t now = now_ms();
	for (int i = 0; i < MAX_TIMERS; i++) {
		struct stimer *t = &H.timers[i];
		if (t->used && t->expire_ms >= 0 && t->expire_ms <= now) {
			t->expire_ms = -1;
			t->cb(t->cb_opaque);
		}
	}
}

/* --- host (kernel) side of a connection ---------------------------------------------- */

static uint8_t
pattern(uint32_t seed, size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u + seed;
	x ^= x >> 15;
	x *= 2246822519u;
	x ^= x >> 13;
	return (uint8_t)(x ^ (uint32_t)(i >> 12));
}

struct peer {
	int lfd, fd;
	uint32_t tx_seed, rx_seed;
	size_t tx_total, tx_done, tx_hold; /* hold: last bytes sent only after our EOF */
	size_t rx_total;
	size_t chunk; /* if set: at most this many bytes per write, one write per turn */
	bool tx_shut, rx_eof, bad, failed;
};

static int
listen_loopback(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void
peer_init(struct peer *p, uint16_t *port)
{
	memset(p, 0, sizeof *p);
	p->fd = -1;
	p->lfd = listen_loopback(port);
}

static void
peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	if (p->lfd >= 0)
		close(p->lfd);
	p->fd = p->lfd = -1;
}

static size_t
peer_sendable(const struct peer *p)
{
	size_t limit = p->rx_eof ? p->tx_total : p->tx_total - p->tx_hold;
	return p->tx_done < limit ? limit - p->tx_done : 0;
}

static void
peer_add_fds(struct peer *p)
{
	if (p == NULL)
		return;
	if (p->fd < 0 && p->lfd >= 0) {
		H.fds[H.nfds++] = (struct pollfd){ .fd = p->lfd, .events = POLLIN };
		return;
	}
	if (p->fd < 0)
		return;
	short ev = 0;
	if (!p->rx_eof)
		ev |= POLLIN;
	if (peer_sendable(p) > 0 || (!p->tx_shut && p->tx_done == p->tx_total))
		ev |= POLLOUT;
	H.fds[H.nfds++] = (struct pollfd){ .fd = p->fd, .events = ev };
}

static void
peer_io(struct peer *p)
{
	uint8_t buf[65536];

	if (p == NULL)
		return;
	if (p->fd < 0 && p->lfd >= 0) {
		int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			p->fd = fd;
		return;
	}
	if (p->fd < 0)
		return;
	while (!p->rx_eof) {
		ssize_t n = read(p->fd, buf, sizeof buf);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				p->failed = true;
			break;
		}
		if (n == 0) {
			p->rx_eof = true;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(p->rx_seed, p->rx_total + (size_t)i))
				p->bad = true;
		p->rx_total += (size_t)n;
	}
	for (int round = 0; round < 16; round++) {
		size_t k = peer_sendable(p);
		if (k == 0)
			break;
		if (k > sizeof buf)
			k = sizeof buf;
		if (p->chunk && k > p->chunk)
			k = p->chunk;
		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(p->tx_seed, p->tx_done + i);
		ssize_t n = write(p->fd, buf, k);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				p->failed = true;
			break;
		}
		p->tx_done += (size_t)n;
		if (p->chunk)
			break;
	}
	if (!p->tx_shut && p->tx_done == p->tx_total) {
		shutdown(p->fd, SHUT_WR);
		p->tx_shut = true;
	}
}

/* --- the pump ----------------------------------------------------------------------- */

static struct peer *active_peer;

/* More host sockets for the pump to poll and serve (UDP tests). */
struct hostio {
	void (*add)(void *ctx);
	void (*io)(void *ctx);
	void *ctx;
};
static struct hostio extra;

static void
pump_once(void)
{
	drain_frames();
	sv_stack_poll();
	sv_stack_flush();
	drain_frames();
	sv_stack_flush();

	uint32_t timeout = sv_stack_sleeptime();
	if (timeout > 20)
		timeout = 20;
	int64_t now = now_ms();
	for (int i = 0; i < MAX_TIMERS; i++) {
		struct stimer *t = &H.timers[i];
		if (t->used && t->expire_ms >= 0) {
			int64_t d = t->expire_ms - now;
			if (d < (int64_t)timeout)
				timeout = d > 0 ? (uint32_t)d : 0;
		}
	}
	if (H.rx_count > 0)
		timeout = 0;
	H.nfds = 0;
	slirp_pollfds_fill(H.slirp, &timeout, add_poll, NULL);
	int slirp_n = H.nfds;
	peer_add_fds(active_peer);
	if (extra.add)
		extra.add(extra.ctx);
	int r = poll(H.fds, (nfds_t)H.nfds, (int)timeout);
	H.nfds = slirp_n;
	slirp_pollfds_poll(H.slirp, r < 0, get_revents, NULL);
	peer_io(active_peer);
	if (extra.io)
		extra.io(extra.ctx);
	run_timers();
}

/* Pump until done(ctx) or the phase time limit; returns whether done. */
static bool
pump_until(bool (*done)(void *), void *ctx, int limit_ms)
{
	int64_t end = now_ms() + limit_ms;
	while (!done(ctx)) {
		if (now_ms() > end)
			return false;
		pump_once();
	}
	return true;
}

static bool
never(void *ctx)
{
	(void)ctx;
	return false;
}

/* --- lwIP side of a connection ------------------------------------------------------- */

struct client {
	struct sv_tcpconn *c;
	uint32_t tx_seed, rx_seed;
	size_t tx_total, tx_done;
	size_t rx_total;
	bool write_after_eof; /* start sending only once the remote has finished */
	bool no_read;         /* leave received bytes queued */
	int readable_calls;
	bool connected, eof, shut, bad;
	int err, calls_after_close;
	bool closed;
};

static void
client_pump_write(struct client *cl)
{
	uint8_t buf[65536];

	if (cl->closed || cl->err || !cl->connected || (cl->write_after_eof && !cl->eof))
		return;
	while (cl->tx_done < cl->tx_total) {
		size_t k = cl->tx_total - cl->tx_done;
		if (k > sizeof buf)
			k = sizeof buf;
		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(cl->tx_seed, cl->tx_done + i);
		long n = sv_tcpconn_write(cl->c, buf, k);
		if (n < 0) {
			cl->err = (int)n;
			return;
		}
		cl->tx_done += (size_t)n;
		if ((size_t)n < k)
			return; /* on_writable follows */
	}
	if (!cl->shut) {
		assert_int_equal(sv_tcpconn_shutdown(cl->c), 0);
		cl->shut = true;
	}
}

static void
cl_connected(void *arg)
{
	struct client *cl = arg;
	if (cl->closed)
		cl->calls_after_close++;
	cl->connected = true;
	client_pump_write(cl);
}

/* on_readable is edge-like: it fires when new bytes arrive, so take everything now. */
static void
cl_readable(void *arg)
{
	struct client *cl = arg;
	struct sv_iov iov[16];
	if (cl->closed)
		cl->calls_after_close++;
	cl->readable_calls++;
	assert_true(sv_tcpconn_pending(cl->c) > 0);
	if (cl->no_read)
		return;
	while (sv_tcpconn_pending(cl->c) > 0) {
		int n = sv_tcpconn_peek(cl->c, iov, 16);
		size_t total = 0;
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			const uint8_t *b = iov[i].base;
			for (size_t j = 0; j < iov[i].len; j++)
				if (b[j] != pattern(cl->rx_seed, cl->rx_total + total + j))
					cl->bad = true;
			total += iov[i].len;
		}
		assert_true(total <= sv_tcpconn_pending(cl->c));
		cl->rx_total += total;
		sv_tcpconn_consume(cl->c, total);
	}
}

static void
cl_writable(void *arg)
{
	struct client *cl = arg;
	if (cl->closed)
		cl->calls_after_close++;
	client_pump_write(cl);
}

static void
cl_eof(void *arg)
{
	struct client *cl = arg;
	if (cl->closed)
		cl->calls_after_close++;
	assert_int_equal(sv_tcpconn_pending(cl->c), 0);
	cl->eof = true;
	client_pump_write(cl);
}

static void
cl_error(void *arg, int err)
{
	struct client *cl = arg;
	if (cl->closed)
		cl->calls_after_close++;
	cl->err = err;
}

static const struct sv_tcpconn_ops client_ops = {
	.on_connected = cl_connected,
	.on_readable = cl_readable,
	.on_writable = cl_writable,
	.on_eof = cl_eof,
	.on_error = cl_error,
};

static struct sv_ip
ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct sv_ip ip = { .family = 4 };
	ip.b[0] = a;
	ip.b[1] = b;
	ip.b[2] = c;
	ip.b[3] = d;
	return ip;
}

/* --- group setup -------------------------------------------------------------------- */

struct resolve_result {
	int calls, err;
	struct sv_ip ip;
};

static void
on_resolved(void *arg, int err, const struct sv_ip *ip)
{
	struct resolve_result *r = arg;
	r->calls++;
	r->err = err;
	if (ip)
		r->ip = *ip;
}

static struct resolve_result early_resolve;
static int early_connect_rc;

static int
group_setup(void **state)
{
	(void)state;
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	SlirpConfig cfg;

	memset(&cfg, 0, sizeof cfg);
	cfg.version = 4;
	cfg.restricted = 0;     /* NAT to 10.0.2.2 = 127.0.0.1; we connect nowhere else */
	cfg.in_enabled = true;
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	cfg.in6_enabled = true;
	inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
	cfg.vprefix_len = 64;
	inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
	inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);
	cfg.disable_dns = true; /* nothing may leave the machine */
	/* DHCP options 119 and 15 for the search-list tests */
	static const char *search[] = { "lab.test", "corp.test", NULL };
	cfg.vdnssearch = search;
	cfg.vdomainname = "corp.test";
	cfg.disable_host_loopback = false;

	H.rxq = calloc(RXQ_FRAMES, sizeof *H.rxq);
	if (H.rxq == NULL)
		return -1;
	H.slirp = slirp_new(&cfg, &slirp_cbs, NULL);
	if (H.slirp == NULL)
		return -1;
	if (sv_stack_init(mac, &stack_ops, NULL) != 0)
		return -1;
	H.start_ms = now_ms();
	sv_stack_start();

	/* Before DHCP has bound: no DNS server, no IPv4 source address. */
	struct sv_resolve *r = NULL;
	if (sv_resolve(&r, "example.invalid", 0, on_resolved, &early_resolve) != 0)
		return -1;
	struct sv_ip dst = ip4(10, 0, 2, 2);
	struct sv_tcpconn *c = NULL;
	early_connect_rc = sv_tcpconn_connect(&c, &dst, 80, 0, &client_ops, NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	sv_stack_stop();
	for (int i = 0; i < 10; i++)
		pump_once();
	fprintf(stderr, "frames kept from slirp: %u (dns queries answered here: %u)\n",
		H.blocked, H.dns_queries);
	if (H.slirp)
		slirp_cleanup(H.slirp);
	free(H.rxq);
	return 0;
}

/* --- tests -------------------------------------------------------------------------- */

static void
before_lease_connect_and_resolve_report_no_network(void **state)
{
	(void)state;
	assert_int_equal(early_connect_rc, -ENETUNREACH);
	/* deferred: nothing yet */
	assert_int_equal(early_resolve.calls, 0);
	sv_stack_flush();
	assert_int_equal(early_resolve.calls, 1);
	assert_int_equal(early_resolve.err, -ENETUNREACH);
}

static bool
have_lease(void *ctx)
{
	(void)ctx;
	return H.leases > 0;
}

static void
dhcp_lease_from_slirp(void **state)
{
	(void)state;
	struct sv_lease l;
	assert_true(pump_until(have_lease, NULL, PHASE_LIMIT_MS));
	assert_true(sv_stack_lease(&l));
	assert_int_equal(l.ip.family, 4);
	assert_memory_equal(l.ip.b, ((uint8_t[]){ 10, 0, 2, 15 }), 4);
	assert_int_equal(l.prefix_len, 24);
	assert_memory_equal(l.gw.b, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
	assert_int_equal(H.lease.ip.family, 4);
	assert_memory_equal(H.lease.ip.b, l.ip.b, 4);
	assert_true(H.lease.n_dns <= SV_STACK_MAX_DNS);
	assert_true(l.n_dns >= 1); /* slirp announces 10.0.2.3 even with its DNS disabled */
	for (unsigned i = 0; i < l.n_dns; i++)
		assert_true(l.dns[i].family == 4 || l.dns[i].family == 6);
	/* Bound at the ACK: no 2 x 500 ms ARP check first (lwIP's DHCP_DOES_ARP_CHECK
	 * took 1 s here); one RFC 5227 probe goes out when the address is bound. */
	fprintf(stderr, "lease %lld ms after start\n", (long long)(H.lease_ms - H.start_ms));
	assert_true(H.lease_ms - H.start_ms < 900);
	assert_int_equal(H.arp_probes, 1);
	assert_int_equal(H.declines, 0);
}

struct pair {
	struct client *cl;
	struct peer *p;
};

static bool
pair_done(void *ctx)
{
	struct pair *x = ctx;
	if (x->cl->err || x->cl->bad || x->p->bad || x->p->failed)
		return true;
	return x->cl->eof && x->cl->rx_total == x->p->tx_total && x->cl->shut &&
		x->p->rx_eof && x->p->rx_total == x->cl->tx_total;
}

static void
run_pair(struct client *cl, struct peer *p, uint16_t port)
{
	struct pair x = { cl, p };
	struct sv_ip dst = ip4(10, 0, 2, 2);

	active_peer = p;
	assert_int_equal(sv_tcpconn_connect(&cl->c, &dst, port, 5000, &client_ops, cl), 0);
	assert_false(cl->connected); /* never synchronous */
	bool ok = pump_until(pair_done, &x, PHASE_LIMIT_MS);
	if (!ok)
		fprintf(stderr, "client tx %zu/%zu rx %zu eof %d err %d; peer tx %zu rx %zu eof %d "
				"dropped %u\n",
			cl->tx_done, cl->tx_total, cl->rx_total, cl->eof, cl->err, p->tx_done,
			p->rx_total, p->rx_eof, H.rx_dropped);
	assert_true(ok);
	assert_int_equal(cl->err, 0);
	assert_false(cl->bad);
	assert_false(p->bad);
	assert_false(p->failed);

	struct sv_ip local;
	uint16_t lport = 0;
	assert_true(sv_tcpconn_local(cl->c, &local, &lport));
	assert_int_equal(local.family, 4);
	assert_memory_equal(local.b, ((uint8_t[]){ 10, 0, 2, 15 }), 4);
	assert_true(lport != 0);

	sv_tcpconn_close(cl->c);
	cl->closed = true;
	pump_until(never, NULL, 300);
	assert_int_equal(cl->calls_after_close, 0);
	active_peer = NULL;
	peer_close(p);
}

static void
bulk_transfer_both_ways_with_half_close(void **state)
{
	(void)state;
	struct peer p;
	struct client cl = { 0 };
	uint16_t port;
	int64_t t0 = now_ms();
	unsigned rst0 = H.rst_sent;

	peer_init(&p, &port);
	p.tx_seed = 0x1111;
	p.rx_seed = 0x2222;
	p.tx_total = BULK_BYTES;
	p.tx_hold = HOLD_BYTES; /* proves data still flows in after the stack's FIN */
	cl.tx_seed = 0x2222;
	cl.rx_seed = 0x1111;
	cl.tx_total = BULK_BYTES;
	run_pair(&cl, &p, port);
	fprintf(stderr, "bulk: 2 x %u bytes in %lld ms (slirp frames dropped: %u)\n",
		BULK_BYTES, (long long)(now_ms() - t0), H.rx_dropped);
	assert_int_equal(H.rst_sent, rst0); /* everything consumed: FIN, not RST */
}

static void
remote_closes_first_then_stack_sends(void **state)
{
	(void)state;
	struct peer p;
	struct client cl = { 0 };
	uint16_t port;

	peer_init(&p, &port);
	p.tx_seed = 0x3333;
	p.rx_seed = 0x4444;
	p.tx_total = SMALL_BYTES;
	cl.tx_seed = 0x4444;
	cl.rx_seed = 0x3333;
	cl.tx_total = SMALL_BYTES;
	cl.write_after_eof = true;
	run_pair(&cl, &p, port);
}

static bool
client_failed(void *ctx)
{
	return ((struct client *)ctx)->err != 0;
}

static void
connect_to_closed_port_is_refused(void **state)
{
	(void)state;
	struct client cl = { 0 };
	uint16_t port;
	int fd = listen_loopback(&port);
	close(fd); /* nothing listens there now */

	struct sv_ip dst = ip4(10, 0, 2, 2);
	assert_int_equal(sv_tcpconn_connect(&cl.c, &dst, port, 5000, &client_ops, &cl), 0);
	assert_int_equal(cl.err, 0);
	assert_true(pump_until(client_failed, &cl, PHASE_LIMIT_MS));
	assert_int_equal(cl.err, -ECONNREFUSED);
	assert_false(cl.connected);
	assert_true(sv_tcpconn_write(cl.c, "x", 1) < 0 || true); /* dead: only close allowed */
	sv_tcpconn_close(cl.c);
}

static bool
pending_stable(void *ctx)
{
	static size_t last;
	static int64_t since;
	struct client *cl = ctx;
	if (cl->err)
		return true;
	size_t now = cl->c && cl->connected ? sv_tcpconn_pending(cl->c) : 0;
	if (now != last || now == 0) {
		last = now;
		since = now_ms();
		return false;
	}
	return now_ms() - since > 500;
}

static void
slow_reader_holds_remote_within_window_then_drains(void **state)
{
	(void)state;
	struct peer p;
	struct client cl = { 0 };
	uint16_t port;
	struct sv_ip dst = ip4(10, 0, 2, 2);

	peer_init(&p, &port);
	p.tx_seed = 0x5555;
	p.tx_total = 4 * BULK_BYTES; /* more than window plus socket buffers */
	cl.rx_seed = 0x5555;
	cl.no_read = true;
	active_peer = &p;
	assert_int_equal(sv_tcpconn_connect(&cl.c, &dst, port, 5000, &client_ops, &cl), 0);
	assert_true(pump_until(pending_stable, &cl, PHASE_LIMIT_MS));
	assert_int_equal(cl.err, 0);
	size_t held = sv_tcpconn_pending(cl.c);
	fprintf(stderr, "slow reader: %zu bytes queued, remote wrote %zu\n", held, p.tx_done);
	/* slirp's TCP does not scale windows, so about 64 KB here; never above TCP_WND. */
	assert_true(held >= 32 * 1024);
	assert_true(held <= 4u * 1024u * 1024u);
	assert_true(p.tx_done < p.tx_total);     /* the remote is held back */

	/* Drain in large steps: each consume reopens more than 64 KB of window. */
	cl.no_read = false;
	cl_readable(&cl);
	cl.tx_total = 0;
	struct pair x = { &cl, &p };
	assert_true(pump_until(pair_done, &x, PHASE_LIMIT_MS));
	assert_false(cl.bad);
	assert_int_equal(cl.rx_total, p.tx_total);
	sv_tcpconn_close(cl.c);
	active_peer = NULL;
	peer_close(&p);
}

static bool
peer_sent_all(void *ctx)
{
	struct pair *x = ctx;
	return x->cl->err || (x->p->tx_done == x->p->tx_total &&
				     sv_tcpconn_pending(x->cl->c) == x->p->tx_total);
}

static void
tiny_segments_queue_and_read_back_intact(void **state)
{
	(void)state;
	struct peer p;
	struct client cl = { 0 };
	uint16_t port;
	struct sv_ip dst = ip4(10, 0, 2, 2);
	struct pair x = { &cl, &p };

	peer_init(&p, &port);
	p.tx_seed = 0x7777;
	p.tx_total = 30000;
	p.chunk = 7; /* one small segment per loop turn */
	cl.rx_seed = 0x7777;
	cl.no_read = true;
	active_peer = &p;
	assert_int_equal(sv_tcpconn_connect(&cl.c, &dst, port, 5000, &client_ops, &cl), 0);
	assert_true(pump_until(peer_sent_all, &x, PHASE_LIMIT_MS));
	assert_int_equal(cl.err, 0);
	assert_true(cl.readable_calls > 100); /* they did arrive as many segments */
	cl.no_read = false;
	cl_readable(&cl);
	assert_true(pump_until(pair_done, &x, PHASE_LIMIT_MS));
	assert_false(cl.bad);
	assert_int_equal(cl.rx_total, p.tx_total);
	sv_tcpconn_close(cl.c);
	active_peer = NULL;
	peer_close(&p);
}

static bool
client_has_data(void *ctx)
{
	struct client *cl = ctx;
	return cl->err || (cl->connected && sv_tcpconn_pending(cl->c) >= 32 * 1024);
}

static bool
peer_saw_end(void *ctx)
{
	struct peer *p = ctx;
	return p->rx_eof || p->failed;
}

static void
close_with_unread_data_sends_rst(void **state)
{
	(void)state;
	struct peer p;
	struct client cl = { 0 };
	uint16_t port;
	struct sv_ip dst = ip4(10, 0, 2, 2);
	unsigned rst0 = H.rst_sent;

	peer_init(&p, &port);
	p.tx_seed = 0x6666;
	p.tx_total = SMALL_BYTES + 1;
	p.tx_hold = 1; /* the last byte waits for our FIN: no FIN from the remote yet */
	cl.no_read = true;
	active_peer = &p;
	assert_int_equal(sv_tcpconn_connect(&cl.c, &dst, port, 5000, &client_ops, &cl), 0);
	assert_true(pump_until(client_has_data, &cl, PHASE_LIMIT_MS));
	assert_int_equal(cl.err, 0);
	int calls = cl.readable_calls;
	sv_tcpconn_close(cl.c);
	cl.closed = true;
	assert_true(H.rst_sent > rst0);
	assert_true(pump_until(peer_saw_end, &p, PHASE_LIMIT_MS));
	assert_int_equal(cl.readable_calls, calls);
	assert_int_equal(cl.calls_after_close, 0);
	active_peer = NULL;
	peer_close(&p);
}

static void
connect_to_silent_host_times_out(void **state)
{
	(void)state;
	struct client cl = { 0 };
	/* On slirp's virtual LAN but not answered by slirp (no ARP reply). */
	struct sv_ip dst = ip4(10, 0, 2, 99);
	int64_t t0 = now_ms();

	assert_int_equal(sv_tcpconn_connect(&cl.c, &dst, 9, 1000, &client_ops, &cl), 0);
	assert_true(pump_until(client_failed, &cl, PHASE_LIMIT_MS));
	int64_t took = now_ms() - t0;
	assert_int_equal(cl.err, -ETIMEDOUT);
	assert_true(took >= 1000 && took < 3000);
	assert_false(cl.connected);
	sv_tcpconn_close(cl.c);
}

static void
close_before_connected_runs_no_callback(void **state)
{
	(void)state;
	struct peer p;
	struct client cl = { 0 };
	uint16_t port;

	peer_init(&p, &port);
	active_peer = &p;
	struct sv_ip dst = ip4(10, 0, 2, 2);
	assert_int_equal(sv_tcpconn_connect(&cl.c, &dst, port, 5000, &client_ops, &cl), 0);
	sv_tcpconn_close(cl.c);
	pump_until(never, NULL, 300);
	assert_false(cl.connected);
	assert_int_equal(cl.err, 0);
	active_peer = NULL;
	peer_close(&p);
}

static void
resolve_literal_is_answered_deferred_and_cancel_is_silent(void **state)
{
	(void)state;
	struct resolve_result a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	struct sv_resolve *ra, *rb, *rc, *rd;

	assert_int_equal(sv_resolve(&ra, "10.0.2.2", 0, on_resolved, &a), 0);
	assert_int_equal(sv_resolve(&rb, "fec0::2", 4, on_resolved, &b), 0);
	assert_int_equal(sv_resolve(&rc, "192.0.2.1", 4, on_resolved, &c), 0);
	assert_int_equal(sv_resolve(&rd, "bad name!", 0, on_resolved, &d), 0);
	sv_resolve_cancel(rc);
	assert_int_equal(a.calls, 0);
	sv_stack_flush();
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.ip.family, 4);
	assert_memory_equal(a.ip.b, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, -ENOENT);
	assert_int_equal(c.calls, 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.err, -ENOENT);
	(void)ra;
	(void)rb;
	(void)rd;
}

static bool
resolved_once(void *ctx)
{
	return ((struct resolve_result *)ctx)->calls > 0;
}

static void
resolve_name_through_leased_server_and_cancelled_twin_stays_silent(void **state)
{
	(void)state;
	struct resolve_result a = { 0 }, b = { 0 }, c = { 0 };
	struct sv_resolve *ra, *rb, *rc;
	unsigned q0 = H.dns_queries;

	assert_int_equal(sv_resolve(&ra, "nothing.test", 4, on_resolved, &a), 0);
	assert_int_equal(sv_resolve(&rb, "nothing.test", 4, on_resolved, &b), 0);
	assert_int_equal(sv_resolve(&rc, "host.test", 0, on_resolved, &c), 0);
	sv_resolve_cancel(rb); /* stays with lwIP until its lookup ends, then is freed */
	assert_true(pump_until(resolved_once, &a, PHASE_LIMIT_MS));
	assert_true(pump_until(resolved_once, &c, PHASE_LIMIT_MS));
	pump_until(never, NULL, 100);
	assert_true(H.dns_queries > q0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.err, -ENOENT);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.ip.family, 4);
	assert_memory_equal(c.ip.b, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
}

static void
dhcp_requests_domain_and_search_list_and_lease_carries_them(void **state)
{
	(void)state;
	struct sv_lease l;

	assert_true(H.prl_has_15);
	assert_true(H.prl_has_119);
	assert_true(H.prl_121_before_3_and_33);
	assert_true(sv_stack_lease(&l));
	assert_int_equal(l.n_routes, 0); /* slirp sends no routes */
	assert_string_equal(l.domain, "corp.test");
	assert_int_equal(l.n_search, 2);
	assert_string_equal(l.search[0], "lab.test");
	assert_string_equal(l.search[1], "corp.test");
	assert_string_equal(H.lease.search[0], "lab.test");
}

/* One lookup to its end; returns the result, the queries it cost in *queries. */
static struct resolve_result
resolve_wait(const char *name, int family, unsigned *queries)
{
	struct resolve_result a = { 0 };
	struct sv_resolve *r;
	unsigned q0 = H.dns_queries;

	assert_int_equal(sv_resolve(&r, name, family, on_resolved, &a), 0);
	assert_true(pump_until(resolved_once, &a, PHASE_LIMIT_MS));
	assert_int_equal(a.calls, 1);
	if (queries)
		*queries = H.dns_queries - q0;
	return a;
}

static void
resolve_short_name_tries_each_search_domain_then_the_name(void **state)
{
	(void)state;
	unsigned q;

	struct resolve_result a = resolve_wait("short", 4, &q);
	assert_int_equal(a.err, 0);
	assert_memory_equal(a.ip.b, ((uint8_t[]){ 10, 0, 2, 7 }), 4);
	assert_int_equal(q, 1);
	assert_string_equal(H.dns_last, "short.lab.test");

	a = resolve_wait("only", 4, &q); /* found in the second search domain */
	assert_int_equal(a.err, 0);
	assert_memory_equal(a.ip.b, ((uint8_t[]){ 10, 0, 2, 5 }), 4);
	assert_int_equal(q, 2);
	assert_string_equal(H.dns_last, "only.corp.test");

	a = resolve_wait("nosuch", 4, &q); /* NXDOMAIN everywhere: three names asked */
	assert_int_equal(a.err, -ENOENT);
	assert_int_equal(q, 3);
	assert_string_equal(H.dns_last, "nosuch");

	a = resolve_wait("short.", 4, &q); /* absolute: no search */
	assert_int_equal(a.err, -ENOENT);
	assert_int_equal(q, 1);
	assert_string_equal(H.dns_last, "short");

	a = resolve_wait("over.test", 4, &q); /* dotted: as it is */
	assert_int_equal(a.err, 0);
	assert_int_equal(q, 1);
	assert_string_equal(H.dns_last, "over.test");
}

static void
resolve_aaaa_record_for_ipv6_and_any_family(void **state)
{
	(void)state;
	static const uint8_t want[16] = { 0xfe, 0xc0, [15] = 7 };

	struct resolve_result a = resolve_wait("v6.test", 6, NULL);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.ip.family, 6);
	assert_memory_equal(a.ip.b, want, 16);
	a = resolve_wait("v6.test", 4, NULL); /* NOERROR, no A record */
	assert_int_equal(a.err, -ENOENT);
	a = resolve_wait("v6.test", 0, NULL);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.ip.family, 6);
	assert_memory_equal(a.ip.b, want, 16);
}

static void
resolve_answers_from_cache_within_ttl_and_asks_again_after(void **state)
{
	(void)state;
	unsigned q;

	struct resolve_result a = resolve_wait("cache.test", 4, &q);
	assert_int_equal(a.err, 0);
	assert_int_equal(q, 1);
	a = resolve_wait("CACHE.test", 4, &q); /* TTL 60: from the cache, still deferred */
	assert_int_equal(a.err, 0);
	assert_memory_equal(a.ip.b, ((uint8_t[]){ 10, 0, 2, 4 }), 4);
	assert_int_equal(q, 0);

	a = resolve_wait("ttl0.test", 4, &q);
	assert_int_equal(a.err, 0);
	assert_int_equal(q, 1);
	a = resolve_wait("ttl0.test", 4, &q); /* TTL 0: never cached */
	assert_int_equal(a.err, 0);
	assert_memory_equal(a.ip.b, ((uint8_t[]){ 10, 0, 2, 8 }), 4);
	assert_int_equal(q, 1);
}

static void
resolve_fails_over_when_first_server_is_silent(void **state)
{
	(void)state;
	struct sv_ip servers[2] = { ip4(192, 0, 2, 53), ip4(10, 0, 2, 3) };
	struct sv_lease l;
	unsigned q;

	memcpy(H.dns_dead, servers[0].b, 4);
	H.dns_dropped = 0;
	assert_int_equal(sv_resolve_set_servers(servers, 2), 0);
	assert_true(sv_stack_lease(&l));
	assert_int_equal(l.n_dns, 2);
	assert_memory_equal(l.dns[0].b, servers[0].b, 4);

	int64_t t0 = now_ms();
	struct resolve_result a = resolve_wait("failover.test", 4, &q);
	assert_int_equal(a.err, 0);
	assert_memory_equal(a.ip.b, ((uint8_t[]){ 10, 0, 2, 9 }), 4);
	assert_int_equal(q, 1);               /* answered by the second server */
	assert_int_equal(H.dns_dropped, 3);   /* at 0, 1 and 2 s to the silent one */
	assert_true(now_ms() - t0 < 10000);

	assert_int_equal(sv_resolve_set_servers(NULL, 0), 0);
	memset(H.dns_dead, 0, sizeof H.dns_dead);
	assert_true(sv_stack_lease(&l));
	assert_memory_equal(l.dns[0].b, ((uint8_t[]){ 10, 0, 2, 3 }), 4);
}

static bool
have_ipv6(void *ctx)
{
	(void)ctx;
	struct sv_lease l;
	return sv_stack_lease(&l) && l.n_ip6 >= 2;
}

static void
slaac_address_from_router_advertisement(void **state)
{
	(void)state;
	struct sv_lease l;
	assert_true(pump_until(have_ipv6, NULL, PHASE_LIMIT_MS));
	assert_true(sv_stack_lease(&l));
	assert_int_equal(l.ip6[0].family, 6);
	assert_int_equal(l.ip6[0].b[0], 0xfe); /* link-local first */
	assert_int_equal(l.ip6[1].b[0], 0xfe);
	assert_int_equal(l.ip6[1].b[1], 0xc0); /* slirp's fec0::/64 */
}

/* --- UDP (udpconn.h) ------------------------------------------------------------------- */

#define GUEST_UDP_PORT 40053
#define GUEST_UDP_FLOOD_PORT 40054
#define GUEST_TCP_PORT 40080
#define GUEST_TCP_LATE_PORT 40081
#define GUEST_TCP_GONE_PORT 40082
#define GUEST_TCP6_PORT 40083
#define LISTEN_BYTES (3u * 1024u * 1024u)
#define LATE_BYTES 30000u

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static int
udp_loopback(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* slirp forwards 127.0.0.1:<returned port> to 10.0.2.15:guest_port. */
static uint16_t
add_hostfwd(bool is_udp, uint16_t guest_port)
{
	struct in_addr host = { .s_addr = htonl(INADDR_LOOPBACK) }, guest;
	inet_pton(AF_INET, "10.0.2.15", &guest);
	for (int i = 0; i < 20; i++) {
		uint16_t hp;
		int fd = is_udp ? udp_loopback(&hp) : listen_loopback(&hp);
		close(fd);
		if (slirp_add_hostfwd(H.slirp, is_udp, host, hp, guest, guest_port) == 0)
			return hp;
	}
	fail_msg("no free loopback port for a slirp forward");
	return 0;
}

static void
remove_hostfwd(bool is_udp, uint16_t host_port)
{
	struct in_addr host = { .s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(slirp_remove_hostfwd(H.slirp, is_udp, host, host_port), 0);
}

/* Kernel UDP echo server on 127.0.0.1, served by the pump. */
struct uecho {
	int fd;
	unsigned echoed;
};

static void
uecho_add(void *ctx)
{
	struct uecho *e = ctx;
	H.fds[H.nfds++] = (struct pollfd){ .fd = e->fd, .events = POLLIN };
}

static void
uecho_io(void *ctx)
{
	static uint8_t buf[65536];
	struct uecho *e = ctx;
	struct sockaddr_storage from;
	for (;;) {
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(e->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		assert_int_equal(sendto(e->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl), n);
		e->echoed++;
	}
}

/* The lwIP side: records the last datagram; optionally echoes or closes from the
 * callback; checks a running sequence number in the first two payload bytes. */
struct urx {
	struct sv_udpconn *u;
	int calls, calls_after_close;
	bool closed, echo, close_in_cb, check_seq, seq_bad;
	int echo_rc;
	unsigned next_seq;
	struct sv_ip src;
	uint16_t port;
	size_t len;
	uint8_t data[65536];
};

static void
urx_datagram(void *arg, const struct sv_ip *src, uint16_t port, const uint8_t *data,
	size_t len)
{
	struct urx *r = arg;
	if (r->closed)
		r->calls_after_close++;
	r->calls++;
	r->src = *src;
	r->port = port;
	r->len = len;
	assert_true(len <= sizeof r->data);
	if (len > 0)
		memcpy(r->data, data, len);
	if (r->check_seq) {
		if (len < 2 || (unsigned)(data[0] << 8 | data[1]) != r->next_seq)
			r->seq_bad = true;
		r->next_seq++;
	}
	if (r->echo && r->echo_rc == 0)
		r->echo_rc = sv_udpconn_sendto(r->u, src, port, data, len);
	if (r->close_in_cb && !r->closed) {
		sv_udpconn_close(r->u);
		r->closed = true;
	}
}

static const struct sv_udpconn_ops urx_ops = {
	.on_datagram = urx_datagram,
};

struct count_goal {
	const int *counter;
	int want;
};

static bool
count_reached(void *ctx)
{
	struct count_goal *g = ctx;
	return *g->counter >= g->want;
}

static void
fill(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pattern(seed, i);
}

static void
udp_echo_through_slirp_in_every_size_including_fragments(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 512, 1472, 1473, 3000, 8000, SV_UDP_MAX_PAYLOAD };
	static uint8_t buf[SV_UDP_MAX_PAYLOAD + 1];
	static struct urx r;
	static struct uecho e;
	uint16_t eport;
	struct sv_ip dst = ip4(10, 0, 2, 2);

	memset(&r, 0, sizeof r);
	memset(&e, 0, sizeof e);
	e.fd = udp_loopback(&eport);
	extra = (struct hostio){ uecho_add, uecho_io, &e };
	assert_int_equal(sv_udpconn_open(&r.u, 4, 0, &urx_ops, &r), 0);
	assert_true(sv_udpconn_port(r.u) != 0);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		struct count_goal g = { &r.calls, r.calls + 1 };
		fill(buf, n, 0xabc0u + (uint32_t)i);
		assert_int_equal(sv_udpconn_sendto(r.u, &dst, eport, buf, n), 0);
		assert_int_equal(r.calls, g.want - 1); /* never synchronous */
		if (!pump_until(count_reached, &g, PHASE_LIMIT_MS))
			fail_msg("no echo of a %zu-byte datagram (echoed %u)", n, e.echoed);
		assert_int_equal(r.len, n);
		assert_memory_equal(r.data, buf, n);
		assert_int_equal(r.src.family, 4);
		assert_memory_equal(r.src.b, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
		assert_int_equal(r.port, eport);
	}
	assert_int_equal(sv_udpconn_dropped(r.u), 0);

	/* refused up front, nothing sent */
	struct sv_ip v6 = { .family = 6 };
	v6.b[0] = 0xfe;
	v6.b[1] = 0xc0;
	v6.b[15] = 2;
	assert_int_equal(sv_udpconn_sendto(r.u, &dst, eport, buf, SV_UDP_MAX_PAYLOAD + 1),
		-EMSGSIZE);
	assert_int_equal(sv_udpconn_sendto(r.u, &v6, eport, buf, 1), -EAFNOSUPPORT);
	assert_int_equal(sv_udpconn_sendto(r.u, &dst, 0, buf, 1), SV_E_INVAL);

	/* the port is taken while r.u holds it, for either family */
	struct sv_udpconn *twin = NULL;
	assert_int_equal(sv_udpconn_open(&twin, 0, sv_udpconn_port(r.u), &urx_ops, NULL),
		-EADDRINUSE);
	assert_int_equal(sv_udpconn_open(&twin, 7, 0, &urx_ops, NULL), SV_E_INVAL);

	sv_udpconn_close(r.u);
	extra = (struct hostio){ 0 };
	close(e.fd);
}

/* A kernel socket sends to slirp's UDP forward; the datagrams arrive unsolicited at our
 * bound port and the replies (sent from the callback) find their way back. */
static void
udp_forward_reaches_bound_port_and_replies_return(void **state)
{
	(void)state;
	static const size_t sizes[] = { 1, 1400, 8000 };
	static uint8_t buf[8000], got[8192];
	static struct urx r;
	uint16_t kport;

	memset(&r, 0, sizeof r);
	r.echo = true;
	assert_int_equal(sv_udpconn_open(&r.u, 0, GUEST_UDP_PORT, &urx_ops, &r), 0);
	assert_int_equal(sv_udpconn_port(r.u), GUEST_UDP_PORT);
	uint16_t hp = add_hostfwd(true, GUEST_UDP_PORT);
	int ks = udp_loopback(&kport);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(hp) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		fill(buf, n, 0x5150u + (uint32_t)i);
		assert_int_equal(sendto(ks, buf, n, 0, (struct sockaddr *)&to, sizeof to),
			(ssize_t)n);
		ssize_t k = -1;
		int64_t end = now_ms() + PHASE_LIMIT_MS;
		while (k < 0 && now_ms() < end) {
			pump_once();
			k = recv(ks, got, sizeof got, 0);
		}
		assert_int_equal(r.echo_rc, 0);
		assert_int_equal(k, (ssize_t)n);
		assert_memory_equal(got, buf, n);
		assert_int_equal(r.len, n);
		assert_int_equal(r.src.family, 4); /* slirp shows loopback as its host address */
		assert_memory_equal(r.src.b, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
		assert_int_equal(r.port, kport);
	}
	assert_int_equal(r.calls, 3);
	close(ks);
	remove_hostfwd(true, hp);
	sv_udpconn_close(r.u);
}

static int
udp_loopback6(uint16_t *port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin6_port);
	return fd;
}

/* One socket of family 0 talks to an IPv4 and an IPv6 host (slirp maps fec0::2 to ::1).
 * slirp neither reassembles nor fragments IPv6, so a large datagram is only checked to
 * leave as fragments. */
static void
udp_dual_stack_socket_reaches_ipv4_and_ipv6_hosts(void **state)
{
	(void)state;
	static const size_t sizes[] = { 1, 1400 };
	static uint8_t buf[8000];
	static struct urx r;
	static struct uecho e;
	uint16_t eport;
	struct sv_ip v6 = { .family = 6 }, v4 = ip4(10, 0, 2, 2);

	v6.b[0] = 0xfe;
	v6.b[1] = 0xc0;
	v6.b[15] = 2;
	memset(&r, 0, sizeof r);
	memset(&e, 0, sizeof e);
	e.fd = udp_loopback6(&eport);
	extra = (struct hostio){ uecho_add, uecho_io, &e };
	assert_int_equal(sv_udpconn_open(&r.u, 0, 0, &urx_ops, &r), 0);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		struct count_goal g = { &r.calls, r.calls + 1 };
		fill(buf, n, 0x6600u + (uint32_t)i);
		assert_int_equal(sv_udpconn_sendto(r.u, &v6, eport, buf, n), 0);
		if (!pump_until(count_reached, &g, PHASE_LIMIT_MS))
			fail_msg("no IPv6 echo of a %zu-byte datagram (echoed %u)", n, e.echoed);
		assert_int_equal(r.len, n);
		assert_memory_equal(r.data, buf, n);
		assert_int_equal(r.src.family, 6);
		assert_memory_equal(r.src.b, v6.b, 16);
		assert_int_equal(r.port, eport);
	}
	unsigned frags0 = H.frag6_sent;
	fill(buf, sizeof buf, 0x6666);
	assert_int_equal(sv_udpconn_sendto(r.u, &v6, eport, buf, 8000), 0);
	assert_int_equal(H.frag6_sent - frags0, 6); /* 8008 bytes in 1448-byte fragments */
	extra = (struct hostio){ 0 };
	close(e.fd);

	/* the same socket, IPv4 */
	e.fd = udp_loopback(&eport);
	extra = (struct hostio){ uecho_add, uecho_io, &e };
	struct count_goal g = { &r.calls, r.calls + 1 };
	assert_int_equal(sv_udpconn_sendto(r.u, &v4, eport, "four", 4), 0);
	assert_true(pump_until(count_reached, &g, PHASE_LIMIT_MS));
	assert_int_equal(r.len, 4);
	assert_int_equal(r.src.family, 4);
	extra = (struct hostio){ 0 };
	close(e.fd);
	sv_udpconn_close(r.u);

	/* an IPv6-only socket refuses IPv4 destinations */
	assert_int_equal(sv_udpconn_open(&r.u, 6, 0, &urx_ops, &r), 0);
	assert_int_equal(sv_udpconn_sendto(r.u, &v4, 9, "x", 1), -EAFNOSUPPORT);
	sv_udpconn_close(r.u);
}

/* An Ethernet/IPv4/UDP frame from 10.0.2.2:5000 to us at port dport, payload starting
 * with a 16-bit sequence number; UDP checksum 0 (none). */
static size_t
udp_frame(uint8_t *f, uint16_t dport, unsigned seq, size_t payload)
{
	static const uint8_t slirp_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
	size_t ip_len = 20 + 8 + payload;

	memset(f, 0, 14 + ip_len);
	memcpy(f, our_mac, 6);
	memcpy(f + 6, slirp_mac, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[4] = (uint8_t)(seq >> 8);
	ip[5] = (uint8_t)seq;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
	memcpy(ip + 16, ((uint8_t[]){ 10, 0, 2, 15 }), 4);
	uint16_t c = ip_checksum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	uint8_t *udp = ip + 20;
	udp[0] = 5000 >> 8;
	udp[1] = 5000 & 0xff;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[4] = (uint8_t)((8 + payload) >> 8);
	udp[5] = (uint8_t)(8 + payload);
	udp[8] = (uint8_t)(seq >> 8);
	udp[9] = (uint8_t)seq;
	return 14 + ip_len;
}

static void
inject_udp_burst(uint16_t dport, unsigned first_seq, unsigned n, size_t payload)
{
	uint8_t f[FRAME_MAX];
	for (unsigned i = 0; i < n; i++)
		inject(f, udp_frame(f, dport, first_seq + i, payload));
}

static void
udp_receive_queue_is_bounded_and_close_silences_queued_datagrams(void **state)
{
	(void)state;
	static struct urx r;
	const unsigned burst = SV_UDP_RXQ_MAX + 36;

	memset(&r, 0, sizeof r);
	r.check_seq = true;
	assert_int_equal(sv_udpconn_open(&r.u, 4, GUEST_UDP_FLOOD_PORT, &urx_ops, &r), 0);
	/* One burst between two flushes: the queue keeps the first SV_UDP_RXQ_MAX. */
	inject_udp_burst(GUEST_UDP_FLOOD_PORT, 0, burst, 100);
	drain_frames();
	assert_int_equal(r.calls, 0);
	sv_stack_flush();
	assert_int_equal(r.calls, SV_UDP_RXQ_MAX);
	assert_false(r.seq_bad); /* in order, none lost before the bound */
	assert_int_equal(sv_udpconn_dropped(r.u), burst - SV_UDP_RXQ_MAX);
	assert_int_equal(r.len, 100);

	/* Once drained, the queue takes datagrams again. */
	r.next_seq = 1000;
	inject_udp_burst(GUEST_UDP_FLOOD_PORT, 1000, 3, 10);
	drain_frames();
	sv_stack_flush();
	assert_int_equal(r.calls, SV_UDP_RXQ_MAX + 3);
	assert_false(r.seq_bad);

	/* Datagrams queued when the socket closes are never delivered. */
	inject_udp_burst(GUEST_UDP_FLOOD_PORT, 2000, 5, 10);
	drain_frames();
	sv_udpconn_close(r.u);
	r.closed = true;
	sv_stack_flush();
	assert_int_equal(r.calls, SV_UDP_RXQ_MAX + 3);

	/* Closing from the callback stops delivery at once. */
	memset(&r, 0, sizeof r);
	r.close_in_cb = true;
	assert_int_equal(sv_udpconn_open(&r.u, 4, GUEST_UDP_FLOOD_PORT, &urx_ops, &r), 0);
	inject_udp_burst(GUEST_UDP_FLOOD_PORT, 0, 3, 10);
	drain_frames();
	sv_stack_flush();
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.calls_after_close, 0);
}

/* --- TCP listening (tcplisten.h) ------------------------------------------------------- */

struct acceptor {
	struct sv_tcplisten *l;
	struct sv_tcpconn *c;
	struct client *cl;      /* if set: the connection is wired to it in on_accept */
	bool close_listener;    /* close l from inside on_accept */
	int accepts;
};

static void
acc_on_accept(void *arg, struct sv_tcpconn *c)
{
	struct acceptor *a = arg;
	a->accepts++;
	a->c = c;
	if (a->close_listener) {
		sv_tcplisten_close(a->l);
		a->l = NULL;
	}
	if (a->cl) {
		a->cl->c = c;
		a->cl->connected = true; /* accepted connections never see on_connected */
		sv_tcpconn_set_ops(c, &client_ops, a->cl);
		client_pump_write(a->cl);
	}
}

static const struct sv_tcplisten_ops acc_ops = {
	.on_accept = acc_on_accept,
};

/* A kernel client connected to slirp's forward (the kernel completes the handshake with
 * slirp's listening socket at once; slirp then connects to us). */
static void
peer_connect(struct peer *p, uint16_t host_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(host_port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(p, 0, sizeof *p);
	p->lfd = -1;
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->fd >= 0);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK), 0);
}

static void
listener_accepts_from_forward_and_transfers_both_ways(void **state)
{
	(void)state;
	static struct acceptor a;
	static struct client cl;
	static struct peer p;
	unsigned rst0 = H.rst_sent;
	int64_t t0 = now_ms();

	memset(&a, 0, sizeof a);
	memset(&cl, 0, sizeof cl);
	memset(&p, 0, sizeof p);
	a.cl = &cl;
	assert_int_equal(sv_tcplisten_open(&a.l, GUEST_TCP_PORT, 4, &acc_ops, &a), 0);
	assert_int_equal(sv_tcplisten_port(a.l), GUEST_TCP_PORT);
	struct sv_tcplisten *twin = NULL;
	assert_int_equal(sv_tcplisten_open(&twin, GUEST_TCP_PORT, 4, &acc_ops, &a),
		-EADDRINUSE);
	uint16_t hp = add_hostfwd(false, GUEST_TCP_PORT);

	peer_connect(&p, hp);
	p.tx_seed = 0x8888;
	p.rx_seed = 0x9999;
	p.tx_total = LISTEN_BYTES;
	p.tx_hold = HOLD_BYTES; /* the last bytes follow our FIN: half-close both ways */
	cl.tx_seed = 0x9999;
	cl.rx_seed = 0x8888;
	cl.tx_total = LISTEN_BYTES;
	active_peer = &p;
	struct pair x = { &cl, &p };
	bool ok = pump_until(pair_done, &x, PHASE_LIMIT_MS);
	if (!ok)
		fprintf(stderr, "accepts %d; server tx %zu rx %zu eof %d err %d; peer tx %zu "
				"rx %zu eof %d\n",
			a.accepts, cl.tx_done, cl.rx_total, cl.eof, cl.err, p.tx_done, p.rx_total,
			p.rx_eof);
	assert_true(ok);
	assert_int_equal(a.accepts, 1);
	assert_int_equal(cl.err, 0);
	assert_false(cl.bad);
	assert_false(p.bad);
	assert_false(p.failed);

	struct sv_ip ip;
	uint16_t port = 0;
	assert_true(sv_tcpconn_peer(cl.c, &ip, &port));
	assert_int_equal(ip.family, 4);
	assert_memory_equal(ip.b, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
	assert_true(port != 0);
	assert_true(sv_tcpconn_local(cl.c, &ip, &port));
	assert_memory_equal(ip.b, ((uint8_t[]){ 10, 0, 2, 15 }), 4);
	assert_int_equal(port, GUEST_TCP_PORT);

	sv_tcpconn_close(cl.c);
	cl.closed = true;
	pump_until(never, NULL, 200);
	assert_int_equal(cl.calls_after_close, 0);
	assert_int_equal(H.rst_sent, rst0); /* orderly: FIN both ways */
	fprintf(stderr, "listen: 2 x %u bytes in %lld ms\n", LISTEN_BYTES,
		(long long)(now_ms() - t0));
	active_peer = NULL;
	peer_close(&p);

	/* Our FIN went first, so lwIP holds the connection in TIME_WAIT: the port can
	 * still be listened on again. */
	sv_tcplisten_close(a.l);
	assert_int_equal(sv_tcplisten_open(&a.l, GUEST_TCP_PORT, 0, &acc_ops, &a), 0);
	sv_tcplisten_close(a.l);
	remove_hostfwd(false, hp);

	/* port 0: an ephemeral port, as SOCKS5 BIND wants */
	assert_int_equal(sv_tcplisten_open(&a.l, 0, 1, &acc_ops, &a), 0);
	assert_true(sv_tcplisten_port(a.l) >= 0xC000);
	sv_tcplisten_close(a.l);
	assert_int_equal(sv_tcplisten_open(&a.l, 1, 1, NULL, &a), SV_E_INVAL);
}

/* The same listener also takes IPv6 connections (slirp forwards [::1]:P to our SLAAC
 * address; the peer then appears as fec0::2). */
static void
listener_accepts_ipv6_connection(void **state)
{
	(void)state;
	static struct acceptor a;
	static struct client cl;
	static struct peer p;
	struct sv_lease lease;
	struct sockaddr_in6 h6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in6 g6 = { .sin6_family = AF_INET6, .sin6_port = htons(GUEST_TCP6_PORT) };
	uint16_t hp = 0;

	memset(&a, 0, sizeof a);
	memset(&cl, 0, sizeof cl);
	memset(&p, 0, sizeof p);
	assert_true(sv_stack_lease(&lease) && lease.n_ip6 >= 2);
	memcpy(&g6.sin6_addr, lease.ip6[1].b, 16);
	for (int i = 0; i < 20 && hp == 0; i++) {
		int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		socklen_t sl = sizeof h6;
		h6.sin6_port = 0;
		assert_int_equal(bind(fd, (struct sockaddr *)&h6, sizeof h6), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&h6, &sl), 0);
		close(fd);
		if (slirp_add_hostxfwd(H.slirp, (struct sockaddr *)&h6, sizeof h6,
			    (struct sockaddr *)&g6, sizeof g6, SLIRP_HOSTFWD_V6ONLY) == 0)
			hp = ntohs(h6.sin6_port);
	}
	assert_true(hp != 0);

	a.cl = &cl;
	assert_int_equal(sv_tcplisten_open(&a.l, GUEST_TCP6_PORT, 0, &acc_ops, &a), 0);
	memset(&p, 0, sizeof p);
	p.lfd = -1;
	p.fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p.fd >= 0);
	assert_int_equal(connect(p.fd, (struct sockaddr *)&h6, sizeof h6), 0);
	assert_int_equal(fcntl(p.fd, F_SETFL, fcntl(p.fd, F_GETFL) | O_NONBLOCK), 0);
	p.tx_seed = 0x6161;
	p.rx_seed = 0x1616;
	p.tx_total = SMALL_BYTES;
	cl.tx_seed = 0x1616;
	cl.rx_seed = 0x6161;
	cl.tx_total = SMALL_BYTES;
	active_peer = &p;
	struct pair x = { &cl, &p };
	assert_true(pump_until(pair_done, &x, PHASE_LIMIT_MS));
	assert_int_equal(cl.err, 0);
	assert_false(cl.bad);
	assert_false(p.bad);

	struct sv_ip ip;
	uint16_t port;
	assert_true(sv_tcpconn_peer(cl.c, &ip, &port));
	assert_int_equal(ip.family, 6);
	assert_memory_equal(ip.b, ((uint8_t[]){ 0xfe, 0xc0, [15] = 2 }), 16);
	assert_true(sv_tcpconn_local(cl.c, &ip, &port));
	assert_memory_equal(ip.b, lease.ip6[1].b, 16);
	assert_int_equal(port, GUEST_TCP6_PORT);

	sv_tcpconn_close(cl.c);
	sv_tcplisten_close(a.l);
	active_peer = NULL;
	peer_close(&p);
	assert_int_equal(slirp_remove_hostxfwd(H.slirp, (struct sockaddr *)&h6, sizeof h6,
				 SLIRP_HOSTFWD_V6ONLY),
		0);
}

static bool
has_pending(void *ctx)
{
	struct acceptor *a = ctx;
	return a->c != NULL && sv_tcpconn_pending(a->c) == LATE_BYTES;
}

/* The acceptor takes the connection but sets its ops only later: data and FIN that
 * arrived in between are delivered afterwards. Closing the listener from on_accept
 * leaves the connection it handed over alone. */
static void
accepted_connection_events_wait_for_set_ops(void **state)
{
	(void)state;
	static struct acceptor a;
	static struct client cl;
	static struct peer p;

	memset(&a, 0, sizeof a);
	memset(&cl, 0, sizeof cl);
	memset(&p, 0, sizeof p);
	a.close_listener = true;
	assert_int_equal(sv_tcplisten_open(&a.l, GUEST_TCP_LATE_PORT, 0, &acc_ops, &a), 0);
	uint16_t hp = add_hostfwd(false, GUEST_TCP_LATE_PORT);
	peer_connect(&p, hp);
	p.tx_seed = 0x4242;
	p.tx_total = LATE_BYTES; /* then FIN; within slirp's unscaled window */
	active_peer = &p;
	assert_true(pump_until(has_pending, &a, PHASE_LIMIT_MS));
	assert_int_equal(a.accepts, 1);
	assert_null(a.l);
	pump_until(never, NULL, 200); /* the FIN arrives too */

	cl.c = a.c;
	cl.connected = true;
	cl.rx_seed = 0x4242;
	sv_tcpconn_set_ops(a.c, &client_ops, &cl);
	assert_int_equal(cl.readable_calls, 0); /* deferred, as always */
	struct pair x = { &cl, &p };
	assert_true(pump_until(pair_done, &x, PHASE_LIMIT_MS));
	assert_int_equal(cl.err, 0);
	assert_false(cl.bad);
	assert_int_equal(cl.rx_total, LATE_BYTES);
	assert_true(cl.eof);
	sv_tcpconn_close(cl.c);
	active_peer = NULL;
	peer_close(&p);
	remove_hostfwd(false, hp);
}

static bool
peer_reset_or_eof(void *ctx)
{
	struct peer *p = ctx;
	char b[64];
	ssize_t n = read(p->fd, b, sizeof b);
	if (n > 0)
		p->rx_total += (size_t)n;
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

/* pump_once without sv_stack_flush: lwIP runs, deferred callbacks do not. */
static void
pump_without_flush(int ms)
{
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		uint32_t timeout = 5;
		drain_frames();
		sv_stack_poll();
		drain_frames();
		H.nfds = 0;
		slirp_pollfds_fill(H.slirp, &timeout, add_poll, NULL);
		if (H.rx_count > 0)
			timeout = 0;
		int r = poll(H.fds, (nfds_t)H.nfds, timeout > 5 ? 5 : (int)timeout);
		slirp_pollfds_poll(H.slirp, r < 0, get_revents, NULL);
		run_timers();
	}
}

/* Nothing listening: lwIP answers the SYN with RST and slirp drops the kernel client.
 * A closed listener, and one closed with a connection not yet handed over, do the same. */
static void
connection_without_listener_is_reset(void **state)
{
	(void)state;
	static struct acceptor a;
	static struct peer p;
	unsigned rst0 = H.rst_sent;

	memset(&a, 0, sizeof a);
	memset(&p, 0, sizeof p);
	assert_int_equal(sv_tcplisten_open(&a.l, GUEST_TCP_GONE_PORT, 0, &acc_ops, &a), 0);
	sv_tcplisten_close(a.l);
	uint16_t hp = add_hostfwd(false, GUEST_TCP_GONE_PORT);
	peer_connect(&p, hp);
	assert_true(pump_until(peer_reset_or_eof, &p, PHASE_LIMIT_MS));
	assert_int_equal(p.rx_total, 0);
	assert_true(H.rst_sent > rst0);
	assert_int_equal(a.accepts, 0);
	peer_close(&p);

	/* Accepted by lwIP, listener closed before the flush hands it over: reset. */
	rst0 = H.rst_sent;
	assert_int_equal(sv_tcplisten_open(&a.l, GUEST_TCP_GONE_PORT, 0, &acc_ops, &a), 0);
	peer_connect(&p, hp);
	pump_without_flush(300);
	assert_int_equal(H.rst_sent, rst0);
	sv_tcplisten_close(a.l);
	assert_true(H.rst_sent > rst0);
	assert_true(pump_until(peer_reset_or_eof, &p, PHASE_LIMIT_MS));
	assert_int_equal(a.accepts, 0);
	peer_close(&p);
	remove_hostfwd(false, hp);
}

static bool
client_connected_or_failed(void *ctx)
{
	struct client *cl = ctx;
	return cl->connected || cl->err;
}

static bool
peer_accepted(void *ctx)
{
	struct peer *p = ctx;
	return p->fd >= 0;
}

static unsigned
time_wait_count(void)
{
	unsigned n = 0;
	for (struct tcp_pcb *p = tcp_tw_pcbs; p != NULL; p = p->next)
		n++;
	return n;
}

/* Connections we close first end in TIME_WAIT; netstack/tcpconn.c keeps at most 1,024
 * of them (TIME_WAIT_MAX, checked every 256th connect) instead of 2 x TCP_MSL = 120 s
 * each, so that lwIP's list walks stay short and ports do not run out. */
static void
time_wait_is_capped_after_many_connections_closed_first(void **state)
{
	(void)state;
	enum { CONNS = 1024 + 512, CAP = 1024, CHECK = 256 };
	struct peer p;
	uint16_t port;
	struct sv_ip dst = ip4(10, 0, 2, 2);
	unsigned most = 0;

	peer_init(&p, &port);
	active_peer = &p;
	for (int i = 0; i < CONNS; i++) {
		struct client cl = { 0 };
		p.fd = -1;
		p.rx_eof = false;
		p.tx_shut = true; /* the peer closes only after our FIN */
		assert_int_equal(sv_tcpconn_connect(&cl.c, &dst, port, 5000, &client_ops, &cl), 0);
		assert_true(pump_until(client_connected_or_failed, &cl, PHASE_LIMIT_MS));
		assert_int_equal(cl.err, 0);
		assert_true(pump_until(peer_accepted, &p, PHASE_LIMIT_MS));
		sv_tcpconn_close(cl.c);
		assert_true(pump_until(peer_saw_end, &p, PHASE_LIMIT_MS));
		shutdown(p.fd, SHUT_WR);
		pump_until(never, NULL, 0);
		close(p.fd);
		unsigned n = time_wait_count();
		if (n > most)
			most = n;
	}
	pump_until(never, NULL, 100);
	active_peer = NULL;
	peer_close(&p);
	fprintf(stderr, "TIME_WAIT: at most %u, now %u\n", most, time_wait_count());
	assert_true(most <= CAP + CHECK);
	assert_true(most >= CAP); /* they do accumulate up to the cap */
	assert_true(time_wait_count() <= CAP + CHECK);
}

/* An ARP reply from another MAC (02:00:00:00:0b:ad) that says it has 10.0.2.15. */
static void
inject_conflicting_arp(void)
{
	static const uint8_t f[42] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0, 0, 0, 0x0b,
		0xad, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2, 0x02, 0, 0, 0, 0x0b, 0xad, 10, 0, 2,
		15, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15 };
	sv_stack_input(f, sizeof f);
}

static bool
lease_count_above(void *ctx)
{
	return H.leases > *(int *)ctx;
}

/* Long after binding, a conflict is only logged: connections use the address. Within
 * the first second after binding, the address is declined (DHCPDECLINE, not RELEASE)
 * and dropped; DHCP starts again later (10 s: not waited for here). Runs last: it
 * restarts DHCP and leaves the stack without an address. */
static void
address_conflict_declines_only_right_after_binding(void **state)
{
	(void)state;
	struct sv_lease l;

	assert_true(sv_stack_lease(&l));
	inject_conflicting_arp();
	pump_until(never, NULL, 100);
	assert_true(sv_stack_lease(&l));
	assert_int_equal(sv_stack_conflicts(), 0);
	assert_int_equal(H.declines, 0);

	/* a fresh lease: the window is open again */
	sv_stack_stop();
	pump_until(never, NULL, 100);
	int before = H.leases;
	unsigned probes = H.arp_probes;
	sv_stack_start();
	assert_true(pump_until(lease_count_above, &before, PHASE_LIMIT_MS));
	assert_int_equal(H.arp_probes, probes + 1);
	assert_true(sv_stack_lease(&l));
	inject_conflicting_arp();
	assert_int_equal(sv_stack_conflicts(), 1);
	assert_int_equal(H.declines, 1);
	assert_false(sv_stack_lease(&l));
	struct sv_ip dst = ip4(10, 0, 2, 2);
	struct sv_tcpconn *c = NULL;
	assert_int_equal(sv_tcpconn_connect(&c, &dst, 80, 0, &client_ops, NULL), -ENETUNREACH);
	pump_until(never, NULL, 300);
	assert_false(sv_stack_lease(&l));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(before_lease_connect_and_resolve_report_no_network),
		cmocka_unit_test(dhcp_lease_from_slirp),
		cmocka_unit_test(resolve_literal_is_answered_deferred_and_cancel_is_silent),
		cmocka_unit_test(bulk_transfer_both_ways_with_half_close),
		cmocka_unit_test(remote_closes_first_then_stack_sends),
		cmocka_unit_test(slow_reader_holds_remote_within_window_then_drains),
		cmocka_unit_test(tiny_segments_queue_and_read_back_intact),
		cmocka_unit_test(close_with_unread_data_sends_rst),
		cmocka_unit_test(connect_to_closed_port_is_refused),
		cmocka_unit_test(connect_to_silent_host_times_out),
		cmocka_unit_test(close_before_connected_runs_no_callback),
		cmocka_unit_test(slaac_address_from_router_advertisement),
		cmocka_unit_test(resolve_name_through_leased_server_and_cancelled_twin_stays_silent),
		cmocka_unit_test(dhcp_requests_domain_and_search_list_and_lease_carries_them),
		cmocka_unit_test(resolve_short_name_tries_each_search_domain_then_the_name),
		cmocka_unit_test(resolve_aaaa_record_for_ipv6_and_any_family),
		cmocka_unit_test(resolve_answers_from_cache_within_ttl_and_asks_again_after),
		cmocka_unit_test(resolve_fails_over_when_first_server_is_silent),
		cmocka_unit_test(udp_echo_through_slirp_in_every_size_including_fragments),
		cmocka_unit_test(udp_forward_reaches_bound_port_and_replies_return),
		cmocka_unit_test(udp_dual_stack_socket_reaches_ipv4_and_ipv6_hosts),
		cmocka_unit_test(udp_receive_queue_is_bounded_and_close_silences_queued_datagrams),
		cmocka_unit_test(listener_accepts_from_forward_and_transfers_both_ways),
		cmocka_unit_test(listener_accepts_ipv6_connection),
		cmocka_unit_test(accepted_connection_events_wait_for_set_ops),
		cmocka_unit_test(connection_without_listener_is_reset),
		cmocka_unit_test(time_wait_is_capped_after_many_connections_closed_first),
		cmocka_unit_test(address_conflict_declines_only_right_after_binding),
	};
	sv_log_set_level(getenv("SV_TEST_DEBUG") ? SV_LOG_DEBUG : SV_LOG_WARN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
