/*
 * The CUDA emulator's two halves (docs/testing.md): cuda_emulator.c is the driver API (the registry of host builds of
 * PTX, memory, streams and events, launches queued on streams); emulator_threads.c runs a launch's blocks, its threads
 * as fibers, with the warp- and block-collective operations the kernels call (barriers, shuffles, mma.sync, ldmatrix,
 * cp.async, wgmma). This header is what they share.
 */
#ifndef GCEMU_EMULATOR_H
#define GCEMU_EMULATOR_H

#include <stdint.h>

typedef int CUresult;
enum { OK = 0, ERR_INVALID_VALUE = 1, ERR_OUT_OF_MEMORY = 2, ERR_NOT_INITIALIZED = 3, ERR_INVALID_IMAGE = 200, ERR_INVALID_PTX = 218,
       ERR_NOT_FOUND = 500, ERR_LAUNCH_FAILED = 719 };
enum { ERR_LAUNCH_OUT_OF_RESOURCES = 701, ERR_MISALIGNED_ADDRESS = 716 };

/* The most threads a block may have (CUDA's limit). */
#define MAX_BLOCK 1024

/* Shared memory per block: what every kernel may have, and the most one may opt in to (an H100's; the host build of a
 * kernel's dynamic shared memory is an array of this size: the tests read it through gcemu_max_shared_optin). */
#define STATIC_SHARED 49152
#define MAX_SHARED_OPTIN 232448

/* A kernel's entry in the host library is NAME.emu(void **params), which unpacks the parameters itself. */
typedef void (*kernel_fn)(void **params);
struct function { kernel_fn entry; int synchronises; int parameters; int max_dynamic_shared; };

/* Runs a launch to completion on the calling thread: every block, one after another (emulator_threads.c). */
CUresult run_launch(const struct function *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, void **params);

#endif
