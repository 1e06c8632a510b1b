/* `lcow run`: create, start, wait, delete; the exit status is the container's. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "client.h"
#include "log.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] run [OPTIONS] CONTAINER-ID\n"
	"\n"
	"Creates and starts a container from an OCI bundle in a utility VM (see `lcow create\n"
	"--help` for bundles and UVMs), with lcow's stdin, stdout and stderr, or with\n"
	"process.terminal lcow's terminal (put in raw mode; its size follows SIGWINCH). Without\n"
	"--detach it waits for the container, forwards the signals it gets to the container's\n"
	"process, deletes the container (and its UVM, unless that is a pod) and exits with the\n"
	"container's exit status (128+N after signal N).\n"
	"\n"
	"Options:\n"
	"  -b, --bundle DIR        the bundle (default: the current directory)\n"
	"  -d, --detach            return once the container runs\n"
	"  --uvm ID                run in the UVM (pod) ID, starting it when it does not run\n"
	"  --uvm-mode MODE         auto (default), qemu or process (no hypervisor: NOT a\n"
	"                          security boundary); see `lcow create --help`\n"
	"  --pid-file FILE         write the container's pid (in the UVM) to FILE\n"
	"  --console-socket PATH   with --detach and a terminal: where the pty master goes (the\n"
	"                          console follows its size)\n"
	"  --network none|user|ns:PATH\n"
	"                          the container's network (default: the spec's network\n"
	"                          namespace path if it has one, else user in qemu mode and\n"
	"                          none in process mode; user is qemu mode only); see `lcow\n"
	"                          create --help`\n"
	"  -p, --publish [IP:]HOSTPORT:CTRPORT[/tcp|udp]\n"
	"                          with --network user: forward a host port (on 127.0.0.1\n"
	"                          unless IP is given) to the container's port; repeatable\n"
	"  --no-pivot, --no-new-keyring  accepted and ignored\n"
	"  -h, --help              show this help\n";

int cmd_run(int argc, char **argv)
{
	struct create_opts o;
	struct gcs_error err = { 0 };
	struct ctl_conn conn;
	struct created cr;
	json_t *req;
	bool done;
	int rc = create_parse("run", usage, argc, argv, &o, &done);

	if (rc != 0 || done)
		return rc;
	if (!o.detach)
		client_hold_signals();
	rc = create_container(&o, &cr);
	if (rc != 0)
		return rc;

	req = json_pack("{s:s, s:s, s:b}", "op", "start", "id", o.id, "wait", !o.detach);
	if (cr.terminal && !o.detach) {
		term_size(STDIN_FILENO, req);
		term_raw(STDIN_FILENO);
	}
	rc = client_begin(cr.uvm, req, NULL, 0, CALL_MS, &conn, NULL, &err);
	json_decref(req);
	if (rc < 0) {
		delete_quietly(o.id, cr.uvm);
		return fail("%s", err.message);
	}
	if (o.detach) {
		ctl_close(&conn);
		return 0;
	}
	rc = client_wait_exit(&conn, cr.uvm, o.id, 0, cr.terminal, &err);
	ctl_close(&conn);
	if (rc < 0)
		return fail("%s", err.message);
	delete_quietly(o.id, cr.uvm);
	return rc;
}
