/*
 * A task's stdio as containerd names it to a shim (CreateTaskRequest/ExecProcessRequest stdin,
 * stdout, stderr), opened as an fd for libgcs's GCS_STDIO_FD relays:
 *   ""                 none
 *   /abs/path          a FIFO (containerd's, ctr's and CRI's) or a plain file
 *   fifo:///abs/path   the same
 *   file:///abs/path   a log file, appended to (created 0640 with its directories)
 *   binary://...       a logging binary: refused (-EOPNOTSUPP), not done yet
 */
#pragma once

#include <lcow/gcs.h>

/*
 * Opens stream (GCS_STDIN, GCS_STDOUT or GCS_STDERR) of uri: *ret_fd is O_CLOEXEC, or -1 for
 * "". A FIFO is opened without waiting for its other end, then made blocking: stdin read-write
 * (a writer that has not opened its end yet, or that closed it, is no EOF: containerd says when
 * stdin ends with CloseIO), an output write-only when containerd's reader is there, else
 * read-write so that what is written waits in the pipe for it. Bad URIs are -EINVAL naming them.
 */
GCS_EXPORT int lcow_stdio_open(const char *uri, int stream, int *ret_fd, struct gcs_error *err);
