/*
 * Aligned text tables for human output.  Widths are display columns
 * (wcwidth), so UTF-8 descriptions do not break the alignment.  The last
 * column is not padded.
 */
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "cli.h"

struct table {
	size_t	  ncols;
	size_t	  nrows;		/* including the header row */
	size_t	  cap;
	char	**cells;		/* nrows * ncols owned strings */
	size_t	 *width;
};

/* Display width of s; bytes that do not decode count as one column. */
static size_t
display_width(const char *s)
{
	mbstate_t mbs;
	size_t len = strlen(s), w = 0;
	wchar_t wc;
	int cw;

	memset(&mbs, 0, sizeof(mbs));
	while (len > 0) {
		size_t n = mbrtowc(&wc, s, len, &mbs);

		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&mbs, 0, sizeof(mbs));
			n = 1;
			cw = 1;
		} else if ((cw = wcwidth(wc)) < 0)
			cw = 1;
		w += (size_t)cw;
		s += n;
		len -= n;
	}
	return w;
}

struct table *
table_new(size_t ncols, const char *const *headers)
{
	struct table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->width = calloc(ncols, sizeof(*t->width))) == NULL) {
		free(t);
		return NULL;
	}
	t->ncols = ncols;
	if (table_add(t, headers) != 0) {
		table_free(t);
		return NULL;
	}
	return t;
}

/*
 * gcc -fanalyzer (12) loses the strdup()s stored in t->cells[] and reports a
 * leak: table_free() frees every cell of every row up to t->nrows.
 */
#ifndef __clang__	/* a gcc-only warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
int
table_add(struct table *t, const char *const *cells)
{
	size_t i;
	char **nc;

	if (t->nrows == t->cap) {
		size_t ncap = t->cap == 0 ? 16 : t->cap * 2;

		if ((nc = reallocarray(t->cells, ncap * t->ncols,
		    sizeof(*nc))) == NULL)
			return APPUSER_ERR_NOMEM;
		t->cells = nc;
		t->cap = ncap;
	}
	for (i = 0; i < t->ncols; i++) {
		size_t w;

		if ((t->cells[t->nrows * t->ncols + i] = strdup(cells[i] !=
		    NULL ? cells[i] : "")) == NULL) {
			while (i-- > 0)
				free(t->cells[t->nrows * t->ncols + i]);
			return APPUSER_ERR_NOMEM;
		}
		if ((w = display_width(cells[i] != NULL ? cells[i] : "")) >
		    t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
	return 0;
}
#ifndef __clang__
#pragma GCC diagnostic pop
#endif

static void
table_print(const struct table *t, FILE *f)
{
	size_t r, i, pad, last;
	const char *cell;

	for (r = 0; r < t->nrows; r++) {
		/* no trailing blanks: stop after the last non-empty cell */
		for (last = t->ncols - 1; last > 0 &&
		    t->cells[r * t->ncols + last][0] == '\0'; last--)
			;
		for (i = 0; i <= last; i++) {
			cell = t->cells[r * t->ncols + i];
			fputs(cell, f);
			if (i == last)
				break;
			for (pad = t->width[i] - display_width(cell) + 2;
			    pad > 0; pad--)
				fputc(' ', f);
		}
		fputc('\n', f);
	}
}

void
table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

int
table_emit(struct table *t, bool complete)
{
	if (t == NULL || !complete) {
		table_free(t);
		fprintf(stderr, "appuser: out of memory\n");
		return EXIT_ERROR;
	}
	table_print(t, stdout);
	table_free(t);
	return EXIT_OK;
}
