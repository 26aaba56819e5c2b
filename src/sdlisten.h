/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Socket activation (sd_listen_fds(3)), without libsystemd: the listening
 * sockets a service manager passes from fd 3 on ($LISTEN_FDS, for the pid
 * in $LISTEN_PID, named by $LISTEN_FDNAMES) are given to the devices they
 * belong to.  Main only: sdlisten_init before its lockdown.
 */
#ifndef VHOSTD_SDLISTEN_H
#define VHOSTD_SDLISTEN_H

#include <stddef.h>

#include "cfg.h"

/*
 * Takes the passed sockets, if any are for us, and removes the variables
 * from the environment.  Each must be a listening AF_UNIX stream socket,
 * and is given to one device: the device whose id is the socket's name
 * (systemd's FileDescriptorName=), else the device whose "socket" is the
 * path the socket is bound to.  A socket that is of another kind, that
 * matches no device, that matches a device that connects rather than
 * listens, or a second socket for one device, is an error logged naming
 * the socket.  Returns 0 (also when nothing was passed), or -1 after
 * logging every error: the caller then exits.
 */
int	sdlisten_init(const struct vhostd_cfg *cfg);

/*
 * The passed socket of device dc, if it has one now: the one whose name
 * is dc's id, else one bound to dc's "socket" (unless that one was matched
 * to another device by its name at start).  Main, at any time (a device
 * set up by a reload or vhostctl add too).  Returns 1 with *fd a new
 * duplicate of it (non-blocking, close-on-exec, the caller's to close: the
 * passed socket itself stays open for the next instance), 0 if none is
 * dc's, or -1 after logging why it cannot be had.  The socket file is the
 * service manager's: the caller must not remove it.
 */
int	sdlisten_take(const struct dev_cfg *dc, int *fd);

#endif
