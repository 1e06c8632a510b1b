/*
 * lcow's benchmarks (make bench): the agent as a host process, containers through it, the
 * agent in a QEMU utility VM, and TCP through that VM's NIC, each figure beside a baseline
 * measured in the same run (bench.h).
 * Exit status 0 when every part that could run here ran and every process it timed exited as
 * expected; 1 at the first failure, after tearing down what was running.
 *
 *   bench_bridge AGENT [N]   AGENT: the gcs binary; N: iterations per request figure (1000)
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	struct bench_run r = { .agent = argc > 1 ? argv[1] : "build/default/gcs",
			       .n = argc > 2 ? atoi(argv[2]) : 1000 };
	double t0 = now_us();

	if (argc > 3 || r.n < 1) {
		fprintf(stderr, "usage: %s AGENT [N]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	bench_agent(&r);
	bench_containers(&r);
	bench_vm(&r);
	bench_net(&r);
	/* Every process this run started has been waited for. */
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
		bench_fail("a child process is left");
	if (r.not_run)
		printf("bench: done in %.0f s; %d part(s) could not run here (NOT RUN above)\n",
		       (now_us() - t0) / 1e6, r.not_run);
	else
		printf("bench: done in %.0f s; every part ran, every timed process exited as "
		       "expected\n",
		       (now_us() - t0) / 1e6);
	return 0;
}
