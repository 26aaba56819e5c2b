/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vubench --scale N --vhostd PATH: one vhostd serving N devices of one
 * type (rng by default) spread over --vms socket groups ("VMs": directory
 * vmNN of the runtime directory, ids vmNN-TYPEk), in a fresh directory
 * under /tmp.  It measures:
 *
 *   listen	time from fork+exec of vhostd to every device socket
 *		listening (/proc/net/unix, polled every millisecond), which
 *		is when a VMM's connect succeeds;
 *   PSS	of main alone before any front-end, and of main and its
 *		workers (smaps_rollup, summed) after the run; and USS, their
 *		private pages, which unlike PSS does not depend on what the
 *		rest of the system maps;
 *   wake-ups	context switches per second (voluntary + involuntary,
 *		every thread) with nothing to do: of main alone before any
 *		front-end, and of main and every worker with all N
 *		front-ends connected and idle, over --idle-seconds;
 *   set-up	connecting and setting up all N front-ends, one after the
 *		other;
 *   throughput	all N driven at once, one thread each, as in the normal
 *		mode (the back-end's CPU time is that of vhostd's tree).
 *
 * The configuration is checked first with vhostd -n; one it refuses (for
 * instance a "datapath" this vhostd does not know) ends the run with exit
 * status 4 and vhostd's messages.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char md_scale_header[] =
    "| devices | VMs | type | listen ms | set-up ms | PSS main kB | "
    "PSS all kB | PSS/device kB | USS/device kB | req/s | p50 us | p99 us | "
    "back-end us/req | wake-ups/s main idle | wake-ups/s all idle | ok | "
    "load |\n"
    "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    "---:|---|---|\n";

