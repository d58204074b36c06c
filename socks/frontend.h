/*
 * The relay core as the front-ends see it.
 *
 * A front-end (SOCKS5, SOCKS4/4a, HTTP proxy, the one-port detector, later port
 * forwards and stdio) speaks one local protocol: it parses the client's handshake, then
 * hands a target (a name or an address, and a port) to the core with sv_conn_connect().
 * The core resolves the name through the tunnel's DNS (or this host's resolver for the
 * --resolve-local names, socks/lookup.h), connects through lwIP and calls
 * the front-end's on_result, which answers in its own language (a SOCKS reply, "HTTP/1.1
 * 200 Connection established", a 502 page). After a success reply the core relays bytes
 * both ways with back-pressure and half-close (socks/conn.c); after a failure reply it
 * closes once the reply is written.
 *
 * Everything runs on the loop thread. The core owns struct sv_conn; a front-end keeps
 * per-connection state in one small integer (its handshake step, sv_conn_set_step) and,
 * if it needs more, a pointer it allocates and frees in on_free (sv_conn_set_data).
 *
 * Handshake bytes: the core buffers what the client sent (up to ops->hs_max bytes) and
 * calls on_data with a cursor over all unparsed bytes. on_data moves the cursor past what
 * it used and returns 0 when it finished a message (the core calls it again with the
 * rest, so pipelined messages parse in order), or SV_E_INCOMPLETE to wait for more bytes.
 * Once it called sv_conn_connect, sv_conn_reply_and_close or sv_conn_close, the core stops
 * calling it; bytes left in the buffer after a connect are sent to the target first when
 * the relay starts (optimistic data). A front-end that only detects the protocol calls
 * sv_conn_set_frontend and returns 0 without consuming anything; the new front-end then
 * gets the same bytes.
 */
#ifndef SV_FRONTEND_H
#define SV_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/buf.h"

struct sv_conn; /* one accepted client; opaque */

struct sv_frontend_ops {
	/* For logs: "socks5", "socks4", "http", ... */
	const char *name;
	/* Handshake buffer the front-end needs (its largest message); 0 = 640. */
	size_t hs_max;
	/* A client was accepted (or handed over by a detector); it may queue a banner, or
	 * call sv_conn_connect at once (a port forward: on_data is then never called).
	 * NULL: nothing. */
	void (*on_accept)(struct sv_conn *c);
	/* Handshake bytes; see above. Returns 0 or SV_E_INCOMPLETE (any other code also
	 * stops the core calling it: use it after the conn was closed). */
	int (*on_data)(struct sv_conn *c, struct sv_rd *in);
	/* The connect started by sv_conn_connect finished. err 0: queue the success reply
	 * (bnd/bport: the local address inside the tunnel, or NULL/0); the relay starts
	 * right after. Otherwise err is -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH,
	 * -ETIMEDOUT, SV_E_NOTFOUND (no such name), ... and resolving says whether the name
	 * lookup failed: queue the failure reply; the core closes once it is written. The
	 * core has logged the failure. */
	void (*on_result)(struct sv_conn *c, int err, bool resolving,
		const struct sv_ip *bnd, uint16_t bport);
	/* Relay, client -> target: how many of these n client bytes (borrowed) may go to
	 * the target; the rest, and everything the client sends after it, is dropped (the
	 * core reads on, to notice the client's EOF). Negative: close the connection.
	 * Called for each chunk in order, never for sv_conn_send_first bytes. NULL: all.
	 * The HTTP proxy uses it to forward exactly one request body. */
	long (*up_filter)(struct sv_conn *c, const uint8_t *p, size_t n);
	/* Relay, target -> client, for front-ends that carry several exchanges on one
	 * client connection (the HTTP proxy; NULL: everything verbatim, and up_filter's
	 * cut drops the rest). Called with each received piece p[0..n) (borrowed) before
	 * it is written to the client; returns k in 0..n: with *take left false, the first
	 * k bytes are written as they are (k < n: the rest waits; k == 0 stops the relay
	 * toward the client); with *take set, the first k bytes are consumed unwritten
	 * (the front-end keeps what it needs and may queue its own bytes with
	 * sv_conn_write_reply, written before anything later). Negative: close with RST.
	 * With this hook, the client bytes after up_filter's cut are kept: reading stops
	 * and they become the next handshake after sv_conn_exchange_done(c, true). */
	long (*down_filter)(struct sv_conn *c, const uint8_t *p, size_t n, bool *take);
	/* The conn is being freed: release what sv_conn_set_data holds. NULL: nothing. */
	void (*on_free)(struct sv_conn *c);
};

