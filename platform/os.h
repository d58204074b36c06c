/*
 * OS services main needs that libuv does not cover: the password (environment, file or
 * a no-echo terminal prompt), a stable machine identity, and the per-instance MAC slot.
 */
#ifndef SV_OS_H
#define SV_OS_H

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

#endif
