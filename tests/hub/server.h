/*
 * The running test hub: listener, connections, sessions and the LAN on one libuv loop.
 * (The pure parts are in hub.h.)
 *
 *   hub_conn  one TCP/TLS connection (conn.c): handshake, then the data phase of the
 *             session it logged in to or attached to (additional_connect)
 *   hub_sess  one session (sess.c): its connections (up to max_connection + 1), session
 *             key, learned MAC addresses, fault pipes. It outlives its connections by the
 *             session timeout (spec 13.1), unless faults.kill_session ends it at once.
 *   hub_lan   the Virtual Hub's LAN (lan.c): ONE libslirp instance shared by every
 *             session, so that the LAN, like a real one, outlives sessions: a client that
 *             logs in again with the same MAC keeps its lease and its TCP connections.
 *             Frames from the LAN are switched to sessions by destination MAC.
 *   control   the test-only control socket (control.c), --control PATH
 *
 * Ownership: struct hub owns the connections and the sessions (lists) and the LAN. A
 * session only points at its connections and a connection at its session; each side
 * clears the other's pointer when it goes. Objects are freed from libuv close callbacks.
 */
#ifndef SV_HUB_SERVER_H
#define SV_HUB_SERVER_H

#include <bearssl.h>
#include <uv.h>

#include "hub.h"

struct hub_conn;
struct hub_sess;

struct hub {
	uv_loop_t *loop;
	const struct hub_config *cfg;
	uv_tcp_t listener;
	uv_prepare_t flush;   /* before each poll: tunnel batches -> TLS -> socket */
	uv_signal_t sigint, sigterm;
	uv_pipe_t control;        /* --control PATH (control.c) */
	bool control_on;
	const char *control_path; /* unlinked at the end */
	/* server key and certificate chain (DER), loaded once */
	br_x509_certificate chain[4];
	size_t chain_len;
	br_skey_decoder_context skey;
	const br_rsa_private_key *rsa;
	uint8_t cert_sha256[32];
	struct hub_conn *conns; /* list of live connections */
	struct hub_sess *sess;  /* list of live sessions */
	struct hub_lan *lan;    /* the LAN every session is plugged into */
	unsigned next_id;
	unsigned sessions;      /* live sessions */
	uint64_t drops;         /* fault drops so far (drop_alternate) */
	uint64_t rng;           /* fault generator (faults.seed) */
	bool stopping;
};

/* Accepts one pending connection on h->listener and starts its TLS handshake. */
void hub_conn_accept(struct hub *h);
/* The prepare hook: flushes every connection. */
void hub_conn_flush_all(struct hub *h);
/* Starts an orderly close of every connection (for shutdown). */
void hub_conn_close_all(struct hub *h);
/* Queues one frame to the client on c (data phase; dropped when the queue is full). */
void hub_conn_send_frame(struct hub_conn *c, const uint8_t *f, size_t n);
/* Bytes queued for the client on c. */
size_t hub_conn_queued(const struct hub_conn *c);
/* Ends c without close_notify because its session ended (c is detached already). */
void hub_conn_kill(struct hub_conn *c, const char *why);

#define HUB_SESS_CONNS 33 /* policy MaxConnection 32, plus the extra one a 5.01 server admits */
#define HUB_SESS_MACS 4

struct hub_sess {
	struct hub *hub;
	struct hub_sess *next;
	unsigned id;
	char name[HUB_NAME_MAX + 32]; /* SID-<USER>-<id> */
	char user[HUB_NAME_MAX + 1];
	uint8_t key[20];
	unsigned max_connection;
	struct hub_conn *conns[HUB_SESS_CONNS];
	size_t n_conns;
	uint8_t macs[HUB_SESS_MACS][6]; /* learned from the client's frames, newest first */
	size_t n_macs;
	uv_timer_t timer;      /* session timeout while it has no connection */
	uv_timer_t pipe_timer; /* releases frames from the fault pipes */
	bool shaped;           /* frames go through up/down */
	struct hub_pipe up, down;
	unsigned open_handles;
	bool dead;
	uint64_t frames_in, frames_out, no_conn_drops;
};

/* A new session for a successful login (res); NULL when out of memory. */
struct hub_sess *hub_sess_new(struct hub *h, const struct hub_login_result *res, unsigned id);
/* The live session with this key, or NULL. */
struct hub_sess *hub_sess_find(struct hub *h, const uint8_t key[20]);
/* Adds c to s: 0, or 15 (TOO_MANY_CONNECTION) when s already has more than
 * max_connection connections (spec 12). */
unsigned hub_sess_attach(struct hub_sess *s, struct hub_conn *c);
/* c leaves s; abrupt = without close_notify (with faults.kill_session that ends s). */
void hub_sess_detach(struct hub_sess *s, struct hub_conn *c, bool abrupt);
/* One frame from the client. */
void hub_sess_input(struct hub_sess *s, const uint8_t *f, size_t n);
/* Ends every session (shutdown). */
void hub_sess_end_all(struct hub *h);
/* The LAN's output: switched to sessions by destination MAC (hub_lan_emit_cb). */
void hub_switch_emit(void *hub, const uint8_t *f, size_t n);

struct hub_lan;

/* The hub's LAN: a libslirp instance. Frames it emits go to emit(arg, frame, len). */
typedef void hub_lan_emit_cb(void *arg, const uint8_t *frame, size_t len);

/* NULL on failure (logged). dns is borrowed and must outlive the LAN. */
struct hub_lan *hub_lan_new(uv_loop_t *loop, const struct hub_net *net,
	const struct hub_dns *dns, unsigned id, hub_lan_emit_cb *emit, void *arg);
/* One frame from the client: filtered, DNS answered, the rest into slirp. */
void hub_lan_input(struct hub_lan *l, const uint8_t *frame, size_t len);
/* Destroys slirp at once (no more emit calls); handles close later. Accepts NULL. */
void hub_lan_free(struct hub_lan *l);
/* --hostfwd tcp:HOSTIP:HOSTPORT-GUESTIP:GUESTPORT: connections to HOSTIP:HOSTPORT on
 * this machine enter the LAN towards GUESTIP:GUESTPORT (a client's lease), for testing
 * reverse forwards. 0 or SV_E_INVAL (logged). */
int hub_lan_hostfwd(struct hub_lan *l, const char *spec);

/* --control PATH: a Unix socket (0600) taking test commands at run time, one a line,
 * answered "ok" or "error: ..." (control.c): "hostfwd tcp:HIP:HP-GIP:GP" calls
 * hub_lan_hostfwd(). 0 or a negative libuv error (logged). */
int hub_control_start(struct hub *h, const char *path);
/* Closes the socket and its clients, removes the file. */
void hub_control_stop(struct hub *h);

#endif
