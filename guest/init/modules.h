/*
 * Kernel modules from the initrd. initrd/build.sh writes MODULES_LOAD_ORDER: one absolute path
 * of an uncompressed .ko per line, dependencies first ('#' comments and blank lines allowed).
 */
#pragma once

#define MODULES_LOAD_ORDER "/lib/modules/load-order"

struct modules_result {
	int total;
	int loaded; /* including those already present (EEXIST) */
	int skipped; /* ENODEV: nothing for the driver to drive on this machine */
	int failed;
};

/*
 * Loads each listed module with finit_module(2). A module that fails is logged and skipped:
 * whatever depends on it fails in turn, and the rest of the UVM still comes up. -ENOENT when
 * there is no list (an initrd without modules).
 */
int modules_load(const char *list, struct modules_result *ret);
