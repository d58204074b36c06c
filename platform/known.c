/* Known-servers file for trust on first use; see known.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/tls.h"
#include "platform/known.h"
#include "platform/os.h"

#define KEY_MAX 300

/* see known.h */
char *
sv_known_servers_default_path(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	const char *base, *sub;
	char *out;

	if (xdg != NULL && xdg[0] == '/') { /* relative values are to be ignored */
		base = xdg;
		sub = "";
	} else if (home != NULL && home[0] != '\0') {
		base = home;
		sub = "/.local/share";
	} else {
		return NULL;
	}
	size_t n = strlen(base) + strlen(sub) + sizeof "/sevpn-proxy/known_servers";
	if ((out = malloc(n)) == NULL)
		return NULL;
	snprintf(out, n, "%s%s/sevpn-proxy/known_servers", base, sub);
	return out;
}

/* see known.h */
void
sv_known_servers_key(const char *host, uint16_t port, char *out, size_t cap)
{
	bool v6 = strchr(host, ':') != NULL;
	snprintf(out, cap, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
		(unsigned)port);
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * One line s[0..n): 0 = blank or comment, 1 = an entry (key and pin set),
 * SV_E_INVAL = malformed.
 */
static int
parse_entry(const char *s, size_t n, char key[KEY_MAX + 1], uint8_t pin[32])
{
	char pinbuf[160];
	size_t i = 0, k0, k1, p0, p1;

	while (i < n && is_blank(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	k0 = i;
	while (i < n && !is_blank(s[i]))
		i++;
	k1 = i;
	while (i < n && is_blank(s[i]))
		i++;
	p0 = i;
	while (i < n && !is_blank(s[i]))
		i++;
	p1 = i;
	while (i < n && is_blank(s[i]))
		i++;
	if (i != n || p0 == p1 || k1 - k0 > KEY_MAX || p1 - p0 >= sizeof pinbuf)
		return SV_E_INVAL;
	memcpy(key, s + k0, k1 - k0);
	key[k1 - k0] = '\0';
	memcpy(pinbuf, s + p0, p1 - p0);
	pinbuf[p1 - p0] = '\0';
	if (strrchr(key, ':') == NULL || sv_tls_parse_pin(pinbuf, pin) != 0)
		return SV_E_INVAL;
	return 1;
}

/* Reads the file; a missing file is an empty one. */
static int
read_all(const char *path, uint8_t **data, size_t *len)
{
	int r = sv_os_read_file(path, SV_KNOWN_FILE_MAX, data, len);
	if (r == -ENOENT) {
		*data = NULL;
		*len = 0;
		return 0;
	}
	return r;
}

/* see known.h */
int
sv_known_servers_lookup(const char *path, const char *host, uint16_t port,
	uint8_t pin[32], unsigned *line)
{
	char want[KEY_MAX + 1], key[KEY_MAX + 1];
	uint8_t *data, p[32];
	size_t len;
	unsigned no = 0;
	int r;

	sv_known_servers_key(host, port, want, sizeof want);
	if ((r = read_all(path, &data, &len)) != 0)
		return r;
	const char *s = (const char *)data;
	r = 0;
	while (len > 0) {
		const char *nl = memchr(s, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - s) : len;
		no++;
		int e = parse_entry(s, n, key, p);
		if (e < 0 || (e == 1 && strcasecmp(key, want) == 0)) {
			if (e == 1)
				memcpy(pin, p, 32);
			if (line != NULL)
				*line = no;
			r = e;
			break;
		}
		s += nl != NULL ? n + 1 : n;
		len -= nl != NULL ? n + 1 : n;
	}
	free(data);
	return r;
}

/* mkdir -p of the directory part of path, new directories 0700. */
static int
make_parents(const char *path)
{
	char dir[4096];
	size_t n = strlen(path);
	if (n >= sizeof dir)
		return -ENAMETOOLONG;
	memcpy(dir, path, n + 1);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes text[0..n) to path through a temporary file and rename. */
static int
replace_file(const char *path, const char *text, size_t n)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
	int fd, r;

	if (tmp == NULL)
		return SV_E_NOMEM;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
	if ((fd = mkstemp(tmp)) < 0) { /* mkstemp creates it 0600 */
		r = -errno;
		free(tmp);
		return r;
	}
	r = write_all(fd, text, n);
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r != 0)
		unlink(tmp);
	free(tmp);
	return r;
}

/* see known.h */
int
sv_known_servers_add(const char *path, const char *host, uint16_t port,
	const uint8_t pin[32])
{
	char want[KEY_MAX + 1], key[KEY_MAX + 1];
	uint8_t *data, p[32];
	size_t len, w = 0;
	int r;

	sv_known_servers_key(host, port, want, sizeof want);
	if (strlen(want) >= KEY_MAX || strpbrk(want, " \t\r\n#") != NULL)
		return SV_E_INVAL;
	if ((r = read_all(path, &data, &len)) != 0)
		return r;
	char *out = malloc(len + KEY_MAX + 80);
	if (out == NULL) {
		free(data);
		return SV_E_NOMEM;
	}
	const char *s = (const char *)data;
	for (size_t left = len; left > 0;) {
		const char *nl = memchr(s, '\n', left);
		size_t n = nl != NULL ? (size_t)(nl - s) : left;
		int e = parse_entry(s, n, key, p);
		if (e < 0) {
			r = SV_E_INVAL;
			goto out;
		}
		if (e == 0 || strcasecmp(key, want) != 0) { /* keep the line */
			memcpy(out + w, s, n);
			w += n;
			out[w++] = '\n';
		}
		s += nl != NULL ? n + 1 : n;
		left -= nl != NULL ? n + 1 : n;
	}
	w += (size_t)sprintf(out + w, "%s ", want);
	for (int i = 0; i < 32; i++)
		w += (size_t)sprintf(out + w, "%02x", pin[i]);
	out[w++] = '\n';
	if ((r = make_parents(path)) == 0)
		r = replace_file(path, out, w);
out:
	free(out);
	free(data);
	return r;
}

/* see known.h */
void
sv_known_servers_mismatch_text(const char *path, unsigned line, const char *host,
	uint16_t port, const uint8_t got[32], char *out, size_t cap)
{
	char key[KEY_MAX + 1], fp[32 * 3];
	sv_known_servers_key(host, port, key, sizeof key);
	for (int i = 0; i < 32; i++)
		snprintf(fp + 3 * i, sizeof fp - 3 * (size_t)i, "%02X%s", got[i],
			i < 31 ? ":" : "");
	snprintf(out, cap, "the server certificate of %s (SHA-256 %s) is not the one "
		"recorded in %s line %u: someone may be intercepting the connection. If "
		"the server's certificate was legitimately changed, delete line %u of %s "
		"and connect again with --trust-on-first-use (or --pin the new "
		"fingerprint)", key, fp, path, line, line, path);
}
