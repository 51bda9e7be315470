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
 *   cc -O1 -shared -fPIC -o libgccuda_emulator.so cuda_emulator.c -lpthread -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

typedef int CUresult;
enum { OK = 0, ERR_INVALID_VALUE = 1, ERR_OUT_OF_MEMORY = 2, ERR_NOT_INITIALIZED = 3, ERR_INVALID_IMAGE = 200,
       ERR_NOT_FOUND = 500, ERR_LAUNCH_FAILED = 719 };

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

/* Kernels launched since load: a test checks that the GPU path, not a fallback, ran. */
static long launches;
long gcemu_launches(void) { return __atomic_load_n(&launches, __ATOMIC_SEQ_CST); }

CUresult cuInit(unsigned flags) { (void)flags; initialised = 1; return OK; }
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
CUresult cuModuleUnload(void *module) { dlclose(module); return OK; }

/* A kernel's entry in the host library is NAME.emu(void **params), which unpacks the parameters itself;
 * NAME.emu.sync says whether it synchronises (barriers, shuffles): one that does not runs its threads one
 * after another on the launching thread, which is the same computation without a thread per GPU thread; and
 * NAME.emu.params how many parameters it takes (each a 64-bit device pointer), so that a launch queued on a
 * stream can keep their values (hand-written test kernels have none, and run at once on the null stream). */
typedef void (*kernel_fn)(void **params);
struct function { kernel_fn entry; int synchronises; int parameters; };
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
    *function = fn;
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

static CUresult run_launch(const struct function *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, void **params);

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
static CUresult copy(int kind, void *stream, void *dst, const void *src, size_t n)
{
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
        case ERR_NOT_FOUND: *name = "CUDA_ERROR_NOT_FOUND"; return OK;
        case ERR_LAUNCH_FAILED: *name = "CUDA_ERROR_LAUNCH_FAILED"; return OK;
        case 701: *name = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (the emulator could not allocate a stack per GPU thread)"; return OK;
        default: *name = NULL; return ERR_INVALID_VALUE;
    }
}

/* ---- the running launch, and each emulated thread's registers ---- */
#define WARP 32
#define MAX_BLOCK 1024
enum { ERR_LAUNCH_OUT_OF_RESOURCES = 701 };

/* cp.async: one queue per emulated thread (see below). */
enum { MAX_PENDING = 256 };
struct copy { void *dst; const void *src; unsigned bytes, read; int group; };
struct cp_queue { struct copy pending[MAX_PENDING]; int npending, committed; };

/* Switching fibers: on x86-64 a few instructions (callee-saved registers and the stack pointer; the float control
 * words too), since swapcontext also saves the signal mask with a system call, which was half of the emulator's time.
 * Elsewhere, ucontext. */
#if defined(__x86_64__)
#define FAST_SWITCH 1
void gcemu_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl gcemu_switch\n"
        ".hidden gcemu_switch\n"
        ".type gcemu_switch,@function\n"
        "gcemu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size gcemu_switch, .-gcemu_switch\n");
#else
#define FAST_SWITCH 0
#endif

struct fiber {
#if FAST_SWITCH
    void *sp;
#else
    ucontext_t context;
#endif
    unsigned tid;
    int done;
    struct cp_queue cp;
};

struct launch {
    unsigned all_arrived, all_generation;   /* __syncthreads */
    unsigned warp_arrived[MAX_BLOCK / WARP], warp_generation[MAX_BLOCK / WARP];
    unsigned long progress;                 /* arrivals and finished threads: a scheduler pass without any is a deadlock */
    uint32_t slots[MAX_BLOCK];   /* a 32-bit register per thread, for shuffles */
    uint32_t mma_a[MAX_BLOCK][4], mma_b[MAX_BLOCK][2]; /* each lane's mma.sync operand registers */
    const uint16_t *rows[MAX_BLOCK];        /* each lane's ldmatrix row address */
    unsigned size, grid[3];
    kernel_fn kernel;
    void **params;
    struct fiber *fibers, *running;         /* NULL fibers: a kernel without barriers, its threads in turn */
#if FAST_SWITCH
    void *scheduler;
#else
    ucontext_t scheduler;
#endif
};
static __thread struct launch *current;
static __thread unsigned tid, ctaid[3];
static __thread struct cp_queue *cp;        /* the running thread's cp.async queue */
static __thread struct cp_queue serial_cp;  /* ... for kernels run without fibers */

