/*
 * netstack/ports: local ports for our connects are unique among lwIP's pcbs, handed out
 * in turn, and freed ports come back after a pass through the range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwip/init.h"
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h"

#include "netstack/ports.h"

#define FIRST 0xc000u
#define COUNT (0xffffu - FIRST)

static int
setup(void **state)
{
	(void)state;
	lwip_init();
	return 0;
}

static unsigned
after(unsigned port, unsigned k)
{
	return FIRST + (port - FIRST + k) % COUNT;
}

/* A pcb bound (by lwIP's own tcp_bind) to port, left on the bound list. */
static struct tcp_pcb *
bind_pcb(unsigned port)
{
	struct tcp_pcb *pcb = tcp_new();

	assert_non_null(pcb);
	assert_int_equal(tcp_bind(pcb, IP4_ADDR_ANY, (u16_t)port), ERR_OK);
	return pcb;
}

static void
ports_are_in_turn_and_unique_within_a_pass(void **state)
{
	static uint8_t seen[COUNT];
	unsigned first = sv_ports_pick(), prev = first;

	(void)state;
	memset(seen, 0, sizeof seen);
	assert_in_range(first, FIRST, 0xfffe);
	seen[first - FIRST] = 1;
	for (unsigned i = 1; i < COUNT; i++) {
		unsigned p = sv_ports_pick();
		assert_int_equal(p, after(prev, 1));
		assert_int_equal(seen[p - FIRST], 0);
		seen[p - FIRST] = 1;
		prev = p;
	}
	/* nothing holds them: the next pass starts over */
	assert_int_equal(sv_ports_pick(), first);
}

static void
bound_and_listening_ports_are_skipped(void **state)
{
	unsigned p0 = sv_ports_pick();
	struct tcp_pcb *a = bind_pcb(after(p0, 1)), *b = bind_pcb(after(p0, 3));

	(void)state;
	b = tcp_listen(b);
	assert_non_null(b);
	assert_int_equal(sv_ports_pick(), after(p0, 2));
	assert_int_equal(sv_ports_pick(), after(p0, 4));
	tcp_close(a);
	tcp_close(b);
}

static void
next_pass_skips_ports_of_active_pcbs(void **state)
{
	unsigned p0 = sv_ports_pick();
	struct tcp_pcb *a = tcp_new();

	(void)state;
	assert_non_null(a);
	/* as tcp_accept leaves a pcb (ports.c learns such ports from its rebuild) */
	a->local_port = (u16_t)after(p0, 1);
	a->state = ESTABLISHED;
	TCP_REG_ACTIVE(a);
	for (unsigned i = 1; i < COUNT; i++)
		(void)sv_ports_pick();
	assert_int_equal(sv_ports_pick(), p0);
	assert_int_equal(sv_ports_pick(), after(p0, 2));
	TCP_RMV_ACTIVE(a);
	tcp_free(a);
}

static void
marked_port_is_skipped_until_the_next_pass(void **state)
{
	unsigned p0 = sv_ports_pick();

	(void)state;
	sv_ports_mark((uint16_t)after(p0, 1));
	sv_ports_mark(80); /* outside the range: ignored */
	assert_int_equal(sv_ports_pick(), after(p0, 2));
	for (unsigned i = 2; i < COUNT - 1; i++)
		(void)sv_ports_pick();
	/* new pass: the mark was not backed by a pcb */
	assert_int_equal(sv_ports_pick(), p0);
	assert_int_equal(sv_ports_pick(), after(p0, 1));
}

static void
full_range_gives_zero(void **state)
{
	struct tcp_pcb **pcbs = calloc(COUNT, sizeof *pcbs);

	(void)state;
	assert_non_null(pcbs);
	for (unsigned i = 0; i < COUNT; i++)
		pcbs[i] = bind_pcb(FIRST + i);
	assert_int_equal(sv_ports_pick(), 0);
	tcp_close(pcbs[7]);
	pcbs[7] = NULL;
	/* freed: found at once (the bound list is checked on every candidate) */
	assert_int_equal(sv_ports_pick(), FIRST + 7);
	for (unsigned i = 0; i < COUNT; i++)
		if (pcbs[i] != NULL)
			tcp_close(pcbs[i]);
	free(pcbs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ports_are_in_turn_and_unique_within_a_pass),
		cmocka_unit_test(bound_and_listening_ports_are_skipped),
		cmocka_unit_test(next_pass_skips_ports_of_active_pcbs),
		cmocka_unit_test(marked_port_is_skipped_until_the_next_pass),
		cmocka_unit_test(full_range_gives_zero),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