/* What to connect to. host: a name or an address literal (NUL-terminated, borrowed for
 * the call), or NULL to use ip. */
struct sv_conn_target {
	const char *host;
	struct sv_ip ip;
	uint16_t port;
};

/* The front-ends the listeners use (socks/fe_socks.c, socks/httpproxy.c). */
extern const struct sv_frontend_ops sv_fe_socks;  /* SOCKS4, 4a or 5 by the first byte */
extern const struct sv_frontend_ops sv_fe_socks4;
extern const struct sv_frontend_ops sv_fe_socks5;
extern const struct sv_frontend_ops sv_fe_mixed;  /* SOCKS4/5 or HTTP by the first byte */
/* The HTTP proxy, or NULL while it is not built in. */
extern const struct sv_frontend_ops *const sv_fe_http;

/* Queues handshake reply bytes (at most 1024 queued at a time) and starts writing them.
 * 0, or SV_E_CLOSED when the conn is closing (the bytes are dropped), SV_E_TOOBIG (our
 * bug: the conn is closed). */
int sv_conn_write(struct sv_conn *c, const void *p, size_t n);
/* Like sv_conn_write, for a reply of any size up to 128 KiB (a generated file such as
 * /proxy.pac): what does not fit the 1024-byte queue is copied to the heap and written
 * after it. While that heap write is in flight no more may be queued (SV_E_TOOBIG);
 * normally followed by sv_conn_reply_and_close. 0, SV_E_CLOSED, SV_E_TOOBIG or
 * SV_E_NOMEM (the conn is then closed). */
int sv_conn_write_reply(struct sv_conn *c, const void *p, size_t n);
/* From down_filter: this exchange's answer ended (with the bytes passed in this call).
 * Nothing more is relayed toward the client; once it has everything, keep false:
 * the conn closes; keep true: the target connection is closed and the conn returns
 * to the handshake (step 0, on_data gets the client's next bytes; the front-end's
 * data pointer is kept). It closes instead if request bytes were still unsent, or
 * the client already finished. */
void sv_conn_exchange_done(struct sv_conn *c, bool keep);
/* From down_filter, before sv_conn_exchange_done(c, true): the target connection
 * ended this exchange cleanly and may carry the next one (HTTP keep-alive to the
 * origin). It is then kept idle while the client sends its next request, and serves
 * it if that goes to the same target and the front-end calls sv_conn_allow_reuse
 * before sv_conn_connect; any other connect closes it, as does the end of the conn.
 * It is never reused after unexpected data, a FIN or an error, or after a few seconds
 * idle. */
void sv_conn_exchange_reusable(struct sv_conn *c);
/* Before sv_conn_connect: the kept connection of the previous exchange may serve it
 * (see above). */
void sv_conn_allow_reuse(struct sv_conn *c);
/* Resolve (if host is a name), connect, then on_result. Stops reading the client until
 * the relay starts. A target text for logs is kept ("host:port", "[v6]:port"). */
void sv_conn_connect(struct sv_conn *c, const struct sv_conn_target *t);
/* Bytes to send to the target before anything else the client sends (an HTTP request
 * head rewritten by the front-end). Copied. Call before or from on_result (success).
 * 0 or SV_E_NOMEM. */