/* The running fiber waits: back to the scheduler, which resumes the next. */
static void yield(void)
{
    struct launch *l = current;
#if FAST_SWITCH
    gcemu_switch(&l->running->sp, l->scheduler);
#else
    swapcontext(&l->running->context, &l->scheduler);
#endif
}

/* A barrier of `count` threads: the last to arrive opens it and goes on; the others wait for the generation to move. */
static void meet(unsigned *arrived, unsigned *generation, unsigned count)
{
    struct launch *l = current;
    unsigned mine = *generation;
    l->progress++;
    if (++*arrived == count)
    {
        *arrived = 0;
        ++*generation;
        return;
    }
    while (*generation == mine) yield();
}

static void warp_barrier(void)
{
    struct launch *l = current;
    unsigned w = tid / WARP;
    meet(&l->warp_arrived[w], &l->warp_generation[w], l->size - w * WARP < WARP ? l->size - w * WARP : WARP);
}

unsigned sreg_tid_x(void) __asm__("gcemu.sreg.tid.x");
unsigned sreg_tid_x(void) { return tid; }
unsigned sreg_tid_y(void) __asm__("gcemu.sreg.tid.y");
unsigned sreg_tid_y(void) { return 0; }
unsigned sreg_tid_z(void) __asm__("gcemu.sreg.tid.z");
unsigned sreg_tid_z(void) { return 0; }
unsigned sreg_ntid_x(void) __asm__("gcemu.sreg.ntid.x");
unsigned sreg_ntid_x(void) { return current->size; }
unsigned sreg_ctaid_x(void) __asm__("gcemu.sreg.ctaid.x");
unsigned sreg_ctaid_x(void) { return ctaid[0]; }
unsigned sreg_ctaid_y(void) __asm__("gcemu.sreg.ctaid.y");
unsigned sreg_ctaid_y(void) { return ctaid[1]; }
unsigned sreg_ctaid_z(void) __asm__("gcemu.sreg.ctaid.z");
unsigned sreg_ctaid_z(void) { return ctaid[2]; }
unsigned sreg_nctaid_x(void) __asm__("gcemu.sreg.nctaid.x");
unsigned sreg_nctaid_x(void) { return current->grid[0]; }
unsigned sreg_nctaid_y(void) __asm__("gcemu.sreg.nctaid.y");
unsigned sreg_nctaid_y(void) { return current->grid[1]; }
unsigned sreg_laneid(void) __asm__("gcemu.sreg.laneid");
unsigned sreg_laneid(void) { return tid % WARP; }

void barrier0(void) __asm__("gcemu.barrier0");
void barrier0(void) { meet(&current->all_arrived, &current->all_generation, current->size); }

/* shfl.sync.bfly: lane i reads lane i ^ laneMask's 32 bits; a lane beyond the (partial) warp reads its own. The
 * f32 and i32 forms are the same move (the generated code shuffles 64-bit values as two words). */
static uint32_t shfl_bfly_bits(uint32_t value, unsigned laneMask)
{
    struct launch *l = current;
    unsigned w = tid / WARP, base = w * WARP, width = l->size - base < WARP ? l->size - base : WARP;
    l->slots[tid] = value;
    warp_barrier();
    unsigned source = (tid % WARP) ^ (laneMask & 31);
    uint32_t r = source < width ? l->slots[base + source] : value;
    warp_barrier();
    return r;
}

uint32_t shfl_bfly_i32(unsigned mask, uint32_t value, unsigned laneMask, unsigned clamp) __asm__("gcemu.shfl.sync.bfly.i32");
uint32_t shfl_bfly_i32(unsigned mask, uint32_t value, unsigned laneMask, unsigned clamp)
{
    (void)mask; (void)clamp;
    return shfl_bfly_bits(value, laneMask);
}

float shfl_bfly(unsigned mask, float value, unsigned laneMask, unsigned clamp) __asm__("gcemu.shfl.sync.bfly.f32");
float shfl_bfly(unsigned mask, float value, unsigned laneMask, unsigned clamp)
{
    (void)mask; (void)clamp;
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    bits = shfl_bfly_bits(bits, laneMask);
    memcpy(&value, &bits, sizeof bits);
    return value;
}

