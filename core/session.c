/*
 * SoftEther session state machine (see session.h; spec sections 3, 6-8, 10,
 * 11).
 *
 * States and transitions:
 *   SIGNATURE    start() queued POST connect.cgi; -> HELLO once that request
 * has been acked out (or when the first response byte arrives) HELLO waiting
 * for 200 + hello PACK; on it the login PACK is queued -> WELCOME WELCOME
 * waiting for 200 + welcome PACK -> ESTABLISHED (keep-alive queued,
 *                on_established called); an error PACK -> CLOSED with
 * SV_E_SERVER ESTABLISHED  block messages both ways (tunnel.c); keep-alive
 * after ka_ms without sending; SV_E_TIMEOUT after dead_ms without receiving
 *   CLOSED       after the first failure (sv_session_fail); err != 0 from then
 * on
 *
 * Invariants: err != 0 <=> state == CLOSED. Handshake bytes collect in `in`
 * (bounded to one header block plus one PACK) and are parsed in place; in the
 * data phase input goes straight to the tunnel parser and `in` is released.
 * `out` holds requests, then block messages; only sv_tunnel_ready() bytes of it
 * are offered, so an open batch is never half sent. Each handshake step
 * (signature+hello, login+welcome) must finish within HANDSHAKE_MS of its
 * start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "auth.h"
#include "err.h"
#include "http.h"
#include "pack.h"
#include "session.h"
#include "tunnel.h"

#define SV_FRAME_MAX_INFLATED 1600 /* spec 11.1: longer frames are discarded */

#define SV_LOG_MODULE "session"
#include "log.h"

/* Each handshake step; the server allows 15-22.5 s per read (spec 2). */
#define HANDSHAKE_MS 15000u
#define KEEPALIVE_MAX_MS 5000u /* traps.md: keep-alive every 5 s at most */
#define DEAD_MS 15000u /* traps.md: dead after 15 s without a byte... */
#define DEAD_MARGIN_MS 5000u /* ...unless T/2 (the server's longest keep-alive gap) is more */
#define T_DEFAULT 20000u
#define T_MIN 5000u
#define T_MAX 60000u
#define IN_MAX (SV_HTTP_HEADER_MAX + SV_HTTP_BODY_MAX)
#define OUT_MAX SV_TUNNEL_QUEUE_MAX
#define PENCORE_MAX 999u
#define IDLE_TICK_MS 60000u

#define CLIENT_STR "SoftEther VPN Client (sevpn-proxy)"
#define CLIENT_VER 501u
#define CLIENT_BUILD 9674u /* >= 9000: spec 7.1, client_build */
#define CLIENT_OS "Unix"

struct sv_session {
	enum sv_session_state state;
	int err;
	unsigned server_error;
	bool started;
	const struct sv_session_ops *ops;
	void *arg;

	char *host, *hub, *username, *plain_password, *client_hostname;
	int authtype;
	uint8_t password_hash[SV_AUTH_HASH_LEN];
	uint8_t *cert_der; /* SV_AUTH_CERT: copy of the client certificate */
	size_t cert_len;
	sv_session_sign_fn *sign;
	void *sign_arg;
	uint8_t unique_id[20];
	uint8_t random[SV_AUTH_RANDOM_LEN]; /* hello challenge */
	uint8_t session_key[20];
	bool have_key;
	bool attach;
	bool compress;         /* asked for use_compress */
	bool half;             /* asked for half_connection */
	unsigned direction;    /* spec 11.5: 0 both, 1 server->client, 2 client->server */
	unsigned max_connection;
	uint64_t bad_frames;   /* compressed frames that did not inflate */
	char server_product[128]; /* from the hello */
	uint32_t server_version, server_build; /* re-attach with session_key instead of a login */
	struct sv_welcome welcome;

	struct sv_buf in, out;
	struct sv_tunnel_rx rx;
	struct sv_tunnel_tx tx;

	uint64_t clock;      /* latest now_ms seen */
	uint64_t step_start; /* handshake step began */
	uint64_t last_recv, last_send;
	uint32_t ka_ms, dead_ms;
};

static const char *const state_names[] = {
    [SV_SESSION_SIGNATURE] = "signature",
    [SV_SESSION_HELLO] = "hello",
    [SV_SESSION_WELCOME] = "welcome",
    [SV_SESSION_ESTABLISHED] = "established",
    [SV_SESSION_CLOSED] = "closed",
};

