/*
 * sevpn-proxy: process entry. Parses the command line, reads the password, derives the
 * MAC and installation id, then runs the client (app.c) and turns its result into the
 * exit status documented in --help.
 */
#define SV_LOG_MODULE "main"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/credentials.h"
#include "core/err.h"
#include "core/log.h"
#include "core/session.h"
#include "platform/app.h"
#include "platform/config.h"
#include "platform/os.h"

#ifndef SV_VERSION
#define SV_VERSION "0.1.0"
#endif

static int
read_credential_file(const char *opt, const char *path, uint8_t **data, size_t *len)
{
	int r = sv_os_read_file(path, SV_CREDENTIALS_FILE_MAX, data, len);
	if (r == SV_E_TOOBIG)
		log_err("%s %s: larger than %u KiB, not a certificate or key file", opt, path,
			SV_CREDENTIALS_FILE_MAX / 1024);
	else if (r != 0)
		log_err_r(r, "cannot read %s %s", opt, path);
	return r;
}

/* Reads --cert and --key and checks that they belong together. 0, or a message logged
 * and SV_E_INVAL (or another error code). */
static int
load_credentials(const struct sv_config *cfg, struct sv_credentials **out)
{
	uint8_t *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	char err[512] = "";
	int r = read_credential_file("--cert", cfg->cert_file, &cert, &cert_len);
	if (r != 0)
		return r;
	r = read_credential_file("--key", cfg->key_file, &key, &key_len);
	if (r == 0) {
		r = sv_credentials_new(out, cert, cert_len, key, key_len, err, sizeof err);
		if (r != 0)
			log_err("--cert %s / --key %s: %s", cfg->cert_file, cfg->key_file, err);
		explicit_bzero(key, key_len);
		free(key);
	}
	free(cert);
	return r;
}

static int
prepare_identity(const struct sv_config *cfg, struct sv_app_params *p)
{
	if (cfg->have_mac) {
		memcpy(p->mac, cfg->mac, 6);
	} else {
		char key[1024];
		unsigned slot = 0;
		snprintf(key, sizeof key, "%s\n%u\n%s\n%s", cfg->server_host, cfg->server_port,
			cfg->hub, cfg->user);
		int r = sv_os_derive_mac(key, p->mac, &slot);
		if (r != 0) {
			log_err_r(r, "cannot pick a MAC address (all instance slots are taken); "
				"give one with --mac");
			return r;
		}
		log_debug("mac: %02x:%02x:%02x:%02x:%02x:%02x (slot %u)", p->mac[0], p->mac[1],
			p->mac[2], p->mac[3], p->mac[4], p->mac[5], slot);
	}
	sv_os_unique_id(p->unique_id);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sv_config cfg;
	char err[512] = "";
	sv_config_init(&cfg);
	if (sv_config_parse(&cfg, argc, argv, err, sizeof err) != 0) {
		fprintf(stderr, "sevpn-proxy: %s\n", err);
		sv_config_cleanup(&cfg);
		return SV_EXIT_REFUSED;
	}
	if (cfg.want_help || cfg.want_version) {
		fputs(cfg.want_help ? sv_config_usage() : "sevpn-proxy " SV_VERSION "\n", stdout);
		sv_config_cleanup(&cfg);
		return 0;
	}
	sv_log_set_level(cfg.log_level);
	sv_os_raise_nofile();

	struct sv_app_params p = { .cfg = &cfg, .authtype = cfg.authtype };
	char *password = NULL;
	struct sv_credentials *creds = NULL;
	int rc = SV_EXIT_FAILURE;
	if (cfg.authtype == SV_AUTH_CERT) {
		if (load_credentials(&cfg, &creds) != 0) {
			rc = SV_EXIT_REFUSED;
			goto out;
		}
		sv_credentials_session_cert(creds, &p.cert);
	} else if (cfg.authtype != SV_AUTH_ANONYMOUS) {
		password = sv_os_read_password(cfg.password_file, cfg.user, cfg.server_host, err,
			sizeof err);
		if (password == NULL) {
			log_err("%s", err);
			rc = SV_EXIT_REFUSED;
			goto out;
		}
		if (cfg.authtype == SV_AUTH_PASSWORD)
			sv_auth_password_hash(p.password_hash, cfg.user, password, strlen(password));
		else
			p.plain_password = password;
	}
	if (prepare_identity(&cfg, &p) != 0)
		goto out;
	if (cfg.authtype == SV_AUTH_PASSWORD) { /* only the hash is needed from here on */
		explicit_bzero(password, strlen(password));
		free(password);
		password = NULL;
	}
	rc = sv_app_run(&p);
out:
	explicit_bzero(p.password_hash, sizeof p.password_hash);
	sv_credentials_free(creds);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	sv_config_cleanup(&cfg);
	return rc;
}