/* ---- mma.sync.aligned, m16n8k16 (bf16, f16) and m16n8k8 (tf32), f32 accumulators ----
 * Warp-collective: every lane publishes its A and B registers, then computes its own four elements of D from
 * the whole warp's, with A's and B's elements placed by the PTX ISA's fragment tables ("Matrix Fragments for
 * mma.m16n8k16 / mma.m16n8k8"): groupID g = lane >> 2, t = lane % 4. Products are exact in f32 for these
 * inputs; the sum runs in k order in f32 (the hardware's order is unspecified). */
enum { MMA_BF16 = 0, MMA_F16 = 1, MMA_TF32 = 2 };

static float from_bits(uint32_t bits) { float f; memcpy(&f, &bits, sizeof f); return f; }

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    if (exponent == 0x1f) return from_bits(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0)
    {
        float f = (float)mantissa * (1.0f / 16777216.0f); /* 2^-24: subnormal halves */
        return sign ? -f : f;
    }
    return from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

/* Element (index within the 32-bit register) of a 16-bit pair: the low half holds the lower-numbered element. */
static float element16(int kind, uint32_t reg, int high)
{
    uint16_t bits = (uint16_t)(high ? reg >> 16 : reg);
    return kind == MMA_BF16 ? from_bits((uint32_t)bits << 16) : half_to_float(bits);
}

void gcemu_mma(int kind, const uint32_t *a, const uint32_t *b, const float *c, float *d)
{
    struct launch *l = current;
    unsigned base = tid / WARP * WARP;
    memcpy(l->mma_a[tid], a, sizeof l->mma_a[tid]);
    memcpy(l->mma_b[tid], b, sizeof l->mma_b[tid]);
    warp_barrier();
    const int K = kind == MMA_TF32 ? 8 : 16;
    float A[16][16], B[16][8];
    for (unsigned lane = 0; lane < WARP; lane++)
    {
        const uint32_t *ra = l->mma_a[base + lane], *rb = l->mma_b[base + lane];
        int g = (int)lane >> 2, t = (int)lane % 4;
        if (kind == MMA_TF32)
        {
            /* A: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); B: b0 (t, g), b1 (t+4, g). */
            for (int i = 0; i < 4; i++) A[g + 8 * (i & 1)][t + 4 * (i >> 1)] = from_bits(ra[i] & 0xffffe000u);
            for (int i = 0; i < 2; i++) B[t + 4 * i][g] = from_bits(rb[i] & 0xffffe000u);
        }
        else
        {
            /* A element i (0..7): row g for i in {0,1,4,5}, else g+8; column 2t + (i & 1), +8 for i >= 4.
             * B element i (0..3): row 2t + (i & 1), +8 for i >= 2; column g. Two elements per register. */
            for (int i = 0; i < 8; i++)
                A[g + 8 * ((i >> 1) & 1)][2 * t + (i & 1) + 8 * (i >= 4)] = element16(kind, ra[i / 2], i & 1);
            for (int i = 0; i < 4; i++)
                B[2 * t + (i & 1) + 8 * (i >= 2)][g] = element16(kind, rb[i / 2], i & 1);
        }
    }
    /* D: element i at row g + 8 (i >= 2), column 2t + (i & 1). */
    int g = (int)(tid % WARP) >> 2, t = (int)(tid % WARP) % 4;
    for (int i = 0; i < 4; i++)
    {
        int row = g + 8 * (i >= 2), col = 2 * t + (i & 1);
        float sum = c[i];
        for (int k = 0; k < K; k++) sum += A[row][k] * B[k][col];
        d[i] = sum;
    }
    warp_barrier();
}

/* ---- ldmatrix.sync.aligned.m8n8.x4(.trans).b16 ----
 * Warp-collective: lane l gives the address of row l % 8 of matrix l / 8 (eight 16-bit elements). Without .trans, lane i
 * receives row i / 4, elements 2(i % 4) and 2(i % 4) + 1 of each matrix; with .trans, column i / 4, rows 2(i % 4) and
 * 2(i % 4) + 1. The lower-numbered element goes in the low half of the register. */
void gcemu_ldmatrix(int transposed, const uint16_t *row, uint32_t *out)
{
    struct launch *l = current;
    unsigned base = tid / WARP * WARP, i = tid % WARP;
    l->rows[tid] = row;
    warp_barrier();
    for (unsigned q = 0; q < 4; q++)
    {
        const uint16_t *const *m = &l->rows[base + 8 * q];
        uint16_t lo = transposed ? m[2 * (i % 4)][i / 4] : m[i / 4][2 * (i % 4)];
        uint16_t hi = transposed ? m[2 * (i % 4) + 1][i / 4] : m[i / 4][2 * (i % 4) + 1];
        out[q] = (uint32_t)lo | (uint32_t)hi << 16;
    }
    warp_barrier();
}