int sv_conn_send_first(struct sv_conn *c, const void *p, size_t n);
/* Keep the client connected with no target yet (SOCKS5 UDP ASSOCIATE's control
 * connection, BIND waiting for its peer); call from on_data, which returns 0. The
 * handshake timer stops; bytes the client sends are read and dropped; its EOF or an
 * error closes the conn (on_free follows). timeout_ms > 0: when it passes first,
 * on_result(c, -ETIMEDOUT, false, NULL, 0) runs and the conn closes after the reply. */
void sv_conn_hold(struct sv_conn *c, unsigned timeout_ms);
/* --max-conns-per-client for a request that holds resources without a target (SOCKS5
 * UDP ASSOCIATE, BIND): takes one of the client's slots, as sv_conn_connect does, held
 * until c is freed; what (borrowed) names the request in the warning. Call from on_data
 * before sv_conn_hold. true: go on. false: the client is over its limit; on_result(c,
 * SV_CONN_E_LIMIT, false, NULL, 0) has run and c closes after the reply. */
bool sv_conn_take_client_slot(struct sv_conn *c, const char *what);
/* A held conn relays over tc, an established tunnel connection (BIND's accepted one),
 * which is taken (the core closes it; aborted if c is no longer held). The front-end
 * has queued its reply before. */
struct sv_tcpconn;
void sv_conn_attach(struct sv_conn *c, struct sv_tcpconn *tc);
/* The client's and the listening socket's addresses; false for a Unix socket. */
struct sockaddr_storage;
bool sv_conn_sockaddrs(const struct sv_conn *c, struct sockaddr_storage *peer,
	struct sockaddr_storage *local);
/* The listener's bound on resolving + connecting, in ms (normalized: never 0). */
unsigned sv_conn_connect_timeout(const struct sv_conn *c);
/* The loop the conn runs on. */
struct uv_loop_s;
struct uv_loop_s *sv_conn_loop(const struct sv_conn *c);
/* Close once the queued reply is written (bounded by a grace timer). */
void sv_conn_reply_and_close(struct sv_conn *c);
/* Close now. */
void sv_conn_close(struct sv_conn *c);
/* Hand the client to another front-end (a detector's choice); the handshake buffer
 * keeps its bytes. 0, or SV_E_NOMEM (the conn is closed). */
int sv_conn_set_frontend(struct sv_conn *c, const struct sv_frontend_ops *fe);

/* The front-end's handshake step (starts at 0); sv_conn_set_step logs the change at
 * debug with the given names (names[step], may be NULL). */
unsigned sv_conn_step(const struct sv_conn *c);
void sv_conn_set_step(struct sv_conn *c, unsigned step, const char *const *names);
/* The front-end's own pointer (NULL at first); freed by the front-end in on_free. */
void *sv_conn_data(const struct sv_conn *c);
void sv_conn_set_data(struct sv_conn *c, void *p);

/* For logs: "conn 12" is id 12; peer is "127.0.0.1:51234", "[::1]:5", "unix". */
unsigned sv_conn_id(const struct sv_conn *c);
const char *sv_conn_peer(const struct sv_conn *c);
/* The target given to sv_conn_connect, for logs ("" before). */
const char *sv_conn_target_text(const struct sv_conn *c);
bool sv_conn_is_closing(const struct sv_conn *c);
/* Was the target's name looked up on this host (--resolve-local) rather than through
 * the tunnel's DNS? For error messages. */
bool sv_conn_resolved_on_host(const struct sv_conn *c);

/* Credentials: does the listener require them, and do these match (compared in
 * constant time; user and pass are borrowed, of the given lengths)? */
bool sv_conn_auth_required(const struct sv_conn *c);
bool sv_conn_auth_check(const struct sv_conn *c, const char *user, size_t ulen,
	const char *pass, size_t plen);

/* Constant-time equality of two byte strings of up to 255 bytes each (longer ones are
 * never equal): the time depends on neither content nor where they differ. */
bool sv_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
