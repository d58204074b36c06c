/*
 * netstack/stack.c's DHCP hooks with lwIP itself, on a virtual clock: the parameter
 * request list asks for the route options (121 first), and an ACK's route options
 * reach the lease: 121 split in two instances (RFC 3396) concatenated, 249 and 33
 * ignored because 121 is there, a route through a gateway off the subnet left out and
 * the reason logged. The harness plays the DHCP server with hand-made frames; no
 * sockets. sv_now_ms() and sys_now() are defined here, so time moves only when the
 * test says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/log.h"
#include "netstack/stack.h"

#include "support/vclock.h" /* instead of platform/clock.c */

/* --- harness ------------------------------------------------------------------------ */

#define FRAMES 64

static const uint8_t MAC[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };
static const uint8_t SERVER_MAC[6] = { 0x52, 0x55, 10, 77, 0, 1 };
static const uint8_t SERVER[4] = { 10, 77, 0, 1 };
static const uint8_t YIADDR[4] = { 10, 77, 0, 100 };

static struct {
	uint8_t f[FRAMES][1600];
	size_t len[FRAMES];
	unsigned n;
	unsigned leases;
	struct sv_lease lease;
	char log[8192];
} H;

static void
on_output(void *arg, const uint8_t *frame, size_t len)
{
	(void)arg;
	if (H.n < FRAMES && len <= sizeof H.f[0]) {
		memcpy(H.f[H.n], frame, len);
		H.len[H.n++] = len;
	}
}

static void
on_lease(void *arg, const struct sv_lease *l)
{
	(void)arg;
	H.leases++;
	H.lease = *l;
}

static const struct sv_stack_ops ops = { .output = on_output, .on_lease = on_lease };

static void
pump(void)
{
	sv_stack_poll();
	sv_stack_flush();
}

/* Runs lwIP's timers up to ms of virtual time, jumping from deadline to deadline. */
static void
advance(uint64_t ms)
{
	uint64_t end = now_ms + ms;
	while (now_ms < end) {
		uint32_t t = sv_stack_sleeptime();
		now_ms += t == 0 ? 1 : t;
		if (now_ms > end)
			now_ms = end;
		pump();
	}
}

/* The DHCP message of the last frame from port 68 to 67 (its BOOTP payload), or NULL. */
static const uint8_t *
last_dhcp_from_client(size_t *bn)
{
	for (unsigned i = H.n; i-- > 0;) {
		const uint8_t *f = H.f[i];
		if (H.len[i] < 14 + 20 + 8 + 240 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17)
			continue;
		size_t ihl = (size_t)(f[14] & 15) * 4;
		const uint8_t *udp = f + 14 + ihl;
		if (udp[1] != 68 || udp[3] != 67)
			continue;
		*bn = H.len[i] - 14 - ihl - 8;
		return udp + 8;
	}
	return NULL;
}

/* Option code's data in a BOOTP payload, *len set; NULL when absent. */
static const uint8_t *
find_option(const uint8_t *b, size_t bn, uint8_t code, size_t *len)
{
	for (size_t o = 240; o + 1 < bn && b[o] != 255;) {
		if (b[o] == 0) {
			o++;
			continue;
		}
		if (b[o] == code) {
			*len = b[o + 1];
			return b + o + 2;
		}
		o += 2u + b[o + 1];
	}
	return NULL;
}

static uint16_t
csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* A reply from the server (67 -> 68, broadcast) to xid with options opt[0..on) (END
 * appended); fed to the stack. */
static void
server_reply(const uint8_t xid[4], const uint8_t *opt, size_t on)
{
	uint8_t f[1514];
	size_t bn = 240 + on + 1, ulen = 8 + bn, tot = 20 + ulen;

	assert_true(14 + tot <= sizeof f);
	memset(f, 0, sizeof f);
	memset(f, 0xff, 6);
	memcpy(f + 6, SERVER_MAC, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, SERVER, 4);
	memset(ip + 16, 0xff, 4);
	uint16_t c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[1] = 67;
	udp[3] = 68;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen; /* checksum 0: none (IPv4) */
	b[0] = 2;
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, xid, 4);
	memcpy(b + 16, YIADDR, 4);
	memcpy(b + 28, MAC, 6);
	memcpy(b + 236, (uint8_t[]){ 99, 130, 83, 99 }, 4);
	memcpy(b + 240, opt, on);
	b[240 + on] = 255;
	sv_stack_input(f, 14 + tot);
}

/* Options every reply carries: server id, lease time, mask, router, DNS. */
#define BASE_OPTS(type)                                                          \
	53, 1, (type), 54, 4, 10, 77, 0, 1, 51, 4, 0, 0, 0x0e, 0x10, 1, 4, 255, 255, \
		255, 0, 3, 4, 10, 77, 0, 1, 6, 4, 10, 77, 0, 1

