/*
 * The known-servers file for trust on first use, like ssh's known_hosts: one
 * line per VPN server,
 *
 *   vpn.example.com:443 875ca043aa302f9ecd0e2d0c4199e5e2df70dec5888842f79d60d34b7205315b
 *   [2001:db8::1]:443 875ca043...
 *
 * the server as the user named it (host names compared without regard to
 * case) and the SHA-256 of its certificate in hex (colons allowed when
 * edited by hand). '#' starts a comment line; blank lines are skipped.
 * Default place: $XDG_DATA_HOME/sevpn-proxy/known_servers, else
 * ~/.local/share/sevpn-proxy/known_servers.
 *
 * Writes are atomic (a temporary file in the same directory, fsync, rename),
 * the file is created 0600 and missing directories 0700.
 */
#ifndef SV_KNOWN_H
#define SV_KNOWN_H

#include <stddef.h>
#include <stdint.h>

/* The largest known-servers file we read. */
#define SV_KNOWN_FILE_MAX (1024u * 1024u)

/* The default path, returned owned (free it); NULL when neither
 * $XDG_DATA_HOME nor $HOME is set (or no memory). */
char *sv_known_servers_default_path(void);

/*
 * Looks up host:port (host borrowed, without brackets) in the file at path.
 * Returns 1 and writes pin and *line (1-based; line may be NULL) when an
 * entry exists; 0 when none does or the file does not exist; SV_E_INVAL
 * when a line is malformed (*line is then that line: a damaged file must not
 * quietly turn into "never seen this server"); -errno when the file cannot
 * be read; SV_E_TOOBIG past SV_KNOWN_FILE_MAX.
 */
int sv_known_servers_lookup(const char *path, const char *host, uint16_t port,
	uint8_t pin[32], unsigned *line);

/*
 * Records pin for host:port in the file at path, replacing an entry for the
 * same server, keeping every other line. Creates the directories (0700) and
 * the file (0600) as needed. 0, or -errno / SV_E_INVAL (a malformed existing
 * file is left alone) / SV_E_TOOBIG / SV_E_NOMEM.
 */
int sv_known_servers_add(const char *path, const char *host, uint16_t port,
	const uint8_t pin[32]);

/*
 * The sentence for a server whose certificate (got, its SHA-256) is not the one
 * recorded on line `line` of path, into out[0..cap): what happened, the new
 * fingerprint, and the line to delete if the change is legitimate.
 */
void sv_known_servers_mismatch_text(const char *path, unsigned line, const char *host,
	uint16_t port, const uint8_t got[32], char *out, size_t cap);

/* "host:port" or "[v6]:port" as the file writes it, into out[0..cap). */
void sv_known_servers_key(const char *host, uint16_t port, char *out,
	size_t cap);

#endif
