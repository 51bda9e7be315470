/*
 * A CUDA driver for machines without a GPU, for tests: the subset of the driver API the CUDA target's
 * generated runtime calls (src/Backends/Cuda/Codegen/DriverApi.cs), with "device" memory in host memory and
 * kernels run on CPU threads. The kernels are not the PTX (nothing here reads PTX): the test compiles the
 * same NVPTX-flavoured LLVM IR for the host (tests/GraphCompiler.Tests/Backends/Cuda/CudaEmulator.cs) and
 * registers the resulting library under the PTX text with gcemu_register; cuModuleLoadData looks it up.
 *
 * A kernel that synchronises runs each block as blockDim.x fibers (user-level threads, each with its own stack,
 * switched by swapcontext on the launching thread), so __syncthreads (gcemu.barrier0) is a barrier of the block's
 * fibers and a warp shuffle (gcemu.shfl.sync.bfly.f32/.i32) or a tensor-core mma.sync (gcemu_mma) is an exchange through
 * the warp's slots between two warp barriers, as is ldmatrix (gcemu_ldmatrix); cp.async copies are queued per thread
 * and done when a wait lets their group complete. Every thread runs until it must wait, then the next: the code
 * under test sees the GPU's interleavings at every barrier, not a serialisation of the block, and a block whose
 * threads can never all meet (a barrier some thread skips) fails the launch instead of hanging. Fibers rather than
 * POSIX threads because a barrier of 256 kernel threads on two cores costs milliseconds; a fiber switch costs well
 * under one. The blocks run one after another, so a kernel's shared memory (a global of the kernel library) is the
 * running block's. Kernels without barriers or shuffles run their threads in turn, without fibers.
 *
 * The generated runtime loads it when GC_CUDA_DRIVER names it:
 *   cc -O1 -shared -fPIC -o libgccuda_emulator.so cuda_emulator.c emulator_threads.c -lpthread -ldl
 * This file is the driver API; emulator_threads.c runs the kernels' threads.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emulator.h"

/* ---- registry: PTX text -> host library of the same kernels ---- */
struct entry { char *ptx; char *path; struct entry *next; };
static struct entry *registry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialised;

int gcemu_register(const char *ptx, const char *library)
{
    struct entry *e = malloc(sizeof *e);
    if (!e) return ERR_OUT_OF_MEMORY;
    e->ptx = strdup(ptx);
    e->path = strdup(library);
    pthread_mutex_lock(&registry_lock);
    e->next = registry;
    registry = e;
    pthread_mutex_unlock(&registry_lock);
    return OK;
}


CUresult cuInit(unsigned flags) { (void)flags; initialised = 1; return OK; }

/* The device a test has the emulator describe (gcemu_describe_device): compute capability, multiprocessors and their
 * resident threads. Until one is set, only the shared memory limit is answered, so an in-process compile keeps its
 * declared target. */
static int described_major, described_minor, described_sms, described_threads;

void gcemu_describe_device(int major, int minor, int multiprocessors, int resident_threads)
{
    described_major = major;
    described_minor = minor;
    described_sms = multiprocessors;
    described_threads = resident_threads;
}

/* The attributes the generated runtime asks for (an H100's shared memory limit per block), and those a described device has. */
CUresult cuDeviceGetAttribute(int *value, int attribute, int device)
{
    if (!initialised) return ERR_NOT_INITIALIZED;
    if (device != 0) return ERR_INVALID_VALUE;
    switch (attribute)
    {
    case 97: /* MAX_SHARED_MEMORY_PER_BLOCK_OPTIN */ *value = MAX_SHARED_OPTIN; return OK;
    case 75: /* COMPUTE_CAPABILITY_MAJOR */ if (!described_major) return ERR_INVALID_VALUE; *value = described_major; return OK;
    case 76: /* COMPUTE_CAPABILITY_MINOR */ if (!described_major) return ERR_INVALID_VALUE; *value = described_minor; return OK;
    case 16: /* MULTIPROCESSOR_COUNT */ if (!described_major) return ERR_INVALID_VALUE; *value = described_sms; return OK;
    case 39: /* MAX_THREADS_PER_MULTIPROCESSOR */ if (!described_major) return ERR_INVALID_VALUE; *value = described_threads; return OK;
    default: return ERR_INVALID_VALUE;
    }
}