/* --- randomness (padding only)
 * ---------------------------------------------------- */

static void (*random_fn)(void *p, size_t n);
static uint64_t xorshift_state = 0x9e3779b97f4a7c15ull;

static void
xorshift_fill(void *p, size_t n)
{
	uint8_t *o = p;

	for (size_t i = 0; i < n; i++) {
		uint64_t x = xorshift_state;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		xorshift_state = x;
		o[i] = (uint8_t)(x >> 32);
	}
}

/* see session.h */
void
sv_session_set_random(void (*fn)(void *p, size_t n))
{
	random_fn = fn;
}

static void
fill_random(void *p, size_t n)
{
	if (random_fn != NULL)
		random_fn(p, n);
	else
		xorshift_fill(p, n);
}

/* Uniform enough for padding lengths: 0..max. */
static size_t
random_len(size_t max)
{
	uint8_t b[2];

	fill_random(b, sizeof b);
	return ((size_t)b[0] << 8 | b[1]) % (max + 1);
}

/* --- small helpers
 * ---------------------------------------------------------------- */

/* Copies a server string for logs and struct fields: printable ASCII kept,
 * others '?'. */
static void
copy_printable(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap && src[i] != 0; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	dst[i] = 0;
}

static void
copy_utf8(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	size_t i;

	/* Hub messages are UTF-8 text: keep it, but no control bytes except
	 * newlines. */
	for (i = 0; i < n && i + 1 < cap && src[i] != 0; i++)
		dst[i] = src[i] < 0x20 && src[i] != '\n' ? ' ' : (char)src[i];
	dst[i] = 0;
}

