/*
 * Command line -> struct sv_config, validated in one place.
 *
 * sv_config_parse() never exits and never prints: it returns 0, or SV_E_INVAL with a
 * sentence for the user in err (what is wrong and how to fix it). Help and version are
 * reported through cfg->want_help / cfg->want_version.
 */
#ifndef SV_CONFIG_H
#define SV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tls.h"

#define SV_MAX_LISTENERS 8

struct sv_config {
	char *server_host;    /* owned */
	uint16_t server_port; /* default 443 */
	char *hub;            /* owned; default "DEFAULT" */
	char *user;           /* owned */
	int authtype;         /* enum sv_authtype */
	char *password_file;  /* owned or NULL */
	char *cert_file;      /* owned or NULL; SV_AUTH_CERT only */
	char *key_file;       /* owned or NULL; SV_AUTH_CERT only */

	enum sv_tls_verify verify;
	bool have_pin;
	uint8_t pin[32];
	char *ca_file;        /* owned or NULL (system bundle) */

	char *socks[SV_MAX_LISTENERS]; /* owned listen addresses */
	unsigned n_socks;

	bool have_mac;
	uint8_t mac[6];
	unsigned connect_timeout_ms;
	int log_level;
	bool want_help, want_version;
};

void sv_config_init(struct sv_config *c);
void sv_config_cleanup(struct sv_config *c);
int sv_config_parse(struct sv_config *c, int argc, char **argv, char *err, size_t errcap);
/* Usage text for --help. */
const char *sv_config_usage(void);

/* "02:5e:00:11:22:33" or "02-5e-..." -> mac; 0 or SV_E_INVAL. */
int sv_config_parse_mac(const char *s, uint8_t mac[6]);
/* "host", "host:port", "[v6]:port", "v6" (no port) -> host (owned) + port. */
int sv_config_parse_hostport(const char *s, uint16_t defport, char **host, uint16_t *port);

#endif