CUresult cuDeviceGet(int *device, int ordinal) { if (!initialised) return ERR_NOT_INITIALIZED; if (ordinal != 0) return ERR_INVALID_VALUE; *device = 0; return OK; }
static int primary_context;
CUresult cuDevicePrimaryCtxRetain(void **ctx, int device) { (void)device; *ctx = &primary_context; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(int device) { (void)device; return OK; }
CUresult cuCtxSetCurrent(void *ctx) { (void)ctx; return OK; }

CUresult cuModuleLoadData(void **module, const void *image)
{
    const char *path = NULL;
    pthread_mutex_lock(&registry_lock);
    for (struct entry *e = registry; e; e = e->next)
        if (strcmp(e->ptx, (const char *)image) == 0) { path = e->path; break; }
    pthread_mutex_unlock(&registry_lock);
    if (!path) return ERR_INVALID_IMAGE;
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return ERR_INVALID_IMAGE;
    *module = lib;
    return OK;
}

/* The log a test has the emulator's "PTX assembler" reject every module with (gcemu_reject_ptx; NULL: accept), as
 * the driver's JIT does when ptxas fails: CUDA_ERROR_INVALID_PTX, the log in the caller's error-log buffer. */
static char *reject_log;

void gcemu_reject_ptx(const char *log)
{
    free(reject_log);
    reject_log = log ? strdup(log) : NULL;
}

/* cuModuleLoadDataEx: cuModuleLoadData, honouring the JIT options CU_JIT_ERROR_LOG_BUFFER (5) and
 * CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES (6, its size in the value slot itself; set to the bytes written). */
CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned int count, const int *options, void **values)
{
    if (count > 0 && (!options || !values)) return ERR_INVALID_VALUE;
    if (!reject_log) return cuModuleLoadData(module, image);
    char *log = NULL;
    size_t size = 0;
    for (unsigned int i = 0; i < count; i++)
    {
        if (options[i] == 5) log = values[i];
        if (options[i] == 6) size = (size_t)(uintptr_t)values[i];
    }
    if (log && size > 0)
    {
        snprintf(log, size, "%s", reject_log);
        for (unsigned int i = 0; i < count; i++)
            if (options[i] == 6) values[i] = (void *)(uintptr_t)(strlen(log) + 1);
    }
    return ERR_INVALID_PTX;
}

CUresult cuModuleUnload(void *module) { dlclose(module); return OK; }

/* A kernel's entry in the host library is NAME.emu(void **params), which unpacks the parameters itself;
 * NAME.emu.sync says whether it synchronises (barriers, shuffles): one that does not runs its threads one
 * after another on the launching thread, which is the same computation without a thread per GPU thread; and
 * NAME.emu.params how many parameters it takes (each a 64-bit device pointer), so that a launch queued on a
 * stream can keep their values (hand-written test kernels have none, and run at once on the null stream). */
CUresult cuModuleGetFunction(void **function, void *module, const char *name)
{
    char symbol[512];
    if (strlen(name) + 12 > sizeof symbol) return ERR_NOT_FOUND;
    strcpy(symbol, name);
    strcat(symbol, ".emu");
    void *f = dlsym(module, symbol);
    size_t base = strlen(symbol);
    strcat(symbol, ".sync");
    const int *sync = dlsym(module, symbol);
    strcpy(symbol + base, ".params");
    const int *parameters = dlsym(module, symbol);
    if (!f || !sync) return ERR_NOT_FOUND;
    struct function *fn = malloc(sizeof *fn); /* lives as long as the process: a handful per test program */
    if (!fn) return ERR_OUT_OF_MEMORY;
    fn->entry = (kernel_fn)f;
    fn->synchronises = *sync;
    fn->parameters = parameters ? *parameters : -1;
    fn->max_dynamic_shared = STATIC_SHARED;
    *function = fn;
    return OK;
}

