/* SPDX-License-Identifier: MIT */
/* Report rows as an aligned text table or a spreadsheet-safe CSV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory/inventory.h"

#define TABLE_CELL_MAX 64 /* a table cell longer than this is cut with "..." */

int inv_format_parse(const char *name)
{
	if (name == NULL || strcmp(name, "table") == 0)
		return INV_FMT_TABLE;
	if (strcmp(name, "csv") == 0)
		return INV_FMT_CSV;
	if (strcmp(name, "json") == 0)
		return INV_FMT_JSON;
	return -1;
}

/* A cell as text into buf: strings as they are, numbers in decimal, else "". */
static const char *cell(const json_t *row, const char *col, char *buf, size_t cap)
{
	const json_t *v = json_object_get(row, col);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "yes" : "no";
	return "";
}

/* Table text: control characters shown as '?' a byte (the columns count bytes), so a name
 * cannot move the cursor: C0, DEL, and C1 (U+0080..U+009F, UTF-8 C2 80..C2 9F: U+009B is
 * a CSI to terminals that take C1 controls). */
static void table_cell(FILE *out, const char *s, size_t width, int last)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, n = strlen(s);
	int cut = n > TABLE_CELL_MAX;

	if (cut)
		n = TABLE_CELL_MAX - 3;
	for (i = 0; i < n; i++) {
		int c1 = u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f;
		if (c1) {
			fputs("??", out);
			i++;
			continue;
		}
		fputc(u[i] < 0x20 || u[i] == 0x7f ? '?' : u[i], out);
	}
	if (cut)
		fputs("...", out);
	if (!last)
		fprintf(out, "%*s", (int)(width - (cut ? TABLE_CELL_MAX : n) + 2), "");
}

int inv_rows_write(FILE *out, const json_t *rows, const char *const *cols, inv_format_t fmt)
{
	size_t nc = 0, i, c, width[32] = { 0 };
	json_t *row;
	char buf[32];

	while (cols[nc] != NULL && nc < 32)
		nc++;
	if (fmt == INV_FMT_CSV) {
		for (c = 0; c < nc; c++)
			if (util_csv_cell(out, cols[c], c + 1 == nc) != 0)
				return CAIRN_EIO;
		json_array_foreach(rows, i, row)
			for (c = 0; c < nc; c++)
				if (util_csv_cell(out, cell(row, cols[c], buf, sizeof(buf)), c + 1 == nc) != 0)
					return CAIRN_EIO;
		return fflush(out) == 0 ? 0 : CAIRN_EIO;
	}
	for (c = 0; c < nc; c++)
		width[c] = strlen(cols[c]);
	json_array_foreach(rows, i, row)
		for (c = 0; c < nc; c++) {
			size_t n = strlen(cell(row, cols[c], buf, sizeof(buf)));
			n = n > TABLE_CELL_MAX ? TABLE_CELL_MAX : n;
			width[c] = n > width[c] ? n : width[c];
		}
	for (c = 0; c < nc; c++)
		table_cell(out, cols[c], width[c], c + 1 == nc);
	fputc('\n', out);
	json_array_foreach(rows, i, row) {
		for (c = 0; c < nc; c++)
			table_cell(out, cell(row, cols[c], buf, sizeof(buf)), width[c], c + 1 == nc);
		fputc('\n', out);
	}
	return fflush(out) == 0 ? 0 : CAIRN_EIO;
}
