/* The UVM's network at boot: just the loopback interface, as hcsshim's init does. */
#pragma once

/* Brings "lo" up (SIOCSIFFLAGS IFF_UP | IFF_RUNNING). */
int net_loopback_up(void);