static void
free_secret_str(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static uint64_t
elapsed(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

/* The one place the state changes. */
static void
set_state(struct sv_session *s, enum sv_session_state st)
{
	if (s->state == st)
		return;
	log_debug("%s -> %s", state_names[s->state], state_names[st]);
	s->state = st;
}

/* see session.h */
void
sv_session_fail(struct sv_session *s, int err)
{
	if (s == NULL || s->err != 0)
		return;
	if (err >= 0)
		err = SV_E_INTERNAL;
	s->err = err;
	if (err == SV_E_SERVER)
		log_warn("server refused: error %u %s: %s", s->server_error,
		         sv_softether_err_name(s->server_error),
		         sv_softether_err_text(s->server_error));
	else
		log_info_r(err, "closed in state %s", state_names[s->state]);
	set_state(s, SV_SESSION_CLOSED);
	/* Reset, not freed: a callback may fail us while `in` is parsed. */
	sv_buf_reset(&s->out);
	sv_buf_reset(&s->in);
	sv_tunnel_tx_init(&s->tx);
}

static void
fail_server(struct sv_session *s, uint32_t code)
{
	s->server_error = code;
	sv_session_fail(s, SV_E_SERVER);
}

/* --- lifecycle
 * -------------------------------------------------------------------- */

static int
dup_opt(char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst != NULL ? 0 : SV_E_NOMEM;
}

static int
check_config(const struct sv_session_config *cfg)
{
	if (cfg->hub == NULL || cfg->hub[0] == 0 || cfg->username == NULL ||
	    cfg->username[0] == 0) {
		log_err("hub and user name are required");
		return SV_E_INVAL;
	}
	if (cfg->authtype != SV_AUTH_ANONYMOUS &&
	    cfg->authtype != SV_AUTH_PASSWORD &&
	    cfg->authtype != SV_AUTH_PLAIN && cfg->authtype != SV_AUTH_CERT) {
		log_err("unsupported auth type %d", cfg->authtype);
		return SV_E_INVAL;
	}
	if (cfg->authtype == SV_AUTH_PLAIN && cfg->plain_password == NULL) {
		log_err("plain password auth needs a password");
		return SV_E_INVAL;
	}
	if (cfg->authtype == SV_AUTH_CERT &&
	    (cfg->cert.der == NULL || cfg->cert.len == 0 ||
	     cfg->cert.len > SV_SESSION_CERT_MAX || cfg->cert.sign == NULL)) {
		log_err("certificate auth needs a certificate of 1..%u bytes "
		        "and a signing function",
		        SV_SESSION_CERT_MAX);
		return SV_E_INVAL;
	}
	return 0;
}

static int
copy_cert(struct sv_session *s, const struct sv_session_cert *c)
{
	s->cert_der = malloc(c->len);
	if (s->cert_der == NULL)
		return SV_E_NOMEM;
	memcpy(s->cert_der, c->der, c->len);
	s->cert_len = c->len;
	s->sign = c->sign;
	s->sign_arg = c->arg;
	return 0;
}

/* see session.h */
struct sv_session *
sv_session_new(const struct sv_session_config *cfg,
               const struct sv_session_ops *ops, void *arg)
{
	if (cfg == NULL || ops == NULL || check_config(cfg) != 0)
		return NULL;
	struct sv_session *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->ops = ops;
	s->arg = arg;
	s->authtype = cfg->authtype;
	memcpy(s->password_hash, cfg->password_hash, sizeof s->password_hash);
	memcpy(s->unique_id, cfg->unique_id, sizeof s->unique_id);
	s->compress = cfg->compress;
	s->half = cfg->half_connection;
	s->max_connection = cfg->max_connection < 1 ? 1
	                    : cfg->max_connection > 32 ? 32 : cfg->max_connection;
	if (cfg->attach_key != NULL && cfg->attach_welcome != NULL) {
		s->attach = true;
		memcpy(s->session_key, cfg->attach_key, sizeof s->session_key);
		s->have_key = true;
		s->welcome = *cfg->attach_welcome;
	}
	sv_buf_init(&s->in, IN_MAX);
	sv_buf_init(&s->out, OUT_MAX);
	sv_tunnel_rx_init(&s->rx);
	sv_tunnel_tx_init(&s->tx);
	s->state = SV_SESSION_SIGNATURE;
	if (dup_opt(&s->host, cfg->host) != 0 ||
	    dup_opt(&s->hub, cfg->hub) != 0 ||
	    dup_opt(&s->username, cfg->username) != 0 ||
	    dup_opt(&s->client_hostname, cfg->client_hostname) != 0 ||
	    (cfg->authtype == SV_AUTH_PLAIN &&
	     dup_opt(&s->plain_password, cfg->plain_password) != 0) ||
	    (cfg->authtype == SV_AUTH_CERT && copy_cert(s, &cfg->cert) != 0)) {
		sv_session_free(s);
		return NULL;
	}
	return s;
}

/* see session.h */
bool
sv_session_key(const struct sv_session *s, uint8_t key[20])
{
	if (!s->have_key)
		return false;
	memcpy(key, s->session_key, sizeof s->session_key);
	return true;
}

/* see session.h */
unsigned
sv_session_direction(const struct sv_session *s)
{
	return s->direction;
}

/* see session.h */
const char *
sv_session_server_product(const struct sv_session *s, uint32_t *version,
                          uint32_t *build)
{
	*version = s->server_version;
	*build = s->server_build;
	return s->server_product;
}

/* see session.h */
const struct sv_welcome *
sv_session_welcome(const struct sv_session *s)
{
	return s->state == SV_SESSION_ESTABLISHED ? &s->welcome : NULL;
}

/* see session.h */
void
sv_session_free(struct sv_session *s)
{
	if (s == NULL)
		return;
	free(s->host);
	free(s->hub);
	free(s->username);
	free(s->client_hostname);
	free(s->cert_der);
	free_secret_str(s->plain_password);
	sv_buf_cleanup(&s->in);
	sv_buf_cleanup(&s->out);
	explicit_bzero(s->rx.frame, sizeof s->rx.frame);
	explicit_bzero(s->password_hash, sizeof s->password_hash);
	explicit_bzero(s->session_key, sizeof s->session_key);
	explicit_bzero(s->random, sizeof s->random);
	free(s);
}

/* see session.h */
void
sv_session_start(struct sv_session *s, uint64_t now_ms)
{
	int r;

	if (s->err != 0 || s->started)
		return;
	s->started = true;
	s->clock = now_ms;
	s->step_start = now_ms;
	if ((r = sv_http_write_signature(&s->out, s->host)) != 0) {
		log_err_r(r, "cannot write the signature request");
		sv_session_fail(s, r);
	}
}

/* --- handshake
 * -------------------------------------------------------------------- */

/* Spec 7.2, authtype 3: the certificate and a signature over the hello random. */
static int
add_cert_auth(struct sv_pack *pk, const struct sv_session *s)
{
	uint8_t sig[SV_SESSION_SIG_MAX];
	size_t n = 0;
	int r = s->sign(s->sign_arg, s->random, sig, sizeof sig, &n);

	if (r == 0 && (n == 0 || n > sizeof sig))
		r = SV_E_INTERNAL;
	if (r != 0) {
		log_err_r(r, "cannot sign the server's challenge");
		return r;
	}
	if ((r = sv_pack_add_data(pk, "cert", s->cert_der, s->cert_len)) ==
	    0)
		r = sv_pack_add_data(pk, "sign", sig, n);
	return r;
}

static int
add_auth(struct sv_pack *pk, const struct sv_session *s)
{
	uint8_t proof[SV_AUTH_HASH_LEN];
	int r;

	switch (s->authtype) {
	case SV_AUTH_PASSWORD:
		sv_auth_secure_password(proof, s->password_hash, s->random);
		r = sv_pack_add_data(pk, "secure_password", proof,
		                     sizeof proof);
		explicit_bzero(proof, sizeof proof);
		return r;
	case SV_AUTH_PLAIN:
		return sv_pack_add_str(pk, "plain_password", s->plain_password);
	case SV_AUTH_CERT:
		return add_cert_auth(pk, s);
	default:
		return 0;
	}
}

static int
add_pencore(struct sv_pack *pk)
{
	uint8_t pad[PENCORE_MAX];
	size_t n = random_len(PENCORE_MAX);

	fill_random(pad, n);
	/* A zero-length DATA value is legal on the wire (size 0, no bytes). */
	return sv_pack_add_data(pk, "pencore", pad, n);
}

/* The login PACK, recommended set of spec 7.1. */
static int
build_login(struct sv_pack *pk, const struct sv_session *s)
{
	int r;

	if ((r = sv_pack_add_str(pk, "method", "login")) != 0 ||
	    (r = sv_pack_add_str(pk, "hubname", s->hub)) != 0 ||
	    (r = sv_pack_add_str(pk, "username", s->username)) != 0 ||
	    (r = sv_pack_add_int(pk, "authtype", (uint32_t)s->authtype)) != 0 ||
	    (r = add_auth(pk, s)) != 0 ||
	    (r = sv_pack_add_int(pk, "use_encrypt", 1)) != 0 ||
	    (r = sv_pack_add_int(pk, "use_compress", s->compress ? 1 : 0)) != 0 ||
	    (r = sv_pack_add_int(pk, "half_connection", s->half ? 1 : 0)) != 0 ||
	    (r = sv_pack_add_bool(pk, "qos", false)) != 0 ||
	    (r = sv_pack_add_int(pk, "max_connection", s->max_connection)) != 0 ||
	    (r = sv_pack_add_int(pk, "protocol", 0)) != 0)
		return r;
	if ((r = sv_pack_add_str(pk, "client_str", CLIENT_STR)) != 0 ||
	    (r = sv_pack_add_int(pk, "client_ver", CLIENT_VER)) != 0 ||
	    (r = sv_pack_add_int(pk, "client_build", CLIENT_BUILD)) != 0 ||
	    (r = sv_pack_add_str(pk, "hello", CLIENT_STR)) != 0 ||
	    (r = sv_pack_add_int(pk, "version", CLIENT_VER)) != 0 ||
	    (r = sv_pack_add_int(pk, "build", CLIENT_BUILD)) != 0 ||
	    (r = sv_pack_add_data(pk, "unique_id", s->unique_id, 20)) != 0 ||
	    (r = sv_pack_add_data(pk, "UniqueId", s->unique_id, 16)) != 0 ||
	    (r = sv_pack_add_str(pk, "ClientProductName", CLIENT_STR)) != 0 ||
	    (r = sv_pack_add_str(pk, "ClientOsName", CLIENT_OS)) != 0)
		return r;
	if (s->client_hostname != NULL &&
	    (r = sv_pack_add_str(pk, "ClientHostname", s->client_hostname)) !=
	        0)
		return r;
	return add_pencore(pk);
}

/* Spec 12: join an existing session with its key; no authentication. */
static int
build_attach(struct sv_pack *pk, const struct sv_session *s)
{
	int r;

	if ((r = sv_pack_add_str(pk, "method", "additional_connect")) != 0 ||
	    (r = sv_pack_add_data(pk, "session_key", s->session_key,
	                          sizeof s->session_key)) != 0 ||
	    (r = sv_pack_add_str(pk, "client_str", CLIENT_STR)) != 0 ||
	    (r = sv_pack_add_int(pk, "client_ver", CLIENT_VER)) != 0 ||
	    (r = sv_pack_add_int(pk, "client_build", CLIENT_BUILD)) != 0)
		return r;
	return add_pencore(pk);
}

/* Encodes pk and queues it as POST vpn.cgi. The encoding is wiped after use. */
static int
queue_pack_post(struct sv_session *s, const struct sv_pack *pk)
{
	struct sv_buf body;
	const uint8_t *p;
	size_t n;
	int r;

	sv_buf_init(&body, SV_HTTP_REQUEST_BODY_MAX);
	if ((r = sv_pack_encode(pk, &body)) == 0) {
		p = sv_buf_peek(&body, &n);
		r = sv_http_write_pack_post(&s->out, s->host, p, n);
	}
	sv_buf_cleanup(&body);
	return r;
}

/* An `error` element != 0 ends the session with that server code. */
static bool
refused(struct sv_session *s, const struct sv_pack *pk)
{
	uint32_t code = 0;

	if (!sv_pack_get_int(pk, "error", &code) || code == 0)
		return false;
	fail_server(s, code);
	return true;
}

/* Spec 6: hello STR and a 20-byte random, else not a VPN server. */
static void
on_hello(struct sv_session *s, const struct sv_pack *pk, uint64_t now)
{
	const char *hello;
	const uint8_t *rnd;
	size_t rn;
	uint32_t ver = 0, build = 0;
	char name[128];
	struct sv_pack login;
	int r;

	if (refused(s, pk))
		return;
	if (!sv_pack_get_str(pk, "hello", &hello) ||
	    !sv_pack_get_data(pk, "random", &rnd, &rn) ||
	    rn != SV_AUTH_RANDOM_LEN) {
		log_warn("hello lacks `hello` or a 20-byte `random`: not a "
		         "SoftEther server");
		sv_session_fail(s, SV_E_NOTVPN);
		return;
	}
	memcpy(s->random, rnd, sizeof s->random);
	(void)sv_pack_get_int(pk, "version", &ver);
	(void)sv_pack_get_int(pk, "build", &build);
	copy_printable(name, sizeof name, (const uint8_t *)hello,
	               strlen(hello));
	log_info("server \"%s\" version %u build %u", name, ver, build);
	memcpy(s->server_product, name, sizeof s->server_product);
	s->server_version = ver;
	s->server_build = build;

	sv_pack_init(&login);
	if ((r = s->attach ? build_attach(&login, s) : build_login(&login, s)) == 0)
		r = queue_pack_post(s, &login);
	sv_pack_cleanup(&login);
	if (r != 0) {
		log_err_r(r, "cannot build the login request");
		sv_session_fail(s, r);
		return;
	}
	set_state(s, SV_SESSION_WELCOME);
	s->step_start = now;
}

static uint32_t
get_int_or(const struct sv_pack *pk, const char *name, uint32_t dflt)
{
	uint32_t v;

	return sv_pack_get_int(pk, name, &v) ? v : dflt;
}

/* Fills s->welcome from the PACK; SV_E_PROTO for what we cannot run. */
static int
parse_welcome(struct sv_session *s, const struct sv_pack *pk)
{
	struct sv_welcome *w = &s->welcome;
	const char *str;
	const uint8_t *d;
	size_t n;

	if (get_int_or(pk, "Redirect", 0) != 0) {
		log_err("cluster redirect is not supported");
		return SV_E_PROTO;
	}
	if (!sv_pack_get_str(pk, "session_name", &str)) {
		log_warn("welcome without a session name");
		return SV_E_PROTO;
	}
	copy_printable(w->session_name, sizeof w->session_name,
	               (const uint8_t *)str, strlen(str));
	if (sv_pack_get_str(pk, "connection_name", &str))
		copy_printable(w->connection_name, sizeof w->connection_name,
		               (const uint8_t *)str, strlen(str));
	if (sv_pack_get_data(pk, "session_key", &d, &n) &&
	    n == sizeof s->session_key) {
		memcpy(s->session_key, d, n);
		s->have_key = true;
	}
	uint32_t t = get_int_or(pk, "timeout", 0);
	if (t == 0)
		t = T_DEFAULT;
	w->timeout_ms = t < T_MIN ? T_MIN : t > T_MAX ? T_MAX : t;
	w->max_connection = get_int_or(pk, "max_connection", 1);
	w->vlan_id = get_int_or(pk, "vlan_id", 0);
	w->use_encrypt = get_int_or(pk, "use_encrypt", 1) != 0;
	w->use_compress = get_int_or(pk, "use_compress", 0) != 0;
	w->half_connection = s->half && get_int_or(pk, "half_connection", 0) != 0;
	w->policy_max_upload = get_int_or(pk, "policy:MaxUpload", 0);
	w->policy_max_download = get_int_or(pk, "policy:MaxDownload", 0);
	w->policy_auto_disconnect = get_int_or(pk, "policy:AutoDisconnect", 0);
	if (sv_pack_get_data(pk, "Msg", &d, &n))
		copy_utf8(w->msg, sizeof w->msg, d, n);
	/* We asked for TLS-carried, uncompressed blocks; anything else we
	 * cannot run. */
	if (!w->use_encrypt || (w->use_compress && !s->compress)) {
		log_err("server chose use_encrypt=%d use_compress=%d, which "
		        "we did not ask for",
		        w->use_encrypt, w->use_compress);
		return SV_E_PROTO;
	}
	return 0;
}

static void queue_keepalive(struct sv_session *s, uint64_t now);

/* Spec 8: the welcome starts the data phase. */
static void
on_welcome(struct sv_session *s, const struct sv_pack *pk, uint64_t now)
{
	int r;

	if (refused(s, pk))
		return;
	if (s->attach) {
		/* spec 11.5: one-way connections only in a half-duplex session */
		s->direction = get_int_or(pk, "direction", 0);
		if (s->direction > 2 || (s->direction != 0 && !s->welcome.half_connection)) {
			log_warn("re-attach: the server made the connection one-way (%u)",
			         s->direction);
			sv_session_fail(s, SV_E_PROTO);
			return;
		}
	} else if ((r = parse_welcome(s, pk)) != 0) {
		sv_session_fail(s, r);
		return;
	} else if (s->welcome.half_connection) {
		s->direction = 2; /* the login connection sends (spec 11.5) */
	}
	uint32_t t = s->welcome.timeout_ms;
	s->ka_ms = t / 4 < KEEPALIVE_MAX_MS ? t / 4 : KEEPALIVE_MAX_MS;
	/* Spec 11.2: the server sends a keep-alive at most T/2 apart, so a quiet hub with a
	 * long T must not be declared dead after 15 s; never later than T itself. */
	s->dead_ms = t / 2 + DEAD_MARGIN_MS > DEAD_MS ? t / 2 + DEAD_MARGIN_MS : DEAD_MS;
	if (s->dead_ms > t)
		s->dead_ms = t;
	s->last_recv = now;
	set_state(s, SV_SESSION_ESTABLISHED);
	/* Spec 11.2: a keep-alive right when the data phase starts (where we send). */
	if (s->direction != 1)
		queue_keepalive(s, now);
	log_info("%s %s (%s), timeout %u ms, max_connection %u",
	         s->attach ? "re-attached to" : "established",
	         s->welcome.session_name, s->welcome.connection_name, t,
	         s->welcome.max_connection);
	if (!s->attach && s->welcome.msg[0] != 0)
		log_info("hub message: %s", s->welcome.msg);
	if (s->ops->on_established != NULL)
		s->ops->on_established(s->arg, &s->welcome);
}

typedef void msg_handler(struct sv_session *s, const struct sv_pack *pk,
                         uint64_t now);

static const struct {
	enum sv_session_state state;
	msg_handler *fn;
} handlers[] = {
    {SV_SESSION_HELLO, on_hello},
    {SV_SESSION_WELCOME, on_welcome},
};

static msg_handler *
handler_for(enum sv_session_state st)
{
	for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
		if (handlers[i].state == st)
			return handlers[i].fn;
	}
	return NULL;
}

/*
 * One HTTP response from `in`, if complete: parse, decode, dispatch, consume.
 * Returns true when a message was handled (call again), false when more bytes
 * are needed or the session failed.
 */
static bool
handle_response(struct sv_session *s, uint64_t now)
{
	struct sv_http_response resp;
	struct sv_pack pk;
	size_t n;
	const uint8_t *p = sv_buf_peek(&s->in, &n);
	int r = sv_http_parse_response(p, n, &resp);

	if (r == SV_E_INCOMPLETE)
		return false;
	if (r != 0) {
		if (r == SV_E_NOTVPN && resp.status != 200)
			log_warn("server answered HTTP %u%s", resp.status,
			         resp.status == 403
			             ? " (signature rejected: not a "
			               "SoftEther VPN server?)"
			             : "");
		sv_session_fail(s, r);
		return false;
	}
	if (n - resp.header_len < resp.content_length)
		return false;
	sv_pack_init(&pk);
	r = sv_pack_decode(&pk, p + resp.header_len, resp.content_length);
	sv_buf_consume(&s->in, resp.header_len + resp.content_length);
	if (r != 0) {
		log_warn_r(r, "bad PACK in the %s response",
		           state_names[s->state]);
		sv_session_fail(s, r == SV_E_TOOBIG ? r : SV_E_PROTO);
	} else if (handler_for(s->state) != NULL) {
		handler_for(s->state)(s, &pk, now);
	} else {
		sv_session_fail(s, SV_E_INTERNAL);
	}
	sv_pack_cleanup(&pk);
	return s->err == 0;
}

static int data_input(struct sv_session *s, const uint8_t *p, size_t n);

static int
handshake_input(struct sv_session *s, const uint8_t *p, size_t n, uint64_t now)
{
	int r;

	if (s->state == SV_SESSION_SIGNATURE)
		set_state(s, SV_SESSION_HELLO);
	if ((r = sv_buf_put(&s->in, p, n)) != 0) {
		sv_session_fail(s, r);
		return s->err;
	}
	/*
	 * Bytes after the hello can only be the answer to the login we just
	 * queued; they are simply parsed as such once the state says WELCOME.
	 */
	while (s->state != SV_SESSION_ESTABLISHED && handle_response(s, now))
		;
	if (s->err == 0 && s->state == SV_SESSION_ESTABLISHED) {
		/* Bytes after the welcome already belong to the data phase. */
		const uint8_t *rest = sv_buf_peek(&s->in, &n);
		if (n > 0)
			(void)data_input(s, rest, n);
		sv_buf_cleanup(&s->in);
	}
	return s->err;
}

/* --- data phase
 * ------------------------------------------------------------------- */

static void
deliver_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct sv_session *s = arg;
	uint8_t plain[SV_FRAME_MAX_INFLATED];

	if (s->err != 0 || s->ops->on_frame == NULL)
		return;
	if (s->welcome.use_compress) {
		/* Spec 11.4: every frame is one zlib stream; a frame that does not inflate
		 * to at most 1600 bytes is dropped, as the server drops oversized ones. */
		uLongf n = sizeof plain;
		if (uncompress(plain, &n, frame, (uLong)len) != Z_OK) {
			if (s->bad_frames++ == 0)
				log_warn("a compressed frame did not inflate; dropped");
			return;
		}
		frame = plain;
		len = n;
	}
	s->ops->on_frame(s->arg, frame, len);
}