/* A kernel's opt-in to more dynamic shared memory than the default 48 KB, as the driver checks it: at most the device's limit. */
CUresult cuFuncSetAttribute(void *function, int attribute, int value)
{
    struct function *fn = function;
    if (!fn || attribute != 8 /* MAX_DYNAMIC_SHARED_SIZE_BYTES */ || value < 0 || value > MAX_SHARED_OPTIN) return ERR_INVALID_VALUE;
    fn->max_dynamic_shared = value;
    return OK;
}

/* ---- streams and events ----
 * Work queued on a stream runs in the stream's order, but when is the emulator's choice, and it chooses the schedule
 * that exposes a missing wait in the generated host program:
 *  - kernels and host-to-device copies run as late as they may: only when the host waits (cuStreamSynchronize,
 *    cuEventSynchronize) or queued work waits for them; and before a host-to-device copy runs, every other stream
 *    runs as far as it can without waiting. A kernel that does not wait for its input's copy reads the device buffer
 *    before the copy lands;
 *  - device-to-host copies, event records and waits already satisfied run as early as they may: right after the call
 *    that queued them or made them runnable. A copy to the host that does not wait for its producer copies stale memory.
 * The null stream (hand-written test launches) runs at once. */
enum { CMD_LAUNCH, CMD_TO_DEVICE, CMD_TO_HOST, CMD_ON_DEVICE, CMD_RECORD, CMD_WAIT };
struct event;
struct command
{
    int kind;
    struct command *next;
    const struct function *fn;               /* launch: the kernel, its grid and block, its parameter values */
    unsigned grid[3], block;
    uint64_t *values;
    void **pointers;
    void *dst; const void *src; size_t bytes; /* copy, done (memmove) when it runs */
    struct event *event; long generation;     /* record, wait: the event and which of its records */
    int running;                              /* at its stream's head and being run (a wait forcing another stream) */
};
struct stream { struct command *head, *tail; struct stream *next; };
struct event { struct stream *stream; long recorded, completed; };
static struct stream *streams;


static int waiting(const struct command *c) { return c->running || (c->kind == CMD_WAIT && c->event->completed < c->generation); }

/* Runs and frees the head of s; a wait not yet satisfied first forces the recording stream up to that record. */
static CUresult step(struct stream *s);

static CUresult force(struct event *e, long generation)
{
    while (e->completed < generation)
    {
        /* The record it waits for was never queued, or is behind work that waits for this: a deadlock. */
        if (!e->stream || !e->stream->head || e->stream->head->running) return ERR_INVALID_VALUE;
        CUresult status = step(e->stream);
        if (status != OK) return status;
    }
    return OK;
}

static CUresult pump(void);

static CUresult run(struct stream *s, struct command *c)
{
    switch (c->kind)
    {
    case CMD_LAUNCH:
        return run_launch(c->fn, c->grid[0], c->grid[1], c->grid[2], c->block, c->pointers);
    case CMD_TO_DEVICE:
        /* As late as possible: everything else that can run goes first. */
        for (struct stream *o = streams; o; o = o->next)
            while (o != s && o->head && !waiting(o->head) && o->head->kind != CMD_TO_DEVICE)
            {
                CUresult status = step(o);
                if (status != OK) return status;
            }
        memmove(c->dst, c->src, c->bytes);
        return OK;
    case CMD_TO_HOST:
    case CMD_ON_DEVICE:
        memmove(c->dst, c->src, c->bytes);
        return OK;
    case CMD_RECORD:
        if (c->event->completed < c->generation) c->event->completed = c->generation;
        return OK;
    default:
        return force(c->event, c->generation);
    }
}

static void release(struct command *c)
{
    free(c->values);
    free(c->pointers);
    free(c);
}

/* The command stays at the head while it runs, so that nothing else on its stream runs before it finishes. */
static CUresult step(struct stream *s)
{
    struct command *c = s->head;
    c->running = 1;
    CUresult status = run(s, c);
    s->head = c->next;
    if (!s->head) s->tail = NULL;
    release(c);
    return status == OK ? pump() : status;
}

