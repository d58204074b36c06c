/*
 * Fuzz target for the whole session input path (core/session): HTTP responses,
 * hello and welcome PACKs, then block messages, as a hostile server could send
 * them.
 *
 * Input: 1 byte choosing a chunk size (1..256), then the server's byte stream.
 * The client's output is drained after every chunk; frames are echoed back to
 * exercise the encoder; time advances 100 ms per chunk with a tick each time.
 * The session must never crash and must end either healthy or with one sticky
 * error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/session.h"

static struct sv_session *cur;

static void
on_frame(void *arg, const uint8_t *frame, size_t len)
{
	(void)arg;
	if (len == 0 || len > 1600)
		abort();
	(void)sv_session_send_frame(cur, frame, len);
}

static void
on_established(void *arg, const struct sv_welcome *w)
{
	(void)arg;
	if (w->timeout_ms < 5000 || w->timeout_ms > 60000 ||
	    memchr(w->session_name, 0, sizeof w->session_name) == NULL ||
	    memchr(w->msg, 0, sizeof w->msg) == NULL)
		abort();
}

static const struct sv_session_ops ops = {
    .on_frame = on_frame,
    .on_established = on_established,
};

static void
drain(struct sv_session *s)
{
	size_t n;

	sv_session_flush(s);
	(void)sv_session_output(s, &n);
	sv_session_output_ack(s, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_session_config cfg;
	uint64_t now = 1000, next;

	if (size < 1)
		return 0;
	size_t chunk = (size_t)data[0] + 1;
	data++;
	size--;
	sv_log_level =
	    -1; /* silence: hostile input makes log lines by design */
	memset(&cfg, 0, sizeof cfg);
	cfg.host = "192.0.2.1";
	cfg.hub = "DEFAULT";
	cfg.username = "alice";
	cfg.authtype = SV_AUTH_PASSWORD;
	struct sv_session *s = sv_session_new(&cfg, &ops, NULL);
	if (s == NULL)
		abort();
	cur = s;
	sv_session_start(s, now);
	drain(s);
	int r = 0;
	for (size_t off = 0; off < size && r == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		r = sv_session_input(s, data + off, n, now);
		drain(s);
		now += 100;
		if (r == 0)
			r = sv_session_tick(s, now, &next);
	}
	if (r != sv_session_error(s))
		abort();
	if ((r != 0) != (sv_session_state(s) == SV_SESSION_CLOSED))
		abort();
	sv_session_free(s);
	return 0;
}
