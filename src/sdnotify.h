/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * systemd's service notification protocol (sd_notify(3)) and its watchdog,
 * spoken directly on a datagram socket: no libsystemd.  Only main uses it,
 * from its event loop thread.  Outside systemd (no $NOTIFY_SOCKET) every
 * call is a no-op.
 */
#ifndef VHOSTD_SDNOTIFY_H
#define VHOSTD_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

/*
 * Reads $NOTIFY_SOCKET (a path, or "@name" for an abstract socket),
 * $WATCHDOG_USEC and $WATCHDOG_PID, connects a datagram socket to the
 * manager's socket and removes the variables from the environment, so that
 * no worker inherits them.  Main calls it once, before its lockdown: from
 * then on it only sends on that connected socket, which its seccomp policy
 * allows (sendto).  A variable that is malformed or a socket that cannot be
 * reached is logged and notification is off: vhostd serves all the same.
 */
void	sdnotify_init(void);

/* True if a notification socket is open. */
bool	sdnotify_enabled(void);

/* The watchdog interval the manager asked for, in microseconds; 0 if none
 * or if $WATCHDOG_PID named another process. */
uint64_t sdnotify_watchdog_usec(void);

/*
 * Sends one notification: newline-separated assignments such as
 * "READY=1\nSTATUS=serving 3 devices".  Never blocks.  Returns 0 (also
 * when notification is off) or -1 after logging why (rate-limited).
 */
int	sdnotify_send(const char *fmt, ...) __attribute__((format(printf, 1,
	    2)));

/*
 * With a watchdog interval, adds a timer to main's event loop that sends
 * "WATCHDOG=1" every half interval, so that a main stuck anywhere stops
 * sending and is restarted by the manager.  Returns 0 or -1 after logging.
 */
int	sdnotify_watchdog_start(struct event_base *base);

/* Frees the timer and closes the socket. */
void	sdnotify_close(void);

#endif
