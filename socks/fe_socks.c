/*
 * SOCKS front-ends on the relay core (socks/frontend.h): SOCKS5 (RFC 1928, with RFC 1929
 * username/password when the listener has credentials), SOCKS4 and 4a, and the two
 * detectors that choose by the first byte (0x04 SOCKS4, 0x05 SOCKS5; the one-port
 * listener sends anything else to the HTTP proxy).
 *
 * SOCKS5 steps (sv_conn_set_step):
 *   GREETING --method "no auth" chosen--> REQUEST --sv_conn_connect
 *   GREETING --method username/password chosen--> AUTH --credentials match--> REQUEST
 *   REQUEST --UDP ASSOCIATE--> UDP (held: the association lives while the control
 *             connection does; socks/socks5_udp.c)
 *   REQUEST --BIND--> BIND (held: a tunnel listener waits for one connection within the
 *             connect timeout; then a second reply and the relay over it)
 * UDP and BIND take a --max-conns-per-client slot like a CONNECT (they hold resources).
 * Every refusal queues the reply the protocol has for it, then sv_conn_reply_and_close.
 * SOCKS4 has one step (the request). With credentials configured SOCKS4 is refused
 * outright: it has no way to carry a password, and its USERID is not a secret.
 */
#define SV_LOG_MODULE "socks"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "socks/frontend.h"
#include "socks/socks4.h"
#include "socks/socks5.h"
#include "socks/socks5_udp.h"
#include "netstack/stack.h"
#include "netstack/tcplisten.h"

enum s5_step {
	S5_GREETING,
	S5_AUTH,
	S5_REQUEST,
	S5_UDP,
	S5_BIND,
};

static const char *const s5_step_names[] = {
	[S5_GREETING] = "greeting",
	[S5_AUTH] = "auth",
	[S5_REQUEST] = "request",
	[S5_UDP] = "udp associate",
	[S5_BIND] = "bind",
};

/* What UDP ASSOCIATE and BIND keep per conn (sv_conn_data). */
struct s5_data {
	struct sv_conn *c;
	struct sv_s5udp *udp;
	struct sv_tcplisten *lis;
	struct sv_ip want; /* BIND: the peer expected (family 0: anyone) */
};

/* --- SOCKS5 -------------------------------------------------------------------------- */

static void
s5_reply_and_close(struct sv_conn *c, uint8_t rep)
{
	uint8_t b[SV_SOCKS5_REPLY_MAX];

	(void)sv_conn_write(c, b, sv_socks5_build_reply(b, rep, NULL, 0));
	sv_conn_reply_and_close(c);
}

static int
s5_greeting(struct sv_conn *c, struct sv_rd *r)
{
	static const uint8_t none[] = { SV_SOCKS5_METHOD_NONE };
	static const uint8_t userpass[] = { SV_SOCKS5_METHOD_USERPASS };
	bool auth = sv_conn_auth_required(c);
	struct sv_socks5_greeting g;
	uint8_t b[2];
	uint8_t m;
	int e;

	e = sv_socks5_parse_greeting(r, &g);
	if (e == SV_E_INCOMPLETE)
		return e;
	if (e == -EPROTONOSUPPORT) /* only when used without a detector */
		return sv_conn_set_frontend(c, &sv_fe_socks4) == 0 ? 0 : SV_E_CLOSED;
	if (e != 0) {
		log_info("conn %u: %s: not a SOCKS5 client (first byte 0x%02x)",
			sv_conn_id(c), sv_conn_peer(c), r->n > 0 ? r->p[0] : 0);
		sv_conn_close(c);
		return 0;
	}
	m = sv_socks5_choose_method(&g, auth ? userpass : none, 1);
	if (sv_conn_write(c, b, sv_socks5_build_method(b, m)) != 0)
		return 0;
	if (m == SV_SOCKS5_METHOD_UNACCEPTABLE) {
		log_info("conn %u: socks5: %s: the client does not offer %s", sv_conn_id(c),
			sv_conn_peer(c), auth ? "username/password authentication, which "
			"this listener requires" : "\"no authentication\"");
		sv_conn_reply_and_close(c);
		return 0;
	}
	sv_conn_set_step(c, auth ? S5_AUTH : S5_REQUEST, s5_step_names);
	return 0;
}

