/*
 * init's messages: one line each on the console (fd 2 of PID 1, the kernel's /dev/console),
 * "lcow-init: ..." so that a serial log can be grepped for them.
 */
#pragma once

#include <stdnoreturn.h>

/* Makes sure fds 0-2 are open: the console when the kernel gave us none, else /dev/null. */
void log_open_console(void);

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seconds since boot (CLOCK_BOOTTIME), for "t=..." in the messages. */
double log_uptime(void);

/*
 * Start-up failed before the agent ran (catatonit's rule): say why on the console and power
 * the VM off. PID 1 never returns from main, since that panics the kernel.
 */
noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* sync, then reboot(RB_POWER_OFF); waits forever should that ever fail. */
noreturn void power_off(void);
