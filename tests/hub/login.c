/*
 * Login check and welcome PACK of the test hub (spec sections 7, 8, 10). Pure; see hub.h.
 * Accounts come from the command line (hub_config_add_user / _anonymous).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/err.h"
#include "hub.h"

enum {
	ERR_DISCONNECTED = 3,
	ERR_PROTOCOL_ERROR = 4,
	ERR_AUTHTYPE_NOT_SUPPORTED = 7,
	ERR_HUB_NOT_FOUND = 8,
	ERR_AUTH_FAILED = 9,
	ERR_NOT_SUPPORTED = 33,
};

#define MAX_CONNECTION 32u /* policy MaxConnection of a 5.01 hub */

/* see hub.h */
void
hub_config_init(struct hub_config *c)
{
	memset(c, 0, sizeof *c);
	c->listen_host = "127.0.0.1";
	c->timeout_ms = 20000;
	c->max_sessions = 64;
	hub_net_defaults(&c->net);
}

/* see hub.h */
void
hub_config_cleanup(struct hub_config *c)
{
	for (size_t i = 0; i < c->n_hubs; i++)
		free(c->hubs[i]);
	for (size_t i = 0; i < c->n_users; i++) {
		if (c->users[i].password) {
			explicit_bzero(c->users[i].password, strlen(c->users[i].password));
			free(c->users[i].password);
		}
	}
	explicit_bzero(c, sizeof *c);
}

static struct hub_user *
new_user(struct hub_config *c, const char *name, size_t len)
{
	if (len == 0 || len > HUB_NAME_MAX || c->n_users >= sizeof c->users / sizeof c->users[0])
		return NULL;
	for (size_t i = 0; i < c->n_users; i++)
		if (strlen(c->users[i].name) == len && strncasecmp(c->users[i].name, name, len) == 0)
			return NULL;
	struct hub_user *u = &c->users[c->n_users];
	memset(u, 0, sizeof *u);
	memcpy(u->name, name, len);
	return u;
}

/* see hub.h */
int
hub_config_add_user(struct hub_config *c, const char *spec)
{
	const char *colon = strchr(spec, ':');
	if (colon == NULL)
		return SV_E_INVAL;
	struct hub_user *u = new_user(c, spec, (size_t)(colon - spec));
	if (u == NULL)
		return SV_E_INVAL;
	u->kind = HUB_USER_PASSWORD;
	u->password = strdup(colon + 1);
	if (u->password == NULL)
		return SV_E_NOMEM;
	sv_auth_password_hash(u->stored, u->name, u->password, strlen(u->password));
	c->n_users++;
	return 0;
}

/* see hub.h */
int
hub_config_add_anonymous(struct hub_config *c, const char *name)
{
	struct hub_user *u = new_user(c, name, strlen(name));
	if (u == NULL)
		return SV_E_INVAL;
	u->kind = HUB_USER_ANONYMOUS;
	c->n_users++;
	return 0;
}

static const struct hub_user *
find_user(const struct hub_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_users; i++)
		if (strcasecmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

static bool
hub_exists(const struct hub_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_hubs; i++)
		if (strcasecmp(cfg->hubs[i], name) == 0)
			return true;
	return cfg->n_hubs == 0 && strcasecmp(name, "DEFAULT") == 0;
}