static int
s5_auth(struct sv_conn *c, struct sv_rd *r)
{
	struct sv_socks5_userpass up;
	uint8_t b[2];
	bool ok;
	int e;

	e = sv_socks5_parse_userpass(r, &up);
	if (e == SV_E_INCOMPLETE)
		return e;
	if (e != 0) {
		log_info("conn %u: socks5: %s: malformed username/password message",
			sv_conn_id(c), sv_conn_peer(c));
		(void)sv_conn_write(c, b, sv_socks5_build_userpass_reply(b, false));
		sv_conn_reply_and_close(c);
		return 0;
	}
	ok = sv_conn_auth_check(c, up.user, strlen(up.user), up.pass, strlen(up.pass));
	explicit_bzero(&up, sizeof up);
	if (sv_conn_write(c, b, sv_socks5_build_userpass_reply(b, ok)) != 0)
		return 0;
	if (!ok) {
		/* RFC 1929: on failure the server MUST close the connection. */
		log_info("conn %u: socks5: %s: wrong proxy user name or password, refused",
			sv_conn_id(c), sv_conn_peer(c));
		sv_conn_reply_and_close(c);
		return 0;
	}
	log_debug("conn %u: socks5: authenticated", sv_conn_id(c));
	sv_conn_set_step(c, S5_REQUEST, s5_step_names);
	return 0;
}

static struct s5_data *
s5_data_new(struct sv_conn *c)
{
	struct s5_data *d = calloc(1, sizeof *d);

	if (d != NULL) {
		d->c = c;
		sv_conn_set_data(c, d);
	}
	return d;
}

static void
s5_on_free(struct sv_conn *c)
{
	struct s5_data *d = sv_conn_data(c);

	if (d == NULL)
		return;
	sv_s5udp_close(d->udp);
	sv_tcplisten_close(d->lis);
	free(d);
	sv_conn_set_data(c, NULL);
}

static void
s5_udp_associate(struct sv_conn *c, const struct sv_socks5_request *req)
{
	struct sockaddr_storage peer, local;
	uint8_t b[SV_SOCKS5_REPLY_MAX];
	struct s5_data *d;
	struct sv_ip bnd;
	uint16_t bport;
	int e;

	if (!sv_conn_sockaddrs(c, &peer, &local)) {
		log_info("conn %u: socks5: UDP ASSOCIATE needs a TCP listener (not a Unix "
			"socket)", sv_conn_id(c));
		s5_reply_and_close(c, SV_SOCKS5_REP_CMD_NOT_SUPPORTED);
		return;
	}
	if (!sv_conn_take_client_slot(c, "UDP ASSOCIATE"))
		return;
	if ((d = s5_data_new(c)) == NULL) {
		s5_reply_and_close(c, SV_SOCKS5_REP_GENERAL_FAILURE);
		return;
	}
	e = sv_s5udp_open(&d->udp, sv_conn_loop(c), &local, &peer,
		req->atyp == SV_SOCKS5_ATYP_DOMAIN ? NULL : &req->ip, req->port,
		sv_conn_id(c), &bnd, &bport);
	if (e != 0) {
		uint8_t rep = e == -ENETDOWN ? SV_SOCKS5_REP_NET_UNREACHABLE :
			SV_SOCKS5_REP_GENERAL_FAILURE;
		log_info_r(e, "conn %u: socks5: UDP ASSOCIATE", sv_conn_id(c));
		d->udp = NULL;
		s5_reply_and_close(c, rep);
		return;
	}
	sv_conn_set_step(c, S5_UDP, s5_step_names);
	sv_conn_hold(c, 0);
	log_debug("conn %u: socks5: UDP relay on port %u", sv_conn_id(c), (unsigned)bport);
	(void)sv_conn_write(c, b, sv_socks5_build_reply(b, SV_SOCKS5_REP_SUCCEEDED, &bnd,
		bport));
}

static void
bind_on_accept(void *arg, struct sv_tcpconn *tc)
{
	struct s5_data *d = arg;
	struct sv_conn *c = d->c;
	uint8_t b[SV_SOCKS5_REPLY_MAX];
	struct sv_ip peer;
	uint16_t pport = 0;
	char text[SV_IP_STRLEN];

	if (sv_conn_is_closing(c) || !sv_tcpconn_peer(tc, &peer, &pport)) {
		sv_tcpconn_abort(tc); /* too late: the timeout reply is out */
		return;
	}
	if (d->want.family != 0 && (peer.family != d->want.family ||
		memcmp(peer.b, d->want.b, peer.family == 4 ? 4 : 16) != 0)) {
		/* RFC 1928: DST.ADDR says who may connect; anyone else is refused. */
		log_info("conn %u: socks5: BIND: connection from %s refused (not the "
			"requested peer)", sv_conn_id(c), sv_ip_format(&peer, text, sizeof text));
		sv_tcpconn_abort(tc);
		return;
	}
	sv_tcplisten_close(d->lis); /* one connection per BIND */
	d->lis = NULL;
	log_debug("conn %u: socks5: BIND: %s:%u connected", sv_conn_id(c),
		sv_ip_format(&peer, text, sizeof text), (unsigned)pport);
	if (sv_conn_write(c, b, sv_socks5_build_reply(b, SV_SOCKS5_REP_SUCCEEDED, &peer,
		pport)) != 0) {
		sv_tcpconn_abort(tc);
		return;
	}
	sv_conn_attach(c, tc);
}