/* Runs what should run early: records, satisfied waits and device-to-host copies at the heads of the streams. */
static CUresult pump(void)
{
    static int pumping;
    if (pumping) return OK;
    pumping = 1;
    CUresult status = OK;
    for (int progress = 1; progress && status == OK;)
    {
        progress = 0;
        for (struct stream *s = streams; s && status == OK; s = s->next)
            while (status == OK && s->head && !s->head->running && (s->head->kind == CMD_RECORD || s->head->kind == CMD_TO_HOST
                   || (s->head->kind == CMD_WAIT && !waiting(s->head))))
            {
                struct command *c = s->head;
                s->head = c->next;
                if (!s->head) s->tail = NULL;
                status = run(s, c);
                release(c);
                progress = 1;
            }
    }
    pumping = 0;
    return status;
}

static CUresult enqueue(void *stream, struct command *c)
{
    if (!stream)
    {
        CUresult status = run(NULL, c);
        release(c);
        return status;
    }
    struct stream *s = stream;
    if (s->tail) s->tail->next = c; else s->head = c;
    s->tail = c;
    return pump();
}

static struct command *command(int kind)
{
    struct command *c = calloc(1, sizeof(struct command));
    if (c) c->kind = kind;
    return c;
}

CUresult cuStreamCreate(void **stream, unsigned flags)
{
    (void)flags;
    struct stream *s = calloc(1, sizeof *s);
    if (!s) return ERR_OUT_OF_MEMORY;
    s->next = streams;
    streams = s;
    *stream = s;
    return OK;
}
CUresult cuStreamSynchronize(void *stream)
{
    struct stream *s = stream;
    while (s && s->head)
    {
        CUresult status = step(s);
        if (status != OK) return status;
    }
    return OK;
}
CUresult cuStreamDestroy_v2(void *stream)
{
    CUresult status = cuStreamSynchronize(stream);
    for (struct stream **p = &streams; *p; p = &(*p)->next)
        if (*p == stream) { *p = ((struct stream *)stream)->next; break; }
    free(stream);
    return status;
}

CUresult cuMemAlloc_v2(uint64_t *dptr, size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0) return ERR_OUT_OF_MEMORY;
    memset(p, 0xff, bytes); /* NaN-filled, as fresh device memory is not zero */
    *dptr = (uint64_t)(uintptr_t)p;
    return OK;
}
CUresult cuMemFree_v2(uint64_t dptr) { free((void *)(uintptr_t)dptr); return OK; }

/* Pinned host memory is host memory here. */
CUresult cuMemAllocHost_v2(void **p, size_t bytes) { return posix_memalign(p, 256, bytes ? bytes : 1) == 0 ? OK : ERR_OUT_OF_MEMORY; }
CUresult cuMemFreeHost(void *p) { free(p); return OK; }
/* The opt-in limit of shared memory per block, for the host build of kernels (their dynamic shared memory array). */
int gcemu_max_shared_optin(void) { return MAX_SHARED_OPTIN; }

CUresult cuEventCreate(void **event, unsigned flags) { (void)flags; *event = calloc(1, sizeof(struct event)); return *event ? OK : ERR_OUT_OF_MEMORY; }
CUresult cuEventRecord(void *event, void *stream)
{
    struct event *e = event;
    struct command *c = command(CMD_RECORD);
    if (!e || !c) { free(c); return e ? ERR_OUT_OF_MEMORY : ERR_INVALID_VALUE; }
    c->event = e;
    c->generation = ++e->recorded;
    e->stream = stream;
    return enqueue(stream, c);
}
/* Waits for the event's latest record at the time of the call, as CUDA's; one never recorded is nothing to wait for. */
CUresult cuStreamWaitEvent(void *stream, void *event, unsigned flags)
{
    struct event *e = event;
    if (!e || flags != 0) return ERR_INVALID_VALUE;
    if (e->recorded == 0) return OK;
    struct command *c = command(CMD_WAIT);
    if (!c) return ERR_OUT_OF_MEMORY;
    c->event = e;
    c->generation = e->recorded;
    return enqueue(stream, c);
}
/* Waiting for an event nobody recorded is legal CUDA, but in the generated program it would mean a receive without its send. */
CUresult cuEventSynchronize(void *event)
{
    struct event *e = event;
    if (!e || e->recorded == 0) return ERR_INVALID_VALUE;
    return force(e, e->recorded);
}
CUresult cuEventDestroy_v2(void *event) { free(event); return OK; }
/* Bytes queued by asynchronous copies since load, by kind (to the device, to the host, on the device): a test checks what crosses PCIe. */
static long copied[3];
long gcemu_copied_bytes(int kind) { return kind >= 0 && kind < 3 ? __atomic_load_n(&copied[kind], __ATOMIC_SEQ_CST) : -1; }