/* ---- cp.async: copies queued per thread, grouped by commit, done when waited for ----
 * A copy happens only when a wait.group lets its group complete (or wait.all), so a kernel that reads a stage
 * before waiting for its copies reads stale data here as it may on a GPU. Its source is read then too: kernels
 * only copy from inputs, which no thread writes. */
static void cp_enqueue(void *dst, const void *src, unsigned bytes, unsigned read)
{
    if (cp->npending == MAX_PENDING) { fprintf(stderr, "cuda emulator: more than %d cp.async copies in flight\n", MAX_PENDING); abort(); }
    cp->pending[cp->npending++] = (struct copy){ dst, src, bytes, read < bytes ? read : bytes, -1 };
}

void cp_async_16(void *dst, const void *src, int read) __asm__("gcemu.cp.async.16");
void cp_async_16(void *dst, const void *src, int read) { cp_enqueue(dst, src, 16, (unsigned)read); }
void cp_async_8(void *dst, const void *src, int read) __asm__("gcemu.cp.async.8");
void cp_async_8(void *dst, const void *src, int read) { cp_enqueue(dst, src, 8, (unsigned)read); }
void cp_async_4(void *dst, const void *src, int read) __asm__("gcemu.cp.async.4");
void cp_async_4(void *dst, const void *src, int read) { cp_enqueue(dst, src, 4, (unsigned)read); }

void cp_commit(void) __asm__("gcemu.cp.async.commit");
void cp_commit(void)
{
    cp->committed++;
    for (int i = 0; i < cp->npending; i++)
        if (cp->pending[i].group < 0) cp->pending[i].group = cp->committed;
}

/* Completes every committed group but the newest `keep`; uncommitted copies stay queued. */
void cp_wait(int keep) __asm__("gcemu.cp.async.wait");
void cp_wait(int keep)
{
    int kept = 0;
    for (int i = 0; i < cp->npending; i++)
    {
        struct copy c = cp->pending[i];
        if (c.group >= 0 && c.group <= cp->committed - keep)
        {
            memcpy(c.dst, c.src, c.read);
            memset((char *)c.dst + c.read, 0, c.bytes - c.read);
        }
        else cp->pending[kept++] = c;
    }
    cp->npending = kept;
}

void cp_wait_all(void) __asm__("gcemu.cp.async.wait.all");
void cp_wait_all(void)
{
    cp_commit(); /* wait_all completes uncommitted copies too */
    cp_wait(0);
}

/* ---- launches ---- */

/* Each fiber's stack: kernels keep register tiles and fragments on it. One pool per launching thread, grown as needed;
 * below each stack an inaccessible guard page, so an overflow faults instead of writing into the next thread's stack. */
enum { STACK_BYTES = 256 * 1024, GUARD_BYTES = 4096, STACK_STRIDE = STACK_BYTES + GUARD_BYTES };
static __thread char *stacks;
static __thread unsigned stack_count;

static int reserve_stacks(unsigned n)
{
    if (n <= stack_count) return 1;
    if (stacks) munmap(stacks, (size_t)stack_count * STACK_STRIDE);
    stack_count = 0;
    stacks = mmap(NULL, (size_t)n * STACK_STRIDE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stacks == MAP_FAILED) { stacks = NULL; return 0; }
    for (unsigned t = 0; t < n; t++)
        if (mprotect(stacks + (size_t)t * STACK_STRIDE, GUARD_BYTES, PROT_NONE) != 0)
        {
            munmap(stacks, (size_t)n * STACK_STRIDE);
            stacks = NULL;
            return 0;
        }
    stack_count = n;
    return 1;
}

static void fiber_main(void)
{
    struct launch *l = current;
    l->kernel(l->params);
    l->running->done = 1;
    l->progress++;
#if FAST_SWITCH
    gcemu_switch(&l->running->sp, l->scheduler); /* never resumed */
    abort();
#endif
    /* ucontext: returning resumes the scheduler (uc_link) */
}