/* Constant-time comparison of two 20-byte hashes. */
static bool
hash_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;
	for (int i = 0; i < 20; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

/* Spec 7.2: anonymous first, then the requested type. Returns an ERR_* code. */
static unsigned
check_auth(const struct hub_user *u, const struct sv_pack *req, const uint8_t random[20])
{
	uint32_t authtype = 0;
	(void)sv_pack_get_int(req, "authtype", &authtype);
	if (u != NULL && u->kind == HUB_USER_ANONYMOUS)
		return 0;
	if (authtype == 0)
		return ERR_AUTH_FAILED;
	if (authtype == 1) {
		const uint8_t *sp;
		size_t n;
		uint8_t proof[20];
		if (!sv_pack_get_data(req, "secure_password", &sp, &n) || n != 20)
			return ERR_PROTOCOL_ERROR;
		if (u == NULL)
			return ERR_AUTH_FAILED;
		sv_auth_secure_password(proof, u->stored, random);
		bool ok = hash_equal(proof, sp);
		explicit_bzero(proof, sizeof proof);
		return ok ? 0 : ERR_AUTH_FAILED;
	}
	if (authtype == 2) {
		const char *pw;
		if (!sv_pack_get_str(req, "plain_password", &pw))
			return ERR_PROTOCOL_ERROR;
		/* The receiver trims surrounding whitespace (spec section 5). */
		while (*pw == ' ' || *pw == '\t')
			pw++;
		size_t n = strlen(pw);
		while (n > 0 && (pw[n - 1] == ' ' || pw[n - 1] == '\t'))
			n--;
		if (u == NULL)
			return ERR_AUTH_FAILED;
		uint8_t stored[20];
		sv_auth_password_hash(stored, u->name, pw, n);
		bool ok = hash_equal(stored, u->stored);
		explicit_bzero(stored, sizeof stored);
		return ok ? 0 : ERR_AUTH_FAILED;
	}
	if (authtype == 3)
		return ERR_AUTH_FAILED; /* certificate users are not configurable yet */
	return ERR_AUTHTYPE_NOT_SUPPORTED;
}

/* see hub.h */
void
hub_login_check(const struct hub_config *cfg, const struct sv_pack *req,
	const uint8_t random[20], struct hub_login_result *res)
{
	memset(res, 0, sizeof *res);
	const char *method, *hub, *user;
	uint32_t v;
	if (sv_pack_get_int(req, "noop", &v) && v != 0) {
		res->noop = true;
		return;
	}
	if (!sv_pack_find(req, "method") || !sv_pack_get_str(req, "method", &method) ||
		sv_pack_find(req, "method")->type != SV_PACK_STR) {
		res->error = ERR_PROTOCOL_ERROR;
		return;
	}
	if (strcmp(method, "additional_connect") == 0) {
		/* Spec 12: only the key's form here; the caller looks the session up. */
		const uint8_t *key;
		size_t n;
		res->additional = true;
		if (!sv_pack_get_data(req, "session_key", &key, &n) || n != sizeof res->session_key)
			res->error = ERR_PROTOCOL_ERROR;
		else
			memcpy(res->session_key, key, n);
		return;
	}
	if (strcmp(method, "login") != 0) {
		res->error = ERR_PROTOCOL_ERROR;
		return;
	}
	/* Getters are type-strict on the real server: hubname as UNISTR is "missing". */
	const struct sv_pack_elem *eh = sv_pack_find(req, "hubname");
	const struct sv_pack_elem *eu = sv_pack_find(req, "username");
	if (eh == NULL || eh->type != SV_PACK_STR || eu == NULL || eu->type != SV_PACK_STR ||
		!sv_pack_get_str(req, "hubname", &hub) || !sv_pack_get_str(req, "username", &user)) {
		res->error = ERR_PROTOCOL_ERROR;
		return;
	}
	if (!hub_exists(cfg, hub)) {
		res->error = ERR_HUB_NOT_FOUND;
		return;
	}
	if (cfg->faults.login_error) {
		res->error = cfg->faults.login_error;
		return;
	}
	const struct hub_user *u = find_user(cfg, user);
	res->error = check_auth(u, req, random);
	if (res->error != 0)
		return;
	/* use_encrypt=0 would switch the real server to raw TCP after the welcome. */
	if (!sv_pack_get_int(req, "use_encrypt", &v) || v == 0) {
		res->error = ERR_NOT_SUPPORTED;
		return;
	}
	snprintf(res->user, sizeof res->user, "%s", u->name);
	/* Spec 8: min(request, policy MaxConnection 32), at least 1, at least 2 with QoS.
	 * half_connection is never granted (the welcome says 0). */
	uint32_t want = 1;
	(void)sv_pack_get_int(req, "max_connection", &want);
	res->max_connection = want < 1 ? 1 : want > MAX_CONNECTION ? MAX_CONNECTION : want;
	res->qos = sv_pack_get_int(req, "qos", &v) && v != 0;
	if (res->qos && res->max_connection < 2)
		res->max_connection = 2;
}

/* Spec section 8: what a 5.01 server grants by default. */
static const char *const policy_bools_on[] = { "Access", "NoBridge", "NoRouting", "Ver3" };
static const char *const policy_bools_off[] = { "DHCPFilter", "DHCPNoServer", "DHCPForce",
	"PrivacyFilter", "NoServer", "CheckMac", "CheckIP", "ArpDhcpOnly", "MonitorPort",
	"NoBroadcastLimiter", "FixPassword", "NoQoS", "RSandRAFilter", "RAFilter",
	"DHCPv6Filter", "DHCPv6NoServer", "NoRoutingV6", "CheckIPv6", "NoServerV6",
	"NoSavePassword", "FilterIPv4", "FilterIPv6", "FilterNonIP", "NoIPv6DefaultRouterInRA",
	"NoIPv6DefaultRouterInRAWhenIPv6" };

static int
add_policies(struct sv_pack *p, uint32_t timeout_s, uint32_t auto_disconnect_s)
{
	char name[64];
	int r = 0;
	for (size_t i = 0; r == 0 && i < sizeof policy_bools_on / sizeof *policy_bools_on; i++) {
		snprintf(name, sizeof name, "policy:%s", policy_bools_on[i]);
		r = sv_pack_add_int(p, name, 1);
	}
	for (size_t i = 0; r == 0 && i < sizeof policy_bools_off / sizeof *policy_bools_off; i++) {
		snprintf(name, sizeof name, "policy:%s", policy_bools_off[i]);
		r = sv_pack_add_int(p, name, 0);
	}
	const struct {
		const char *name;
		uint32_t v;
	} nums[] = { { "policy:MaxConnection", MAX_CONNECTION }, { "policy:TimeOut", timeout_s },
		{ "policy:MaxMac", 0 }, { "policy:MaxIP", 0 }, { "policy:MaxUpload", 0 },
		{ "policy:MaxDownload", 0 }, { "policy:MultiLogins", 0 }, { "policy:MaxIPv6", 0 },
		{ "policy:AutoDisconnect", auto_disconnect_s }, { "policy:VLanId", 0 } };
	for (size_t i = 0; r == 0 && i < sizeof nums / sizeof *nums; i++)
		r = sv_pack_add_int(p, nums[i].name, nums[i].v);
	return r;
}

/* see hub.h */
int
hub_login_welcome(const struct hub_config *cfg, const struct hub_login_result *res,
	unsigned id, const uint8_t session_key[20], uint32_t session_key_32, struct sv_pack *out)
{
	const char *user = res->user;
	char sid[HUB_NAME_MAX + 32], cid[32];
	size_t i = 0;
	for (; user[i] && i < HUB_NAME_MAX; i++)
		sid[i] = (user[i] >= 'a' && user[i] <= 'z') ? (char)(user[i] - 'a' + 'A') : user[i];
	sid[i] = '\0';
	char uname[HUB_NAME_MAX + 1];
	memcpy(uname, sid, i + 1);
	snprintf(sid, sizeof sid, "SID-%s-%u", uname, id);
	snprintf(cid, sizeof cid, "CID-%u", id);
	int r;
	if ((r = sv_pack_add_str(out, "session_name", sid)) != 0 ||
		(r = sv_pack_add_str(out, "connection_name", cid)) != 0 ||
		(r = sv_pack_add_data(out, "session_key", session_key, 20)) != 0 ||
		(r = sv_pack_add_int(out, "session_key_32", session_key_32)) != 0 ||
		(r = sv_pack_add_int(out, "max_connection", res->max_connection)) != 0 ||
		(r = sv_pack_add_int(out, "use_encrypt", 1)) != 0 ||
		(r = sv_pack_add_int(out, "use_compress", 0)) != 0 ||
		(r = sv_pack_add_int(out, "half_connection", 0)) != 0 ||
		(r = sv_pack_add_int(out, "timeout", cfg->timeout_ms)) != 0 ||
		(r = sv_pack_add_int(out, "qos", res->qos)) != 0 ||
		(r = sv_pack_add_int(out, "is_azure_session", 0)) != 0 ||
		(r = sv_pack_add_int(out, "vlan_id", 0)) != 0 ||
		(r = sv_pack_add_int(out, "enable_udp_recovery", 0)) != 0 ||
		(r = sv_pack_add_int(out, "suppress_client_update_notification", 0)) != 0 ||
		(r = sv_pack_add_data(out, "Msg", "", 0)) != 0)
		return r;
	return add_policies(out, cfg->timeout_ms / 1000, cfg->auto_disconnect_s);
}
