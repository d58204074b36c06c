/*
 * A small INI reader for the configuration file: the syntax of ssh_config and
 * wireproxy's files, no I/O (the caller reads the file and passes its bytes).
 *
 *   # a comment            ; also a comment (first non-blank character)
 *   server = vpn.example.com:443
 *   socks = 1080           # an inline comment needs a blank before '#' or ';'
 *   hub = "My Hub"         # quotes keep blanks, '#' and ';'; \" and \\ inside
 *   insecure               # a key alone (no '='): a value of NULL
 *   [profile work]         # a section: everything up to the next one
 *
 * Lines end in LF or CRLF; a UTF-8 byte order mark at the start is skipped.
 * Keys are letters, digits, '-', '_' and '.'; section names are trimmed and
 * inner blanks collapsed to one space ("profile  work" -> "profile work").
 * Lines longer than SV_INI_LINE_MAX bytes and NUL bytes are refused.
 */
#ifndef SV_INI_H
#define SV_INI_H

#include <stddef.h>

#define SV_INI_LINE_MAX 4096

/*
 * Called once per key line, in file order. section is "" before the first
 * [section] line; value is NULL for a key without '='. Also called once for
 * each [section] line, with key and value NULL, so that the caller can check
 * the name where it stands. All strings are borrowed for the call. Returns 0 to go on, or a negative
 * code (with a sentence in err) to stop the parse with that code.
 */
typedef int sv_ini_fn(void *arg, const char *section, const char *key,
	const char *value, unsigned line, char *err, size_t errcap);

/*
 * Parses text[0..len) (borrowed; need not be NUL-terminated), calling fn for
 * every key. Returns 0, or SV_E_INVAL for a syntax error, or whatever fn
 * returned; then *errline (may be NULL) is the 1-based line number and err
 * holds a sentence without the file name or line (the caller prefixes both).
 */
int sv_ini_parse(const char *text, size_t len, sv_ini_fn *fn, void *arg,
	unsigned *errline, char *err, size_t errcap);

#endif
