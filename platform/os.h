/*
 * OS services main needs that libuv does not cover: the password (environment, file or
 * a no-echo terminal prompt), a stable machine identity, the per-instance MAC slot, and
 * the few calls around Unix socket files (lstat, umask, a connect probe).
 */
#ifndef SV_OS_H
#define SV_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The password: $SEVPN_PASSWORD, else the first line of file (if not NULL), else a prompt
 * on /dev/tty without echo. Returns a heap string the caller wipes and frees, or NULL with
 * a sentence for the user in err. The environment variable is removed after reading so
 * that child processes never see it.
 */
char *sv_os_read_password(const char *file, const char *user, const char *server,
	char *err, size_t errcap);

/*
 * A MAC address that stays the same across runs of the same configuration on this
 * machine, yet differs between instances running at the same time: it hashes the
 * machine id, the user id, the account (key) and a slot number; the slot is the lowest
 * one whose lock file this process could lock (held until exit). Locally administered,
 * unicast. 0 or -errno (no slot could be locked).
 */
int sv_os_derive_mac(const char *key, uint8_t mac[6], unsigned *slot);

/* 20 bytes that identify this installation (machine id and user id), for SoftEther's
 * unique_id, so that logins of the same machine are recognised as one. */
void sv_os_unique_id(uint8_t out[20]);

/* Host name for the server's session list; "localhost" if unknown. */
const char *sv_os_hostname(void);

/*
 * Reads a whole file of at most max bytes. On success *data (returned owned; the caller
 * wipes it if it is secret, then frees it) and *len are set and 0 is returned; else
 * -errno, or SV_E_TOOBIG when the file is larger than max.
 */
int sv_os_read_file(const char *path, size_t max, uint8_t **data, size_t *len);

/* Raise RLIMIT_NOFILE's soft limit to the hard limit. */
void sv_os_raise_nofile(void);

/*
 * Unix socket files, for the listeners (socks/listener.c) that libuv binds.
 */
/* The longest path a Unix socket can be bound at (the size of sun_path, less its NUL). */
size_t sv_os_unix_path_max(void);
/* Makes path (borrowed) free for a new Unix socket: 0 when nothing is there or when a
 * stale socket file (no server accepts on it) was removed (*removed true); -EADDRINUSE
 * when a server accepts on it, -EEXIST when it is not a socket, or -errno. */
int sv_os_unix_path_clear(const char *path, bool *removed);
/* Sets the file mode creation mask; returns the previous one (for the restore). */
unsigned sv_os_umask(unsigned mask);
/* Mode 0600 for the file at path (owner only). 0 or -errno. */
int sv_os_make_private(const char *path);
/* Removes the file at path; one that is already gone is not an error. 0 or -errno. */
int sv_os_unlink(const char *path);

#endif