static const struct sv_tcplisten_ops bind_ops = {
	.on_accept = bind_on_accept,
};

static void
s5_bind(struct sv_conn *c, const struct sv_socks5_request *req)
{
	uint8_t b[SV_SOCKS5_REPLY_MAX];
	struct sv_lease lease;
	struct s5_data *d;
	int e;

	if (!sv_stack_lease(&lease)) {
		log_info("conn %u: socks5: BIND before the tunnel has an address",
			sv_conn_id(c));
		s5_reply_and_close(c, SV_SOCKS5_REP_NET_UNREACHABLE);
		return;
	}
	if (!sv_conn_take_client_slot(c, "BIND"))
		return;
	if ((d = s5_data_new(c)) == NULL) {
		s5_reply_and_close(c, SV_SOCKS5_REP_GENERAL_FAILURE);
		return;
	}
	if (req->atyp != SV_SOCKS5_ATYP_DOMAIN) {
		static const uint8_t zero[16];
		if (memcmp(req->ip.b, zero, req->ip.family == 4 ? 4 : 16) != 0)
			d->want = req->ip;
	}
	if ((e = sv_tcplisten_open(&d->lis, 0, 1, &bind_ops, d)) != 0) {
		log_info_r(e, "conn %u: socks5: BIND", sv_conn_id(c));
		d->lis = NULL;
		s5_reply_and_close(c, sv_socks5_rep_from_err(e));
		return;
	}
	sv_conn_set_step(c, S5_BIND, s5_step_names);
	sv_conn_hold(c, sv_conn_connect_timeout(c));
	log_debug("conn %u: socks5: BIND listening on port %u", sv_conn_id(c),
		(unsigned)sv_tcplisten_port(d->lis));
	(void)sv_conn_write(c, b, sv_socks5_build_reply(b, SV_SOCKS5_REP_SUCCEEDED,
		&lease.ip, sv_tcplisten_port(d->lis)));
}

static int
s5_request(struct sv_conn *c, struct sv_rd *r)
{
	struct sv_socks5_request req;
	struct sv_conn_target t;
	int e = sv_socks5_parse_request(r, &req);

	if (e == SV_E_INCOMPLETE)
		return e;
	if (e != 0) {
		uint8_t rep = sv_socks5_rep_from_err(e);
		log_info_r(e, "conn %u: socks5: %s: bad request, replying %s", sv_conn_id(c),
			sv_conn_peer(c), sv_socks5_rep_name(rep));
		s5_reply_and_close(c, rep);
		return 0;
	}
	if (req.cmd == SV_SOCKS5_CMD_UDP_ASSOCIATE) {
		s5_udp_associate(c, &req);
		return 0;
	}
	if (req.cmd == SV_SOCKS5_CMD_BIND) {
		s5_bind(c, &req);
		return 0;
	}
	memset(&t, 0, sizeof t);
	t.port = req.port;
	if (req.atyp == SV_SOCKS5_ATYP_DOMAIN)
		t.host = req.host;
	else
		t.ip = req.ip;
	sv_conn_connect(c, &t);
	return 0;
}

static int
s5_on_data(struct sv_conn *c, struct sv_rd *in)
{
	switch (sv_conn_step(c)) {
	case S5_GREETING:
		return s5_greeting(c, in);
	case S5_AUTH:
		return s5_auth(c, in);
	case S5_REQUEST:
		return s5_request(c, in);
	default: /* held: the core no longer calls */
		return SV_E_CLOSED;
	}
}

static void
s5_on_result(struct sv_conn *c, int err, bool resolving, const struct sv_ip *bnd,
	uint16_t bport)
{
	uint8_t b[SV_SOCKS5_REPLY_MAX];
	uint8_t rep;

	if (err == 0) {
		(void)sv_conn_write(c, b, sv_socks5_build_reply(b, SV_SOCKS5_REP_SUCCEEDED,
			bnd, bport));
		return;
	}
	rep = resolving ? sv_socks5_rep_from_resolve_err(err) : sv_socks5_rep_from_err(err);
	log_debug("conn %u: socks5: replying %s", sv_conn_id(c), sv_socks5_rep_name(rep));
	(void)sv_conn_write(c, b, sv_socks5_build_reply(b, rep, NULL, 0));
}