static CUresult copy(int kind, void *stream, void *dst, const void *src, size_t n)
{
    __atomic_add_fetch(&copied[kind == CMD_TO_DEVICE ? 0 : kind == CMD_TO_HOST ? 1 : 2], (long)n, __ATOMIC_SEQ_CST);
    struct command *c = command(kind);
    if (!c) return ERR_OUT_OF_MEMORY;
    c->dst = dst;
    c->src = src;
    c->bytes = n;
    return enqueue(stream, c);
}
CUresult cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t n) { memcpy((void *)(uintptr_t)dst, src, n); return OK; }
CUresult cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t n, void *s) { return copy(CMD_TO_DEVICE, s, (void *)(uintptr_t)dst, src, n); }
CUresult cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t n, void *s) { return copy(CMD_TO_HOST, s, dst, (const void *)(uintptr_t)src, n); }
CUresult cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n, void *s) { return copy(CMD_ON_DEVICE, s, (void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n); }

CUresult cuGetErrorName(CUresult error, const char **name)
{
    switch (error)
    {
        case OK: *name = "CUDA_SUCCESS"; return OK;
        case ERR_INVALID_VALUE: *name = "CUDA_ERROR_INVALID_VALUE"; return OK;
        case ERR_OUT_OF_MEMORY: *name = "CUDA_ERROR_OUT_OF_MEMORY"; return OK;
        case ERR_NOT_INITIALIZED: *name = "CUDA_ERROR_NOT_INITIALIZED"; return OK;
        case ERR_INVALID_IMAGE: *name = "CUDA_ERROR_INVALID_IMAGE (the emulator has no host build of this PTX)"; return OK;
        case ERR_INVALID_PTX: *name = "CUDA_ERROR_INVALID_PTX"; return OK;
        case ERR_MISALIGNED_ADDRESS: *name = "CUDA_ERROR_MISALIGNED_ADDRESS"; return OK;
        case ERR_NOT_FOUND: *name = "CUDA_ERROR_NOT_FOUND"; return OK;
        case ERR_LAUNCH_FAILED: *name = "CUDA_ERROR_LAUNCH_FAILED"; return OK;
        case 701: *name = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (the emulator could not allocate a stack per GPU thread)"; return OK;
        default: *name = NULL; return ERR_INVALID_VALUE;
    }
}

/* Queued with its parameters' values (the caller's array may change before the launch runs); run at once on the null stream. */
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned sharedBytes, void *stream, void **params, void **extra)
{
    if (!f || bx == 0 || bx > MAX_BLOCK || by != 1 || bz != 1 || extra) return ERR_INVALID_VALUE;
    const struct function *fn = f;
    /* More dynamic shared memory than the kernel opted in to fails, as on a GPU. */
    if (sharedBytes > (unsigned)fn->max_dynamic_shared) return ERR_INVALID_VALUE;
    if (!stream || fn->parameters < 0)
        return stream ? ERR_INVALID_VALUE : run_launch(fn, gx, gy, gz, bx, params);
    struct command *c = command(CMD_LAUNCH);
    if (!c) return ERR_OUT_OF_MEMORY;
    int n = fn->parameters;
    c->values = malloc(sizeof(uint64_t) * (n ? n : 1));
    c->pointers = malloc(sizeof(void *) * (n ? n : 1));
    if (!c->values || !c->pointers) { free(c->values); free(c->pointers); free(c); return ERR_OUT_OF_MEMORY; }
    for (int i = 0; i < n; i++)
    {
        memcpy(&c->values[i], params[i], sizeof(uint64_t));
        c->pointers[i] = &c->values[i];
    }
    c->fn = fn;
    c->grid[0] = gx; c->grid[1] = gy; c->grid[2] = gz;
    c->block = bx;
    return enqueue(stream, c);
}
