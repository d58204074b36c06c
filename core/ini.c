/* INI reader; see ini.h. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "ini.h"

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* Drops blanks at both ends of s[0..*n); returns the new start. */
static char *
trim(char *s, size_t *n)
{
	while (*n > 0 && is_blank(*s)) {
		s++;
		(*n)--;
	}
	while (*n > 0 && is_blank(s[*n - 1]))
		(*n)--;
	return s;
}

/* What may follow a value or a section: blanks, then nothing or a comment. */
static bool
only_comment_left(const char *s)
{
	while (is_blank(*s))
		s++;
	return *s == '\0' || *s == '#' || *s == ';';
}

/* "[ name ]" in line (NUL-terminated, modifiable) -> name with inner blank
 * runs collapsed, in place. */
static int
parse_section(char *line, char **name, char *err, size_t cap)
{
	char *close = strchr(line, ']');
	if (close == NULL)
		return sv_errf(err, cap, "%s", "a section line needs a closing ']'");
	if (!only_comment_left(close + 1))
		return sv_errf(err, cap, "%s", "unexpected text after ']'");
	size_t n = (size_t)(close - line - 1);
	char *s = trim(line + 1, &n), *w = s;
	for (size_t i = 0; i < n; i++) {
		if (is_blank(s[i]) && w > s && w[-1] == ' ')
			continue;
		*w++ = is_blank(s[i]) ? ' ' : s[i];
	}
	*w = '\0';
	if (w == s)
		return sv_errf(err, cap, "%s", "empty section name '[]'");
	*name = s;
	return 0;
}

/* A double-quoted value starting at s[0] == '"': unescaped in place. */
static int
parse_quoted(char *s, char **value, char *err, size_t cap)
{
	char *r = s + 1, *w = s;
	for (;; r++) {
		if (*r == '\0')
			return sv_errf(err, cap, "%s", "missing closing '\"'");
		if (*r == '"')
			break;
		if (*r == '\\') {
			if (r[1] != '"' && r[1] != '\\')
				return sv_errf(err, cap, "%s", "in quotes, '\\' may only "
					"precede '\"' or '\\'");
			r++;
		}
		*w++ = *r;
	}
	if (!only_comment_left(r + 1))
		return sv_errf(err, cap, "%s", "unexpected text after the closing '\"'");
	*w = '\0';
	*value = s;
	return 0;
}

/* An unquoted value: up to a blank followed by '#' or ';', trimmed. */
static void
parse_plain(char *s, char **value)
{
	char *end = s + strlen(s);
	for (char *p = s; *p != '\0'; p++) {
		if (is_blank(*p) && (p[1] == '#' || p[1] == ';')) {
			end = p;
			break;
		}
	}
	size_t n = (size_t)(end - s);
	s = trim(s, &n);
	s[n] = '\0';
	*value = s;
}

/* "key [= value]" in line (trimmed, NUL-terminated, modifiable). */
static int
parse_pair(char *line, char **key, char **value, char *err, size_t cap)
{
	size_t klen = 0;
	while (is_key_char(line[klen]))
		klen++;
	char *rest = line + klen;
	while (is_blank(*rest))
		rest++;
	if (klen == 0 || (*rest != '=' && !only_comment_left(rest)))
		return sv_errf(err, cap, "%s", "expected 'key = value' (keys are "
			"letters, digits, '-', '_' and '.'), '[section]' or a comment");
	bool has_value = *rest == '=';
	line[klen] = '\0';
	*key = line;
	*value = NULL;
	if (!has_value)
		return 0;
	rest++;
	char *v = rest;
	while (is_blank(*v))
		v++;
	if (*v == '"')
		return parse_quoted(v, value, err, cap);
	parse_plain(rest, value); /* "key = # note" is an empty value */
	return 0;
}

static int
parse_line(char *line, char *section, sv_ini_fn *fn, void *arg, unsigned no,
	char *err, size_t cap)
{
	size_t n = strlen(line);
	line = trim(line, &n);
	line[n] = '\0';
	if (n == 0 || line[0] == '#' || line[0] == ';')
		return 0;
	int r;
	if (line[0] == '[') {
		char *name = NULL;
		if ((r = parse_section(line, &name, err, cap)) != 0)
			return r;
		memmove(section, name, strlen(name) + 1); /* both < SV_INI_LINE_MAX */
		return fn(arg, section, NULL, NULL, no, err, cap);
	}
	char *key = NULL, *value = NULL;
	if ((r = parse_pair(line, &key, &value, err, cap)) != 0)
		return r;
	return fn(arg, section, key, value, no, err, cap);
}

/* see ini.h */
int
sv_ini_parse(const char *text, size_t len, sv_ini_fn *fn, void *arg,
	unsigned *errline, char *err, size_t errcap)
{
	char line[SV_INI_LINE_MAX + 1], section[SV_INI_LINE_MAX + 1] = "";
	unsigned no = 0;
	int r = 0;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		text += 3;
		len -= 3;
	}
	while (len > 0 && r == 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - text) : len;
		size_t step = nl != NULL ? n + 1 : n;
		no++;
		if (n > 0 && text[n - 1] == '\r')
			n--;
		if (n > SV_INI_LINE_MAX)
			r = sv_errf(err, errcap, "line longer than %u bytes",
				SV_INI_LINE_MAX);
		else if (memchr(text, '\0', n) != NULL)
			r = sv_errf(err, errcap, "%s", "NUL byte (not a text file?)");
		else {
			memcpy(line, text, n);
			line[n] = '\0';
			r = parse_line(line, section, fn, arg, no, err, errcap);
		}
		text += step;
		len -= step;
	}
	if (r != 0 && errline != NULL)
		*errline = no;
	return r;
}