static int
data_input(struct sv_session *s, const uint8_t *p, size_t n)
{
	int r = sv_tunnel_rx_input(&s->rx, p, n, deliver_frame, s);

	if (r != 0) {
		log_warn("bad block message from the server");
		sv_session_fail(s, r);
	}
	return s->err;
}

static void
queue_keepalive(struct sv_session *s, uint64_t now)
{
	uint8_t payload[SV_TUNNEL_KEEPALIVE_SEND_MAX];
	size_t n = random_len(SV_TUNNEL_KEEPALIVE_SEND_MAX);
	int r;

	fill_random(payload, n);
	/* A full queue means the socket is stuck; the dead-peer timer handles
	 * that. */
	if ((r = sv_tunnel_put_keepalive(&s->tx, &s->out, payload, n)) != 0)
		log_debug_r(r, "keep-alive not queued");
	s->last_send = now;
	log_trace("keep-alive, %zu bytes", n);
}

/* see session.h */
int
sv_session_input(struct sv_session *s, const uint8_t *p, size_t n,
                 uint64_t now_ms)
{
	if (s->err != 0)
		return s->err;
	if (n == 0)
		return 0;
	if (!s->started) {
		log_warn("server spoke before the signature was sent");
		sv_session_fail(s, SV_E_PROTO);
		return s->err;
	}
	if (now_ms > s->clock)
		s->clock = now_ms;
	s->last_recv = now_ms;
	if (s->state == SV_SESSION_ESTABLISHED)
		return data_input(s, p, n);
	return handshake_input(s, p, n, now_ms);
}

