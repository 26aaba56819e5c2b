/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small helpers shared by main's modules and the workers: directory
 * creation for the runtime directory and socket paths, the event base.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "util.h"

/*
 * An event base on epoll whatever the environment says: the seccomp
 * policies allow epoll's system calls only, and the workers' kick events
 * are edge-triggered, which poll(2) and select(2) cannot do.  An
 * EVENT_NOEPOLL inherited from the environment would otherwise pick a
 * backend the filter kills.
 */
struct event_base *
util_event_base(void)
{
	struct event_config *cfg;
	struct event_base *base = NULL;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	if (event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV) == 0 &&
	    event_config_require_features(cfg, EV_FEATURE_ET |
	    EV_FEATURE_O1) == 0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int
util_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

int
util_mkdir_parent(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *slash;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(buf, '/')) == NULL || slash == buf)
		return 0;
	*slash = '\0';
	return util_mkdir_p(buf, mode);
}