static void
log_sink_capture(void)
{
	FILE *f = fmemopen(H.log, sizeof H.log - 1, "w");
	assert_non_null(f);
	setvbuf(f, NULL, _IONBF, 0);
	sv_log_set_sink(f);
	sv_log_set_level(SV_LOG_DEBUG);
}

/* --- test ----------------------------------------------------------------------------- */

static void
ack_routes_reach_the_lease_and_121_is_requested_first(void **state)
{
	(void)state;
	const uint8_t *b;
	size_t bn, n;
	uint8_t xid[4];

	log_sink_capture();
	assert_int_equal(sv_stack_init(MAC, &ops, NULL), 0);
	sv_stack_start();
	pump();
	advance(100);
	assert_non_null(b = last_dhcp_from_client(&bn));
	const uint8_t *prl = find_option(b, bn, 55, &n);
	assert_non_null(prl);
	assert_int_equal(prl[0], 121); /* RFC 3442 section 4: before 3 and 33 */
	const uint8_t *p3 = memchr(prl, 3, n), *p33 = memchr(prl, 33, n);
	assert_non_null(p3);
	assert_non_null(p33);
	assert_non_null(memchr(prl, 249, n));
	memcpy(xid, b + 4, 4);

	static const uint8_t offer[] = { BASE_OPTS(2) };
	H.n = 0;
	server_reply(xid, offer, sizeof offer);
	advance(100);
	assert_non_null(b = last_dhcp_from_client(&bn));
	size_t tl;
	const uint8_t *t = find_option(b, bn, 53, &tl);
	assert_non_null(t);
	assert_int_equal(t[0], 3); /* REQUEST */
	memcpy(xid, b + 4, 4);

	static const uint8_t ack[] = {
		BASE_OPTS(5),
		249, 7, 16, 10, 50, 10, 77, 0, 1,                  /* ignored: 121 is here */
		121, 5, 16, 10, 99, 10, 77,                        /* split inside a route */
		15, 9, 'c', 'o', 'r', 'p', '.', 't', 'e', 's', 't',
		121, 16, 0, 1, 24, 172, 20, 1, 192, 168, 9, 1, 8, 10, 0, 0, 0, 0,
		33, 8, 10, 0, 0, 0, 10, 77, 0, 1,                  /* ignored: 121 is here */
	};
	server_reply(xid, ack, sizeof ack);
	advance(10000); /* the ARP check, then bound */
	assert_true(H.leases >= 1); /* again when the IPv6 link-local address is ready */
	assert_memory_equal(H.lease.ip.b, YIADDR, 4);
	assert_string_equal(H.lease.domain, "corp.test");
	assert_int_equal(H.lease.n_routes, 2);
	char d[SV_IP_STRLEN], v[SV_IP_STRLEN];
	assert_string_equal(sv_ip_format(&H.lease.routes[0].dst, d, sizeof d), "10.99.0.0");
	assert_int_equal(H.lease.routes[0].prefix_len, 16);
	assert_string_equal(sv_ip_format(&H.lease.routes[0].via, v, sizeof v), "10.77.0.1");
	assert_string_equal(sv_ip_format(&H.lease.routes[1].dst, d, sizeof d), "10.0.0.0");
	assert_int_equal(H.lease.routes[1].prefix_len, 8);
	assert_string_equal(sv_ip_format(&H.lease.routes[1].via, v, sizeof v), "0.0.0.0");
	struct sv_lease l;
	assert_true(sv_stack_lease(&l));
	assert_int_equal(l.n_routes, 2);
	assert_non_null(strstr(H.log, "option 121: route 172.20.1.0/24 via 192.168.9.1 "
				      "ignored: the gateway is not on the lease's subnet"));
	const char *once = strstr(H.log, "dhcp: route 10.99.0.0/16 via 10.77.0.1 (option 121)");
	assert_non_null(once);
	assert_null(strstr(once + 1, "dhcp: route 10.99.0.0/16")); /* not on every event */
	assert_non_null(strstr(H.log, "dhcp: route 10.0.0.0/8 on the link (option 121)"));
	assert_null(strstr(H.log, "10.50.0.0"));

	/* The server answers the same REQUEST twice (same xid), now with one route and a
	 * search list: each ACK's options replace the last ones, never add to them. */
	static const uint8_t ack2[] = {
		BASE_OPTS(5),
		121, 7, 16, 10, 98, 10, 77, 0, 1,
		119, 8, 6, 's', 'e', 'a', 'r', 'c', 'h', 0,
	};
	server_reply(xid, ack2, sizeof ack2);
	server_reply(xid, ack2, sizeof ack2);
	advance(1000);
	assert_true(sv_stack_lease(&l));
	assert_int_equal(l.n_routes, 1);
	assert_int_equal(l.n_search, 1);
	/* appended, 121 would have held the route twice */
	assert_null(strstr(H.log, "a route to the same network came first"));
	sv_log_set_sink(stderr);
	sv_stack_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ack_routes_reach_the_lease_and_121_is_requested_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