/* see session.h */
const uint8_t *
sv_session_output(struct sv_session *s, size_t *len)
{
	size_t n;
	const uint8_t *p = sv_buf_peek(&s->out, &n);

	*len = s->err != 0 ? 0 : sv_tunnel_ready(&s->tx, &s->out);
	return p;
}

/* see session.h */
void
sv_session_output_ack(struct sv_session *s, size_t n)
{
	size_t ready = sv_tunnel_ready(&s->tx, &s->out);

	if (s->err != 0)
		return;
	sv_buf_consume(&s->out, n < ready ? n : ready);
	if (s->state == SV_SESSION_SIGNATURE && sv_buf_len(&s->out) == 0)
		set_state(s, SV_SESSION_HELLO);
}

/* see session.h */
int
sv_session_send_frame(struct sv_session *s, const void *frame, size_t len)
{
	if (s->err != 0 || s->state != SV_SESSION_ESTABLISHED)
		return SV_E_CLOSED;
	if (s->direction == 1) /* server->client only (spec 11.5) */
		return SV_E_INVAL;
	if (s->welcome.use_compress) {
		uint8_t z[SV_FRAME_MAX_INFLATED + 64]; /* > compressBound(1600) */
		uLongf n = sizeof z;
		if (len > SV_FRAME_MAX_INFLATED ||
		    compress2(z, &n, frame, (uLong)len, Z_BEST_SPEED) != Z_OK)
			return SV_E_TOOBIG;
		return sv_tunnel_put_frame(&s->tx, &s->out, z, n);
	}
	return sv_tunnel_put_frame(&s->tx, &s->out, frame, len);
}

