/*
 * Error codes shared by every module.
 *
 * A function that can fail returns int: 0 on success or a negative code. Project
 * conditions are SV_E_* (from -1000 down); negative errno values coming from platform/
 * or mapped from lwIP (-ECONNREFUSED, -ETIMEDOUT, ...) pass through unchanged.
 * sv_strerror() prints either kind.
 *
 * SoftEther's own ERR_* numbers (the `error` element of a server PACK) are a separate
 * space: sv_softether_err_name() and sv_softether_err_text() turn them into words.
 */
#ifndef SV_ERR_H
#define SV_ERR_H

enum {
	SV_E_INCOMPLETE = -1000, /* need more input bytes; not an error */
	SV_E_PROTO = -1001,      /* peer violated the protocol */
	SV_E_TOOBIG = -1002,     /* a size or count exceeds its ceiling */
	SV_E_AUTH = -1003,       /* login refused (see the server error code) */
	SV_E_TLS = -1004,        /* TLS handshake or record failure */
	SV_E_CLOSED = -1005,     /* peer closed the connection */
	SV_E_TIMEOUT = -1006,    /* nothing received in time */
	SV_E_NOMEM = -1007,      /* allocation failed */
	SV_E_INTERNAL = -1008,   /* our own invariant broke */
	SV_E_INVAL = -1009,      /* bad argument or configuration value */
	SV_E_NOTVPN = -1010,     /* the server does not speak SoftEther */
	SV_E_SERVER = -1011,     /* the server refused with an ERR_* code */
	SV_E_CERT = -1012,       /* server certificate not trusted / pin mismatch */
	SV_E_NOTFOUND = -1013,   /* name or element not found */
	SV_E_NOPORT = -1014,     /* no free local port in the tunnel's stack */
};

#include <stddef.h>

/* Formats a sentence for the user into err[0..cap) and returns SV_E_INVAL: the one way
 * parsers of configuration say what is wrong. */
int sv_errf(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Text for an SV_E_* code or a negative errno. Never NULL. */
const char *sv_strerror(int r);

/* SoftEther ERR_* code -> its upstream name, e.g. 8 -> "HUB_NOT_FOUND"; "UNKNOWN" if none. */
const char *sv_softether_err_name(unsigned code);

/*
 * SoftEther ERR_* code -> one sentence in plain words saying what happened and what the
 * user can do, e.g. 9 -> "the user name or password was rejected by the server; check
 * --user and the password". Never NULL.
 */
const char *sv_softether_err_text(unsigned code);

/* True for ERR_* codes where retrying the same login cannot help (7, 8, 9, 12, 51, 85, ...). */
int sv_softether_err_is_permanent(unsigned code);

#endif
