/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core's services to device types (device.h): running a queue again,
 * keeping fds through the worker's lockdown, opening a host resource once
 * for all the instances that share it, and the check that no two
 * instances claim the same unit of a shared resource.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "device.h"

void
dev_queue_run(struct dev_ctx *ctx, unsigned qidx)
{
	if (ctx->queue_run != NULL && qidx < DEV_MAX_QUEUES)
		ctx->queue_run(ctx, qidx);
}

int
dev_keep_fd(struct dev_ctx *ctx, int fd)
{
	if (ctx->n_kept_fds >= DEV_MAX_HOST_FDS) {
		errno = EMFILE;
		return -1;
	}
	ctx->kept_fds[ctx->n_kept_fds++] = fd;
	return 0;
}

/* Host resources main opened, by path, shared by the instances. */
struct host_file {
	char	*path;
	int	 flags;
	int	 fd;
};
static struct host_file	*host_files;
static size_t		 n_host_files;
static bool		 host_locked;

bool
dev_host_locked(void)
{
	return host_locked;
}

void
dev_host_lock(void)
{
	host_locked = true;
}

int
dev_host_open(const char *path, int flags)
{
	struct host_file *h;
	size_t i;
	int fd;

	if (flags & (O_CREAT | O_TRUNC)) {
		/* A shared resource exists already; creating it is the
		 * device's business (with the mode it wants). */
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n_host_files; i++)
		if (strcmp(host_files[i].path, path) == 0 &&
		    host_files[i].flags == flags)
			return fcntl(host_files[i].fd, F_DUPFD_CLOEXEC, 0);
	if ((fd = open(path, flags | O_CLOEXEC)) == -1)
		return -1;
	h = reallocarray(host_files, n_host_files + 1, sizeof(*h));
	if (h == NULL)
		goto fail;
	host_files = h;
	h = &host_files[n_host_files];
	if ((h->path = strdup(path)) == NULL)
		goto fail;
	h->flags = flags;
	h->fd = fd;
	n_host_files++;
	return fcntl(fd, F_DUPFD_CLOEXEC, 0);
fail:
	close(fd);
	errno = ENOMEM;
	return -1;
}

void
dev_host_close_all(void)
{
	size_t i;

	for (i = 0; i < n_host_files; i++) {
		close(host_files[i].fd);
		free(host_files[i].path);
	}
	free(host_files);
	host_files = NULL;
	n_host_files = 0;
}