static char	 dir[64];
static char	 cfg[PATH_MAX], logpath[PATH_MAX];

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
cleanup(void)
{
	if (dir[0] != '\0' && !O.keep)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
dump_log(void)
{
	char line[1024];
	FILE *f;

	if ((f = fopen(logpath, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(stderr, "  vhostd: %s", line);
	fclose(f);
}

/* The config: n devices over vms directories.  Fills paths[i] with each
 * device's socket and uds[i] with each vsock device's host socket. */
static int
write_config(unsigned n, unsigned vms, char **paths, char **uds)
{
	const char *t = type_name(O.type);
	unsigned i, vm, k, per = (n + vms - 1) / vms;
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/vhostd.json", dir);
	if ((f = fopen(cfg, "w")) == NULL)
		return -1;
	fprintf(f, "{\n  \"runtime_dir\": \"%s\",\n", dir);
	if (O.poll_cores != NULL)
		fprintf(f, "  \"poll_cores\": [%s],\n", O.poll_cores);
	fprintf(f, "  \"devices\": [\n");
	for (i = 0; i < n; i++) {
		vm = i % vms;
		k = i / vms;
		if (asprintf(&paths[i], "%s/vm%02u/%s%u.sock", dir, vm, t, k) ==
		    -1)
			return -1;
		fprintf(f, "    {\"id\": \"vm%02u-%s%u\", \"type\": \"%s\", "
		    "\"socket\": \"vm%02u/%s%u.sock\"", vm, t, k, t, vm, t, k);
		switch (O.type) {
		case BT_GPIO:
			fprintf(f, ", \"backend\": \"sim\", \"chip\": "
			    "\"%s/vm%02u.gpiosim\", \"ngpio\": %u, \"lines\": "
			    "[%u]", dir, vm, per, k);
			break;
		case BT_I2C:
			fprintf(f, ", \"backend\": \"sim\", \"bus\": \"bus%u\", "
			    "\"addresses\": [%u], \"parts\": [{\"type\": "
			    "\"24c02\", \"address\": %u}]", i, O.i2c_addr,
			    O.i2c_addr);
			break;
		case BT_VSOCK:
			if (asprintf(&uds[i], "%s/vs%u", dir, i) == -1)
				return -1;
			fprintf(f, ", \"guest_cid\": %u, \"uds_path\": \"%s\"",
			    3 + i, uds[i]);
			break;
		default:
			break;
		}
		if (O.datapath != NULL)
			fprintf(f, ", \"datapath\": \"%s\"", O.datapath);
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return fclose(f);
}

/* Runs vhostd with args (NULL-terminated after argv[0]), its stderr to
 * the log; returns its pid. */
static pid_t
spawn(const char *const *args)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if ((fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0644)) != -1) {
			dup2(fd, STDOUT_FILENO);	/* -n's "configuration OK" */
			dup2(fd, STDERR_FILENO);
		}
		execv(O.vhostd, (char *const *)args);
		fprintf(stderr, "exec %s: %s\n", O.vhostd, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Context switches per second of pid's tree over s seconds. */
static double
wakeups(pid_t pid, double s, unsigned *nproc)
{
	pid_t tree[BENCH_MAX_DEVS + 8];
	uint64_t a = 0, b = 0;
	unsigned n, i;

	n = proc_tree(pid, tree, BENCH_MAX_DEVS + 8);
	for (i = 0; i < n; i++)
		a += proc_ctxsw(tree[i]);
	sleep_ms((unsigned)(s * 1000));
	for (i = 0; i < n; i++)
		b += proc_ctxsw(tree[i]);
	*nproc = n;
	return s > 0 ? (double)(b - a) / s : 0;
}

/* PSS of pid's tree in kB, -1 if unknown; *uss its private pages. */
static long
tree_pss(pid_t pid, unsigned *nproc, long *uss)
{
	pid_t tree[BENCH_MAX_DEVS + 8];
	unsigned n, i;
	long sum = 0, kb, u;

	*uss = 0;
	n = proc_tree(pid, tree, BENCH_MAX_DEVS + 8);
	for (i = 0; i < n; i++) {
		if ((kb = proc_pss_kb(tree[i], &u)) < 0) {
			*uss = -1;
			return -1;
		}
		sum += kb;
		*uss += u;
	}
	*nproc = n;
	return sum;
}

int
scale_main(void)
{
	const char *args[6];
	char **paths = NULL, **uds = NULL, load0[64], load1[64];
	unsigned n = O.scale, vms, i, nmain = 0, nall = 0, nidle = 0;
	double listen_ms, wk_main, wk_all, p50, p99, rps, be_us;
	long pss_main, pss_all, uss_main, uss_all, pss_main_all, uss_main_all;
	double pss_dev, uss_dev;
	uint64_t t0, deadline;
	struct run_result r;
	struct bdev *devs = NULL;
	struct floors fl;
	int status, rc = 1, stop_status = -1;
	pid_t pid = -1;

	if (O.md_header) {
		fputs(md_scale_header, stdout);
		return 0;
	}
	vms = O.vms != 0 ? O.vms : n < 64 ? n : 64;
	if (vms > n)
		vms = n;
	loadavg(load0, sizeof(load0));
	if (O.floors)
		floors_measure(&fl, O.size, O.type == BT_RNG);
	snprintf(dir, sizeof(dir), "/tmp/vubench-scale-XXXXXX");
	if (mkdtemp(dir) == NULL || chmod(dir, 0755) == -1) {
		fprintf(stderr, "vubench: mkdtemp: %s\n", strerror(errno));
		return 3;
	}
	snprintf(logpath, sizeof(logpath), "%s/vhostd.log", dir);
	paths = calloc(n, sizeof(*paths));
	uds = calloc(n, sizeof(*uds));
	if (paths == NULL || uds == NULL || write_config(n, vms, paths,
	    uds) == -1) {
		fprintf(stderr, "vubench: writing %s: %s\n", cfg,
		    strerror(errno));
		rc = 3;
		goto out;
	}

	/* Does this vhostd take the configuration? */
	args[0] = "vhostd";
	args[1] = "-n";
	args[2] = "-c";
	args[3] = cfg;
	args[4] = NULL;
	if ((pid = spawn(args)) == -1 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (O.datapath != NULL || O.poll_cores != NULL)
			fprintf(stderr, "vubench: this vhostd does not take "
			    "\"datapath\": \"%s\"%s%s: not available\n",
			    O.datapath != NULL ? O.datapath : "(default)",
			    O.poll_cores != NULL ? " with poll_cores " : "",
			    O.poll_cores != NULL ? O.poll_cores : "");
		else
			fprintf(stderr, "vubench: vhostd -n refuses %s\n",
			    cfg);
		dump_log();
		pid = -1;
		rc = 4;
		goto out;
	}
	unlink(logpath);

	/* Start, and time it until every socket listens. */
	args[1] = "-f";
	t0 = now_ns();
	if ((pid = spawn(args)) == -1) {
		fprintf(stderr, "vubench: fork: %s\n", strerror(errno));
		rc = 3;
		goto out;
	}
	deadline = t0 + 30000000000ULL;
	while (!unix_listening((const char *const *)paths, n)) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "vubench: vhostd exited (status %#x) "
			    "before listening\n", status);
			dump_log();
			pid = -1;
			rc = 3;
			goto out;
		}
		if (now_ns() > deadline) {
			fprintf(stderr, "vubench: not every socket listens "
			    "30 s after the start\n");
			dump_log();
			rc = 3;
			goto out;
		}
		sleep_ms(1);
	}
	listen_ms = (double)(now_ns() - t0) / 1e6;

	/* main alone, idle. */
	sleep_ms(300);
	pss_main = tree_pss(pid, &nmain, &uss_main);
	wk_main = wakeups(pid, O.idle_seconds, &nmain);

	/* All N at once. */
	if ((devs = alloc64(n * sizeof(*devs))) == NULL) {
		rc = 3;
		goto out;
	}
	memset(devs, 0, n * sizeof(*devs));
	for (i = 0; i < n; i++) {
		devs[i].index = i;
		devs[i].path = paths[i];
		if (O.type == BT_VSOCK)
			O.vsock_uds[i] = uds[i];
	}
	if (O.type == BT_VSOCK)
		O.nvsock_uds = n;
	O.trees[O.ntrees++] = pid;
	if (run_devices(devs, n, &r) == -1) {
		dump_log();
		close_devices(devs, n);
		rc = 3;
		goto out;
	}

	/* Everything connected, nothing to do. */
	sleep_ms(300);
	pss_all = tree_pss(pid, &nall, &uss_all);
	/* The workers' share: less main's own at this moment, not before,
	 * since main's PSS and USS shrink by what it now shares with them. */
	if (pss_all < 0 || uss_all < 0 ||
	    (pss_main_all = proc_pss_kb(pid, &uss_main_all)) < 0)
		pss_dev = uss_dev = -1;
	else {
		pss_dev = (double)(pss_all - pss_main_all) / n;
		uss_dev = (double)(uss_all - uss_main_all) / n;
	}
	wk_all = wakeups(pid, O.idle_seconds, &nidle);
	close_devices(devs, n);
	loadavg(load1, sizeof(load1));

	p50 = (double)hist_quantile(&r.lat, 0.5);
	p99 = (double)hist_quantile(&r.lat, 0.99);
	for (rps = 0, i = 0; i < n; i++)
		if (devs[i].res.t_end > devs[i].res.t_start)
			rps += (double)devs[i].res.requests /
			    ((double)(devs[i].res.t_end -
			    devs[i].res.t_start) / 1e9);
	be_us = r.requests > 0 ? (double)r.backend_ns / 1e3 /
	    (double)r.requests : -1;
	rc = r.failed || r.errors > 0 ? 1 : 0;
	for (i = 0; i < n; i++)
		if (devs[i].err[0] != '\0' || devs[i].errors > 0) {
			rc = 1;
			fprintf(stderr, "vubench: %s: %s%s\n", devs[i].path,
			    devs[i].err, devs[i].rerr);
		}

	/* Stop it as a service manager would. */
	kill(pid, SIGTERM);
	deadline = now_ns() + 10000000000ULL;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		sleep_ms(10);
	}
	pid = -1;
	stop_status = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
	if (stop_status != 0) {
		fprintf(stderr, "vubench: vhostd exited with status %d after "
		    "SIGTERM\n", stop_status);
		dump_log();
		rc = 1;
	}

	if (O.json) {
		printf("{\"tool\":\"vubench\",\"mode\":\"scale\",");
		if (O.label != NULL) {
			printf("\"label\":");
			json_str(stdout, O.label);
			printf(",");
		}
		printf("\"devices\":%u,\"vms\":%u,\"type\":\"%s\",\"size\":%u,"
		    "\"depth\":%u,\"completion\":\"%s\",\"datapath\":\"%s\","
		    "\"listen_ms\":%.1f,\"setup_ms\":%.1f,\"pss_main_kb\":%ld,"
		    "\"pss_all_kb\":%ld,\"processes\":%u,"
		    "\"pss_per_device_kb\":%.1f,\"uss_main_kb\":%ld,"
		    "\"uss_all_kb\":%ld,\"uss_per_device_kb\":%.1f,"
		    "\"req_per_s\":%.1f,"
		    "\"bytes_per_s\":%.1f,\"requests\":%" PRIu64 ","
		    "\"lat_ns\":{\"p50\":%.0f,\"p99\":%.0f,\"max\":%" PRIu64 "},"
		    "\"backend_cpu_us_per_req\":%.4f,"
		    "\"wakeups_per_s_main_idle\":%.2f,"
		    "\"wakeups_per_s_all_idle\":%.2f,\"idle_seconds\":%.1f,"
		    "\"errors\":%" PRIu64 ",\"vhostd_exit\":%d,",
		    n, vms, type_name(O.type), O.size, O.depth,
		    O.completion == BC_POLL ? "poll" : "call",
		    O.datapath != NULL ? O.datapath : "default", listen_ms,
		    r.setup_ms, pss_main, pss_all, nall, pss_dev,
		    uss_main, uss_all, uss_dev, rps,
		    (double)r.bytes / (r.seconds > 0 ? r.seconds : 1),
		    r.requests, p50, p99, r.lat.max, be_us, wk_main, wk_all,
		    O.idle_seconds, r.errors, stop_status);
		if (O.floors)
			printf("\"floors\":{\"shm_rtt_ns\":%.1f,"
			    "\"eventfd_rtt_us\":%.3f},", fl.shm_rtt_ns,
			    fl.efd_rtt_us);
		printf("\"loadavg_start\":\"%s\",\"loadavg_end\":\"%s\","
		    "\"ok\":%s}\n", load0, load1, rc == 0 ? "true" : "false");
	}
	if (O.md)
		printf("| %u | %u | %s %u B | %.1f | %.1f | %ld | %ld | %.1f | "
		    "%.1f | %.0f | %.2f | %.2f | %.3f | %.1f | %.1f | %s | %s "
		    "|\n", n, vms, type_name(O.type), O.size, listen_ms,
		    r.setup_ms, pss_main, pss_all, pss_dev,
		    uss_dev, rps, p50 / 1e3,
		    p99 / 1e3, be_us, wk_main, wk_all, rc == 0 ? "ok" :
		    "FAILED", load1);
	if (!O.json && !O.md) {
		printf("vubench --scale %u: %u %s devices over %u VMs, depth "
		    "%u, completion %s, datapath %s\n", n, n, type_name(O.type),
		    vms, O.depth, O.completion == BC_POLL ? "poll" : "call",
		    O.datapath != NULL ? O.datapath : "default");
		printf("  load average %s at the start, %s at the end\n", load0,
		    load1);
		printf("  start: every socket listening %.1f ms after exec\n",
		    listen_ms);
		printf("  set-up of the %u front-ends, one after the other: "
		    "%.1f ms (%.2f ms each)\n", n, r.setup_ms, r.setup_ms / n);
		printf("  PSS: main alone %ld kB; main and %u workers %ld kB "
		    "(the workers' %.1f kB per device)\n", pss_main,
		    nall > 0 ? nall - 1 : 0, pss_all, pss_dev);
		printf("  USS (private pages): main alone %ld kB; main and the "
		    "workers %ld kB (the workers' %.1f kB per device)\n",
		    uss_main, uss_all, uss_dev);
		printf("  all driven at once: %.0f req/s, %.2f MB/s, p50 %.2f "
		    "us, p99 %.2f us, back-end %.3f us CPU per request\n", rps,
		    (double)r.bytes / (r.seconds > 0 ? r.seconds : 1) / 1e6,
		    p50 / 1e3, p99 / 1e3, be_us);
		printf("  idle wake-ups: main alone %.1f/s; main and every "
		    "worker, all front-ends connected, %.1f/s (%u processes, "
		    "%.1f s each)\n", wk_main, wk_all, nidle, O.idle_seconds);
		printf("  result: %s\n", rc == 0 ? "ok" : "FAILED");
	}
	fflush(stdout);
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		sleep_ms(200);
		if (waitpid(pid, &status, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
	}
	free(devs);
	if (paths != NULL)
		for (i = 0; i < n; i++)
			free(paths[i]);
	if (uds != NULL)
		for (i = 0; i < n; i++)
			free(uds[i]);
	free(paths);
	free(uds);
	if (O.keep)
		fprintf(stderr, "vubench: kept %s\n", dir);
	cleanup();
	return rc;
}
