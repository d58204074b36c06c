/*
 * sevpn-proxy: process entry. Parses the command line (with the configuration file and
 * the .vpn account), reads the password, derives the MAC and installation id, then runs the client (app.c) and turns its result into the
 * exit status documented in --help.
 */
#define SV_LOG_MODULE "main"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/credentials.h"
#include "core/err.h"
#include "core/log.h"
#include "core/session.h"
#include "platform/app.h"
#include "platform/control.h"
#include "platform/config.h"
#include "platform/mux.h"
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

/* The client certificate and key: --cert/--key, else the account file's (DER in
 * memory). 0, or a message logged and SV_E_INVAL (or another error code). */
static int
load_credentials(const struct sv_config *cfg, struct sv_credentials **out)
{
	uint8_t *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	char err[512] = "";
	int r;

	if (cfg->cert_file == NULL) {
		r = sv_credentials_new(out, cfg->account_cert, cfg->account_cert_len,
			cfg->account_key, cfg->account_key_len, err, sizeof err);
		if (r != 0)
			log_err("account %s: ClientCert / ClientKey: %s", cfg->account_file, err);
		return r;
	}
	r = read_credential_file("--cert", cfg->cert_file, &cert, &cert_len);
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

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* --password-env VAR: its value (returned owned), removed from the environment
 * so that child processes never see it. NULL with a message in err. */
static char *
password_from_env(const char *var, char *err, size_t errcap)
{
	char *env = getenv(var);
	if (env == NULL) {
		snprintf(err, errcap, "--password-env %s: the variable is not set", var);
		return NULL;
	}
	char *p = strdup(env);
	explicit_bzero(env, strlen(env)); /* /proc/PID/environ shows the original */
	unsetenv(var);
	if (p == NULL)
		snprintf(err, errcap, "out of memory reading the password");
	return p;
}

/*
 * The password, from the first source that has one: --password-env VAR,
 * $SEVPN_PASSWORD, --password-file, the account file's stored password (then
 * *stored is set and NULL returned for SV_AUTH_PASSWORD, whose hash is in cfg),
 * a prompt on the terminal. NULL and a message in err when there is none.
 */
static char *
get_password(const struct sv_config *cfg, bool *stored, char *err, size_t errcap)
{
	*stored = false;
	if (cfg->password_env != NULL)
		return password_from_env(cfg->password_env, err, errcap);
	if (getenv("SEVPN_PASSWORD") != NULL || cfg->password_file != NULL)
		return sv_os_read_password(cfg->password_file, cfg->user, cfg->server_host,
			err, errcap);
	if (cfg->authtype == SV_AUTH_PLAIN && cfg->stored_password != NULL) {
		char *p = strdup(cfg->stored_password);
		if (p == NULL)
			snprintf(err, errcap, "out of memory reading the password");
		return p;
	}
	if (cfg->authtype == SV_AUTH_PASSWORD && cfg->have_password_hash) {
		*stored = true;
		return NULL;
	}
	return sv_os_read_password(NULL, cfg->user, cfg->server_host, err, errcap);
}

/* --check-config: the credentials must be there (without prompting or
 * connecting). 0 or SV_E_INVAL, with a message logged. */
static int
check_credentials(const struct sv_config *cfg)
{
	struct sv_credentials *creds = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	int r = 0;

	if (cfg->authtype == SV_AUTH_CERT) {
		r = load_credentials(cfg, &creds);
		sv_credentials_free(creds);
	} else if (cfg->authtype != SV_AUTH_ANONYMOUS && cfg->password_env != NULL &&
		   getenv(cfg->password_env) == NULL) {
		log_err("--password-env %s: the variable is not set", cfg->password_env);
		r = SV_E_INVAL;
	} else if (cfg->authtype != SV_AUTH_ANONYMOUS && cfg->password_file != NULL &&
		   (r = sv_os_read_file(cfg->password_file, 64 * 1024, &data, &len)) != 0) {
		log_err_r(r, "cannot read --password-file %s", cfg->password_file);
	}
	if (data != NULL) {
		explicit_bzero(data, len);
		free(data);
	}
	return r != 0 ? SV_E_INVAL : 0;
}

/* --log-file: appended to, created 0600. */
static FILE *
open_log_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "sevpn-proxy: cannot open --log-file %s: %s\n", path,
			strerror(errno));
		return NULL;
	}
	FILE *f = fdopen(fd, "a");
	if (f == NULL) {
		close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
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

/* `sevpn-proxy status [--control [ADDR:]PORT]`: a running instance's status screen. */
static int
status_command(int argc, char **argv)
{
	const char *addr = getenv("SEVPN_CONTROL");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
			addr = argv[++i];
		else if (strncmp(argv[i], "--control=", 10) == 0)
			addr = argv[i] + 10;
		else {
			fprintf(stderr, "usage: sevpn-proxy status [--control [ADDR:]PORT]\n");
			return SV_EXIT_REFUSED;
		}
	}
	if (addr == NULL) {
		fprintf(stderr, "sevpn-proxy status: say where the instance listens: "
			"--control [ADDR:]PORT (as given to it), or $SEVPN_CONTROL\n");
		return SV_EXIT_REFUSED;
	}
	char err[512];
	if (sv_control_fetch_status(addr, stdout, err, sizeof err) != 0) {
		fprintf(stderr, "sevpn-proxy status: %s\n", err);
		return SV_EXIT_FAILURE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sv_config cfg;
	char err[1024] = "";
	FILE *log_file = NULL;
	/* A proxy client that goes away while we write to it must cost one connection
	 * (EPIPE), not the process. */
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return status_command(argc, argv);
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
	if (cfg.check_config) {
		int ok = check_credentials(&cfg) == 0;
		if (ok)
			sv_config_print(&cfg, stdout);
		sv_config_cleanup(&cfg);
		return ok ? SV_EXIT_OK : SV_EXIT_REFUSED;
	}
	if (cfg.log_file != NULL) {
		if ((log_file = open_log_file(cfg.log_file)) == NULL) {
			sv_config_cleanup(&cfg);
			return SV_EXIT_FAILURE;
		}
		sv_log_set_sink(log_file);
	}
	sv_config_log_notes(&cfg);
	/* --stdio: an instance for this account may already be up (platform/mux.h); then
	 * no password is read and no login made */
	int attached_rc;
	if (cfg.have_stdio && !cfg.no_attach && sv_mux_stdio(&cfg, &attached_rc)) {
		sv_config_cleanup(&cfg);
		if (log_file != NULL) {
			sv_log_set_sink(NULL);
			fclose(log_file);
		}
		return attached_rc;
	}
	sv_os_raise_nofile();

	struct sv_app_params p = {
		.cfg = &cfg,
		.authtype = cfg.authtype,
		.upstream = cfg.use_upstream ? &cfg.upstream : NULL,
		.control = cfg.control,
		.ready_file = cfg.ready_file,
		.exec_argv = cfg.exec_argv,
		.compress = cfg.compress,
		.max_tcp = cfg.max_tcp,
		.half_duplex = cfg.half_duplex,
	};
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
		bool stored;
		password = get_password(&cfg, &stored, err, sizeof err);
		if (password == NULL && !stored) {
			log_err("%s", err);
			rc = SV_EXIT_REFUSED;
			goto out;
		}
		if (stored) {
			memcpy(p.password_hash, cfg.password_hash, sizeof p.password_hash);
			log_debug("password: the hash stored in the account file");
		} else if (cfg.authtype == SV_AUTH_PASSWORD) {
			sv_auth_password_hash(p.password_hash, cfg.user, password,
				strlen(password));
		} else {
			p.plain_password = password;
		}
	}
	if (prepare_identity(&cfg, &p) != 0)
		goto out;
	if (cfg.authtype == SV_AUTH_PASSWORD) { /* only the hash is needed from here on */
		wipe_free(password);
		password = NULL;
	}
	rc = sv_app_run(&p);
out:
	explicit_bzero(p.password_hash, sizeof p.password_hash);
	sv_credentials_free(creds);
	wipe_free(password);
	sv_config_cleanup(&cfg);
	if (log_file != NULL) {
		sv_log_set_sink(NULL);
		fclose(log_file);
	}
	return rc;
}
