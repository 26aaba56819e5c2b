/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the config loader (src/cfg.c and the device parse hooks),
 * cfg_load_string on arbitrary text.
 *
 * Input: the text of a vhostd.json, as is (a NUL is added at the end, so
 * an embedded NUL ends the text early, as for a file).  The loader must
 * either return a configuration or NULL with a non-empty error text whose
 * every line is "fuzz.json:LINE:COL: ..." , and never both.  Use with the
 * dictionary tests/fuzz/config.dict.
 */
#include "config.h"

#include "cfg.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet_logs("fuzz_config");
	return 0;
}

static void
check_errors(const char *errors)
{
	const char *line = errors, *nl;

	if (errors == NULL || *errors == '\0')
		abort();
	while (*line != '\0') {
		if (strncmp(line, "fuzz.json:", 10) != 0) {
			fprintf(stderr, "fuzz_config: bad error line: %s\n",
			    line);
			abort();
		}
		nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		line = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhostd_cfg *cfg;
	char *text, *errors = NULL;
	size_t i;

	if (size > 65536)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	cfg = cfg_load_string(text, "fuzz.json", &errors);
	if (cfg != NULL) {
		if (errors != NULL)
			abort();
		/* What the loader promises of every device. */
		for (i = 0; i < cfg->ndevs; i++) {
			const struct dev_cfg *dc = &cfg->devs[i];

			if (dc->ops == NULL || dc->socket[0] != '/' ||
			    memchr(dc->id, '\0', sizeof(dc->id)) == NULL ||
			    memchr(dc->socket, '\0',
			    sizeof(dc->socket)) == NULL)
				abort();
		}
		cfg_free(cfg);
	} else
		check_errors(errors);
	free(errors);
	free(text);
	return 0;
}