const struct sv_frontend_ops sv_fe_socks5 = {
	.name = "socks5",
	/* the longest message, RFC 1929's, plus room for pipelined bytes */
	.hs_max = SV_SOCKS5_USERPASS_MAX,
	.on_data = s5_on_data,
	.on_result = s5_on_result,
	.on_free = s5_on_free,
};

/* --- SOCKS4 / 4a --------------------------------------------------------------------- */

static void
s4_reject(struct sv_conn *c)
{
	uint8_t b[SV_SOCKS4_REPLY_LEN];

	(void)sv_conn_write(c, b, sv_socks4_build_reply(b, SV_SOCKS4_REP_REJECTED));
	sv_conn_reply_and_close(c);
}

static int
s4_on_data(struct sv_conn *c, struct sv_rd *in)
{
	struct sv_socks4_request req;
	struct sv_conn_target t;
	int e = sv_socks4_parse_request(in, &req);

	if (e == SV_E_INCOMPLETE)
		return e;
	if (e != 0) {
		log_info_r(e, "conn %u: socks4: %s: bad request, rejected", sv_conn_id(c),
			sv_conn_peer(c));
		s4_reject(c);
		return 0;
	}
	if (sv_conn_auth_required(c)) {
		log_info("conn %u: socks4: %s: refused: this listener requires a user name "
			"and password, which SOCKS4 cannot carry (use SOCKS5)", sv_conn_id(c),
			sv_conn_peer(c));
		s4_reject(c);
		return 0;
	}
	memset(&t, 0, sizeof t);
	t.port = req.port;
	if (req.is_4a)
		t.host = req.host;
	else
		t.ip = req.ip;
	sv_conn_connect(c, &t);
	return 0;
}

static void
s4_on_result(struct sv_conn *c, int err, bool resolving, const struct sv_ip *bnd,
	uint16_t bport)
{
	uint8_t b[SV_SOCKS4_REPLY_LEN];

	(void)resolving;
	(void)bnd;
	(void)bport;
	(void)sv_conn_write(c, b, sv_socks4_build_reply(b, err == 0 ?
		SV_SOCKS4_REP_GRANTED : SV_SOCKS4_REP_REJECTED));
}

const struct sv_frontend_ops sv_fe_socks4 = {
	.name = "socks4",
	.hs_max = SV_SOCKS4_REQUEST_MAX,
	.on_data = s4_on_data,
	.on_result = s4_on_result,
};

/* --- detectors ----------------------------------------------------------------------- */

/* The first byte chooses: 4 SOCKS4, 5 SOCKS5, else HTTP if allowed (and built in). */
static int
detect(struct sv_conn *c, struct sv_rd *in, bool http)
{
	uint8_t first;

	if (in->n == 0)
		return SV_E_INCOMPLETE;
	first = in->p[0];
	if (first == SV_SOCKS4_VERSION)
		return sv_conn_set_frontend(c, &sv_fe_socks4) == 0 ? 0 : SV_E_CLOSED;
	if (first == SV_SOCKS5_VERSION)
		return sv_conn_set_frontend(c, &sv_fe_socks5) == 0 ? 0 : SV_E_CLOSED;
	if (http && sv_fe_http != NULL)
		return sv_conn_set_frontend(c, sv_fe_http) == 0 ? 0 : SV_E_CLOSED;
	if (http) {
		static const char reply[] = "HTTP/1.1 501 Not Implemented\r\n"
			"Content-Length: 0\r\nConnection: close\r\n\r\n";
		log_info("conn %u: %s: HTTP proxy requests are not supported yet",
			sv_conn_id(c), sv_conn_peer(c));
		(void)sv_conn_write(c, reply, sizeof reply - 1);
		sv_conn_reply_and_close(c);
		return 0;
	}
	log_info("conn %u: %s: not a SOCKS client (first byte 0x%02x)", sv_conn_id(c),
		sv_conn_peer(c), first);
	sv_conn_close(c);
	return 0;
}

static int
detect_socks(struct sv_conn *c, struct sv_rd *in)
{
	return detect(c, in, false);
}

static int
detect_mixed(struct sv_conn *c, struct sv_rd *in)
{
	return detect(c, in, true);
}

const struct sv_frontend_ops sv_fe_socks = {
	.name = "socks",
	.on_data = detect_socks,
};

const struct sv_frontend_ops sv_fe_mixed = {
	.name = "proxy",
	.on_data = detect_mixed,
};