/* A fresh fiber on `stack`: its first switch-in "returns" into fiber_main with the stack aligned as after a call. */
static void start_fiber(struct launch *l, struct fiber *f, char *stack)
{
#if FAST_SWITCH
    uintptr_t top = ((uintptr_t)stack + STACK_BYTES) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;                       /* fiber_main's return address slot: entered with rsp % 16 == 8 */
    *--sp = (void *)fiber_main;         /* popped by gcemu_switch's ret */
    for (int r = 0; r < 6; r++) *--sp = NULL; /* rbp, rbx, r12-r15 */
    --sp;                               /* mxcsr and the x87 control word: this thread's */
    uint32_t mxcsr;
    uint16_t fpcw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpcw));
    memcpy(sp, &mxcsr, 4);
    memcpy((char *)sp + 4, &fpcw, 2);
    f->sp = sp;
    (void)l;
#else
    getcontext(&f->context);
    f->context.uc_stack.ss_sp = stack;
    f->context.uc_stack.ss_size = STACK_BYTES;
    f->context.uc_link = &l->scheduler;
    makecontext(&f->context, fiber_main, 0);
#endif
}

/* One block as fibers: resume each unfinished thread in turn until all are done; -> 0, or -1 on a deadlock. */
static int run_block(struct launch *l)
{
    for (unsigned t = 0; t < l->size; t++)
    {
        struct fiber *f = &l->fibers[t];
        f->tid = t;
        f->done = 0;
        f->cp.npending = f->cp.committed = 0;
        start_fiber(l, f, stacks + (size_t)t * STACK_STRIDE + GUARD_BYTES);
    }
    l->all_arrived = 0;
    memset(l->warp_arrived, 0, sizeof l->warp_arrived);
    for (unsigned remaining = l->size; remaining > 0;)
    {
        unsigned long before = l->progress;
        for (unsigned t = 0; t < l->size; t++)
        {
            struct fiber *f = &l->fibers[t];
            if (f->done) continue;
            l->running = f;
            tid = f->tid;
            cp = &f->cp;
#if FAST_SWITCH
            gcemu_switch(&l->scheduler, f->sp);
#else
            swapcontext(&l->scheduler, &f->context);
#endif
            if (f->done) remaining--;
        }
        if (remaining > 0 && l->progress == before)
        {
            fprintf(stderr, "cuda emulator: a block's threads wait at barriers that can never open (%u of %u threads not finished)\n", remaining, l->size);
            return -1;
        }
    }
    return 0;
}

static CUresult run_launch(const struct function *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, void **params)
{
    struct launch *l = calloc(1, sizeof *l);
    if (!l) return ERR_OUT_OF_MEMORY;
    l->size = bx;
    l->grid[0] = gx; l->grid[1] = gy; l->grid[2] = gz;
    l->kernel = fn->entry;
    l->params = params;
    CUresult status = OK;
    struct launch *saved = current;
    current = l;
    if (!fn->synchronises)
    {
        /* No barrier, no shuffle: the block's threads in turn on this thread. */
        cp = &serial_cp;
        for (unsigned z = 0; z < gz; z++)
            for (unsigned y = 0; y < gy; y++)
                for (unsigned x = 0; x < gx; x++)
                {
                    ctaid[0] = x; ctaid[1] = y; ctaid[2] = z;
                    for (tid = 0; tid < bx; tid++) l->kernel(params);
                }
    }
    else if (!reserve_stacks(bx) || !(l->fibers = calloc(bx, sizeof *l->fibers)))
        status = ERR_LAUNCH_OUT_OF_RESOURCES;
    else
    {
        for (unsigned z = 0; z < gz && status == OK; z++)
            for (unsigned y = 0; y < gy && status == OK; y++)
                for (unsigned x = 0; x < gx && status == OK; x++)
                {
                    ctaid[0] = x; ctaid[1] = y; ctaid[2] = z;
                    if (run_block(l) != 0) status = ERR_LAUNCH_FAILED;
                }
        free(l->fibers);
    }
    current = saved;
    free(l);
    if (status == OK) __atomic_add_fetch(&launches, 1, __ATOMIC_SEQ_CST);
    return status;
}

/* Queued with its parameters' values (the caller's array may change before the launch runs); run at once on the null stream. */
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned sharedBytes, void *stream, void **params, void **extra)
{
    (void)sharedBytes;
    if (!f || bx == 0 || bx > MAX_BLOCK || by != 1 || bz != 1 || extra) return ERR_INVALID_VALUE;
    const struct function *fn = f;
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
