/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhostd --print-capabilities: the "Backend program conventions" of
 * QEMU's vhost-user specification have each back-end program print its
 * capabilities as JSON and exit, so that management software can learn
 * what it may ask of it without starting it.  The schema
 * (docs/interop/vhost-user.json, VHostUserBackendCapabilities) describes a
 * program of one device type: {"type": ..., "features": [...]}.  vhostd is
 * one server for every type it knows, so it prints the list of them
 * instead of one "type"; vhostd(8), SYSTEMD AND VMMS, says so.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "caps.h"
#include "device.h"

int
caps_print(FILE *f)
{
	json_t *caps, *types;
	char *text = NULL;
	size_t i;
	int rc = -1;

	caps = json_object();
	types = json_array();
	if (caps == NULL || types == NULL)
		goto out;
	for (i = 0; dev_registry[i] != NULL; i++)
		if (json_array_append_new(types,
		    json_string(dev_registry[i]->name)) == -1)
			goto out;
	if (json_object_set(caps, "types", types) == -1 ||
	    json_object_set_new(caps, "features", json_array()) == -1 ||
	    json_object_set_new(caps, "version",
	    json_string(PACKAGE_VERSION)) == -1)
		goto out;
	if ((text = json_dumps(caps, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
	    == NULL)
		goto out;
	if (fprintf(f, "%s\n", text) < 0 || fflush(f) == EOF)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		fprintf(stderr, "vhostd: cannot print the capabilities\n");
	free(text);
	json_decref(types);
	json_decref(caps);
	return rc;
}