/* see session.h */
void
sv_session_flush(struct sv_session *s)
{
	/* s->clock may lag the real time: the keep-alive then comes early,
	 * never late. */
	if (s->err == 0 && sv_tunnel_flush(&s->tx, &s->out))
		s->last_send = s->clock;
}

/* see session.h */
int
sv_session_tick(struct sv_session *s, uint64_t now_ms, uint64_t *next_ms)
{
	if (s->err != 0)
		return s->err;
	if (now_ms > s->clock)
		s->clock = now_ms;
	if (!s->started) {
		*next_ms = now_ms + IDLE_TICK_MS;
		return 0;
	}
	if (s->state != SV_SESSION_ESTABLISHED) {
		if (elapsed(now_ms, s->step_start) >= HANDSHAKE_MS) {
			log_warn("no %s from the server within %u ms",
			         state_names[s->state], HANDSHAKE_MS);
			sv_session_fail(s, SV_E_TIMEOUT);
			return s->err;
		}
		*next_ms = s->step_start + HANDSHAKE_MS;
		return 0;
	}
	/* spec 11.5: the receive timeout applies only where we receive, keep-alives go
	 * only where we send */
	bool receives = s->direction != 2, sends = s->direction != 1;
	if (receives && elapsed(now_ms, s->last_recv) >= s->dead_ms) {
		log_warn("nothing received for %u ms", s->dead_ms);
		sv_session_fail(s, SV_E_TIMEOUT);
		return s->err;
	}
	if (sends && elapsed(now_ms, s->last_send) >= s->ka_ms)
		queue_keepalive(s, now_ms);
	uint64_t dead = receives ? s->last_recv + s->dead_ms : UINT64_MAX;
	uint64_t ka = sends ? s->last_send + s->ka_ms : now_ms + IDLE_TICK_MS;
	*next_ms = dead < ka ? dead : ka;
	return 0;
}

/* see session.h */
enum sv_session_state
sv_session_state(const struct sv_session *s)
{
	return s->state;
}

/* see session.h */
const char *
sv_session_state_name(enum sv_session_state st)
{
	if ((unsigned)st >= sizeof state_names / sizeof state_names[0])
		return "?";
	return state_names[st];
}

/* see session.h */
int
sv_session_error(const struct sv_session *s)
{
	return s->err;
}

/* see session.h */
unsigned
sv_session_server_error(const struct sv_session *s)
{
	return s->server_error;
}
