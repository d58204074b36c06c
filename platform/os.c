/* OS services for main; see os.h. */
#define SV_LOG_MODULE "os"

#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "platform/os.h"

#define PASSWORD_MAX 1024
#define MAC_SLOTS 64

static char *
read_first_line(FILE *f)
{
	char *line = calloc(1, PASSWORD_MAX + 2);
	if (line == NULL)
		return NULL;
	if (fgets(line, PASSWORD_MAX + 2, f) == NULL)
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static char *
prompt_tty(const char *user, const char *server, char *err, size_t errcap)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (tty == NULL) {
		snprintf(err, errcap, "no password: set SEVPN_PASSWORD, use --password-file "
			"FILE, or run on a terminal to be asked");
		return NULL;
	}
	struct termios old, quiet;
	int fd = fileno(tty);
	int have_termios = tcgetattr(fd, &old) == 0;
	if (have_termios) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	fprintf(tty, "Password for %s@%s: ", user, server);
	fflush(tty);
	char *line = read_first_line(tty);
	if (have_termios)
		tcsetattr(fd, TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	if (line == NULL)
		snprintf(err, errcap, "out of memory reading the password");
	return line;
}

/* see os.h */
char *
sv_os_read_password(const char *file, const char *user, const char *server, char *err,
	size_t errcap)
{
	const char *env = getenv("SEVPN_PASSWORD");
	if (env != NULL) {
		char *p = strdup(env);
		/* wipe the environment copy too: /proc/PID/environ shows the original */
		explicit_bzero((char *)env, strlen(env));
		unsetenv("SEVPN_PASSWORD");
		if (p == NULL)
			snprintf(err, errcap, "out of memory reading the password");
		return p;
	}
	if (file != NULL) {
		FILE *f = fopen(file, "r");
		if (f == NULL) {
			snprintf(err, errcap, "cannot read --password-file %s: %s", file,
				strerror(errno));
			return NULL;
		}
		char *p = read_first_line(f);
		fclose(f);
		if (p == NULL)
			snprintf(err, errcap, "out of memory reading the password");
		return p;
	}
	return prompt_tty(user, server, err, errcap);
}

static size_t
machine_id(char *out, size_t cap)
{
	static const char *const paths[] = { "/etc/machine-id", "/var/lib/dbus/machine-id" };
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		FILE *f = fopen(paths[i], "r");
		if (f == NULL)
			continue;
		size_t n = fread(out, 1, cap, f);
		fclose(f);
		if (n > 0)
			return n;
	}
	if (gethostname(out, cap) == 0)
		return strnlen(out, cap);
	return 0;
}

static void
identity_hash(br_sha256_context *h, const char *what)
{
	char id[256];
	size_t n = machine_id(id, sizeof id);
	uid_t uid = getuid();
	br_sha256_init(h);
	br_sha256_update(h, what, strlen(what) + 1);
	br_sha256_update(h, id, n);
	br_sha256_update(h, &uid, sizeof uid);
}

static int
lock_slot(const char *dir, const uint8_t tag[8], unsigned slot)
{
	char path[512];
	snprintf(path, sizeof path, "%s/mac-%02x%02x%02x%02x%02x%02x%02x%02x-%u.lock", dir,
		tag[0], tag[1], tag[2], tag[3], tag[4], tag[5], tag[6], tag[7], slot);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd; /* kept open (and locked) until the process exits */
}

static int
lock_dir(char *out, size_t cap)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (rt != NULL && rt[0] == '/')
		snprintf(out, cap, "%s/sevpn-proxy", rt);
	else
		snprintf(out, cap, "/tmp/sevpn-proxy-%u", (unsigned)getuid());
	if (mkdir(out, 0700) != 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (lstat(out, &st) != 0)
		return -errno;
	/* another user may have created /tmp/sevpn-proxy-UID first: do not use theirs */
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid())
		return -EPERM;
	return 0;
}

/* see os.h */
int
sv_os_derive_mac(const char *key, uint8_t mac[6], unsigned *slot)
{
	br_sha256_context h;
	uint8_t base[32];
	identity_hash(&h, "sevpn-proxy mac");
	br_sha256_update(&h, key, strlen(key));
	br_sha256_out(&h, base);

	char dir[400];
	int r = lock_dir(dir, sizeof dir);
	if (r != 0) {
		log_warn_r(r, "mac: no private lock directory; concurrent instances may share a MAC");
		*slot = 0;
	} else {
		for (*slot = 0; *slot < MAC_SLOTS; (*slot)++)
			if ((r = lock_slot(dir, base, *slot)) >= 0)
				break;
		if (*slot == MAC_SLOTS)
			return -EBUSY;
	}
	uint8_t d[32];
	br_sha256_init(&h);
	br_sha256_update(&h, base, sizeof base);
	br_sha256_update(&h, slot, sizeof *slot);
	br_sha256_out(&h, d);
	mac[0] = 0x02; /* locally administered, unicast; 02:5e like the spec's probe */
	mac[1] = 0x5e;
	memcpy(mac + 2, d, 4);
	return 0;
}

/* see os.h */
void
sv_os_unique_id(uint8_t out[20])
{
	br_sha256_context h;
	uint8_t d[32];
	identity_hash(&h, "sevpn-proxy unique id");
	br_sha256_out(&h, d);
	memcpy(out, d, 20);
}

/* see os.h */
const char *
sv_os_hostname(void)
{
	static char name[256];
	if (name[0] == '\0' && (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0'))
		strcpy(name, "localhost");
	return name;
}

/* see os.h */
int
sv_os_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	uint8_t *buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return SV_E_NOMEM;
	}
	size_t n = fread(buf, 1, max + 1, f); /* one byte more tells "too big" */
	int r = ferror(f) ? -EIO : n > max ? SV_E_TOOBIG : 0;
	fclose(f);
	if (r != 0) {
		explicit_bzero(buf, max + 1);
		free(buf);
		return r;
	}
	*data = buf;
	*len = n;
	return 0;
}

/* see os.h */
void
sv_os_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* see os.h */
size_t
sv_os_unix_path_max(void)
{
	return sizeof ((struct sockaddr_un *)NULL)->sun_path - 1;
}

/* Does a server accept connections on the Unix socket at path? */
static bool
unix_socket_is_live(const char *path)
{
	struct sockaddr_un sa;
	bool live;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return true; /* cannot tell: do not delete it */
	live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ||
		(errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return live;
}

/* see os.h */
int
sv_os_unix_path_clear(const char *path, bool *removed)
{
	struct stat st;

	*removed = false;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unix_socket_is_live(path))
		return -EADDRINUSE;
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	*removed = true;
	return 0;
}

/* see os.h */
unsigned
sv_os_umask(unsigned mask)
{
	return (unsigned)umask((mode_t)mask);
}

/* see os.h */
int
sv_os_make_private(const char *path)
{
	return chmod(path, 0600) == 0 ? 0 : -errno;
}

/* see os.h */
int
sv_os_unlink(const char *path)
{
	return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}
