/*
 * The CUDA emulator's threads (see cuda_emulator.c for the whole): a launch's blocks run one after another on the
 * calling thread; a block whose kernel synchronises runs its threads as fibers, each until it must wait at a block or
 * warp barrier; the warp-collective operations (shuffles, mma.sync, ldmatrix) exchange through the warp's slots
 * between two warp barriers, cp.async copies are queued per thread until a wait lets their group complete, and
 * Hopper's wgmma reads shared memory through its descriptors, kept as in flight until its group is waited for.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include "emulator.h"

/* Kernels run since load (see gcemu_launches). */
static long launches;

/* ---- the running launch, and each emulated thread's registers ---- */
#define WARP 32

/* cp.async: one queue per emulated thread (see below). */
enum { MAX_PENDING = 256 };
struct copy { void *dst; const void *src; unsigned bytes, read; int group; };
struct cp_queue { struct copy pending[MAX_PENDING]; int npending, committed; };

/* wgmma: the shared memory each of a thread's wgmmas reads, until a wait retires its group (see below). */
enum { MAX_WGMMA = 64 };
struct wgmma_read { const char *lo, *hi; int group; };
struct wgmma_queue { struct wgmma_read pending[MAX_WGMMA]; int npending, committed; };

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
    struct wgmma_queue wq;
};

struct launch {
    unsigned all_arrived, all_generation;   /* __syncthreads */
    unsigned warp_arrived[MAX_BLOCK / WARP], warp_generation[MAX_BLOCK / WARP];
    unsigned long progress;                 /* arrivals and finished threads: a scheduler pass without any is a deadlock */
    uint32_t slots[MAX_BLOCK];   /* a 32-bit register per thread, for shuffles */
    uint32_t mma_a[MAX_BLOCK][4], mma_b[MAX_BLOCK][2]; /* each lane's mma.sync operand registers */
    const uint16_t *rows[MAX_BLOCK];        /* each lane's ldmatrix row address */
    unsigned size, grid[3];
    const char *smem_base;                  /* where wgmma descriptors' shared addresses count from */
    int hazard;                             /* a wgmma's operands were overwritten in flight: the launch fails */
    int misaligned;                         /* an access a GPU faults on for its alignment: the launch fails */
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
static __thread struct wgmma_queue *wq;     /* the running thread's wgmma reads in flight */

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

/* ---- alignment: what a GPU faults on (CUDA_ERROR_MISALIGNED_ADDRESS) and a host does not ----
 * A vector or 8-byte access at an address that is no multiple of its size (or of the alignment the IR declares:
 * LLVM's NVPTX backend emits vector loads on the declaration's word), a kernel's buffer parameter off its declared
 * 16 bytes, a cp.async or an ldmatrix row off its size. The test's host build calls this before each such access. */
void gcemu_check_align(const void *p, int64_t bytes)
{
    if (((uintptr_t)p & (uintptr_t)(bytes - 1)) == 0) return;
    struct launch *l = current;
    if (!l->misaligned)
        fprintf(stderr, "cuda emulator: a %lld-byte-aligned access at %p is misaligned (thread %u of block %u,%u,%u)\n",
                (long long)bytes, p, tid, ctaid[0], ctaid[1], ctaid[2]);
    l->misaligned = 1;
}

/* ---- ldmatrix.sync.aligned.m8n8.x4(.trans).b16 ----
 * Warp-collective: lane l gives the address of row l % 8 of matrix l / 8 (eight 16-bit elements). Without .trans, lane i
 * receives row i / 4, elements 2(i % 4) and 2(i % 4) + 1 of each matrix; with .trans, column i / 4, rows 2(i % 4) and
 * 2(i % 4) + 1. The lower-numbered element goes in the low half of the register. */
void gcemu_ldmatrix(int transposed, const uint16_t *row, uint32_t *out)
{
    struct launch *l = current;
    unsigned base = tid / WARP * WARP, i = tid % WARP;
    gcemu_check_align(row, 16);
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

/* ---- wgmma.mma_async (sm_90a), both operands in shared memory, f32 accumulators ----
 * Descriptors as the PTX ISA's "Matrix Descriptor Format": the start address, leading and stride byte offsets in
 * 16-byte units (14 bits each), the swizzle mode in bits 62-63; only the 128-byte swizzle (mode 1) with base offset 0,
 * the one the CUDA target emits. Element addresses follow "Shared Memory Matrix Layout": K-major (the instruction's
 * transpose bit 0; TF32 always), row r of M or N, k of K, b bytes per element: start + (r / 8) SBO + (r % 8) 128 + k b;
 * MN-major (bit 1, 16-bit types): start + (r / 64) LBO + (k / 8) SBO + (k % 8) 128 + (r % 64 / 8) 16 + (r % 8) 2; then
 * the swizzle, address bits 4-6 XOR bits 7-9. K per instruction: 16 (bf16, f16) or 8 (TF32, low 13 bits ignored).
 * D's fragment ("Register Fragment for Matrix D", m64nNk16/k8): thread (warp w of the warpgroup,
 * lane 4g + t) holds element i at row 16w + g + 8 ((i / 2) % 2), column 8 (i / 4) + 2t + i % 2.
 * Each thread computes its own elements at the call (sums in k order, as gcemu_mma); the shared memory the wgmma reads
 * stays recorded until a wait retires its group, and a cp.async issued there before that (it may land at once), or a
 * plain store there (gcemu_shared_store: the test's host build calls it before each), fails the launch: a kernel that
 * refills a stage a wgmma in flight still reads. */
int64_t wgmma_address(const char *p, const char *ring) __asm__("gcemu_wgmma_address");
int64_t wgmma_address(const char *p, const char *ring)
{
    current->smem_base = ring;
    return p - ring;
}

/* The address of element (r, k) of a wgmma operand: r a row of M or N, k of K; `bytes` per element. */
static const char *wgmma_element(uint64_t desc, int mn_major, unsigned bytes, unsigned r, unsigned k)
{
    uint32_t start = (uint32_t)(desc & 0x3fff) << 4, lbo = (uint32_t)((desc >> 16) & 0x3fff) << 4, sbo = (uint32_t)((desc >> 32) & 0x3fff) << 4;
    if ((desc >> 62) != 1 || ((desc >> 49) & 7) != 0)
    {
        fprintf(stderr, "cuda emulator: wgmma descriptor %#llx: only the 128-byte swizzle with base offset 0 is emulated\n", (unsigned long long)desc);
        abort();
    }
    uint32_t a = mn_major
        ? start + r / 64 * lbo + k / 8 * sbo + k % 8 * 128 + r % 64 / 8 * 16 + r % 8 * 2
        : start + r / 8 * sbo + r % 8 * 128 + k * bytes;
    a ^= ((a >> 7) & 7) << 4;
    return current->smem_base + a;
}

/* An operand element's value: bf16 or f16 bits, or TF32 (an f32 whose low 13 bits the tensor cores ignore). */
static float wgmma_value(int kind, const char *p)
{
    if (kind == MMA_TF32)
    {
        uint32_t bits;
        memcpy(&bits, p, sizeof bits);
        return from_bits(bits & 0xffffe000u);
    }
    uint16_t bits;
    memcpy(&bits, p, sizeof bits);
    return kind == MMA_BF16 ? from_bits((uint32_t)bits << 16) : half_to_float(bits);
}

void gcemu_wgmma(int kind, int n, int trans_a, int trans_b, uint64_t da, uint64_t db, int scale_d, const float *c, float *d)
{
    unsigned w = tid % 128 / WARP, lane = tid % WARP, g = lane >> 2, t = lane & 3;
    unsigned bytes = kind == MMA_TF32 ? 4 : 2, K = 32 / bytes;
    if (kind == MMA_TF32 && (trans_a || trans_b)) { fprintf(stderr, "cuda emulator: a TF32 wgmma has no transpose\n"); abort(); }
    for (int i = 0; i < n / 2; i++)
    {
        unsigned row = 16 * w + g + 8 * ((i >> 1) & 1), col = 8 * (i >> 2) + 2 * t + (i & 1);
        float sum = scale_d ? c[i] : 0.0f;
        for (unsigned k = 0; k < K; k++)
            sum += wgmma_value(kind, wgmma_element(da, trans_a, bytes, row, k)) * wgmma_value(kind, wgmma_element(db, trans_b, bytes, col, k));
        d[i] = sum;
    }
    /* The bytes this wgmma reads (the whole warpgroup's: A's 64 rows, B's n), kept until its group is waited for; the
     * warpgroup's first thread keeps them for all (check_wgmma_reads looks there). */
    const char *lo = NULL, *hi = NULL;
    for (unsigned k = 0; k < K && tid % (4 * WARP) == 0; k++)
        for (unsigned r = 0; r < 64 + (unsigned)n; r++)
        {
            const char *p = r < 64 ? wgmma_element(da, trans_a, bytes, r, k) : wgmma_element(db, trans_b, bytes, r - 64, k);
            if (!lo || p < lo) lo = p;
            if (!hi || p + bytes > hi) hi = p + bytes;
        }
    if (!lo) return;
    if (wq->npending == MAX_WGMMA) { fprintf(stderr, "cuda emulator: more than %d wgmmas in flight\n", MAX_WGMMA); abort(); }
    wq->pending[wq->npending++] = (struct wgmma_read){ lo, hi, -1 };
}

void gcemu_wgmma_commit(void)
{
    wq->committed++;
    for (int i = 0; i < wq->npending; i++)
        if (wq->pending[i].group < 0) wq->pending[i].group = wq->committed;
}

/* wgmma.wait_group keep: every committed group but the newest `keep` is done; their reads are over. */
void gcemu_wgmma_wait(int keep)
{
    int kept = 0;
    for (int i = 0; i < wq->npending; i++)
        if (!(wq->pending[i].group >= 0 && wq->pending[i].group <= wq->committed - keep)) wq->pending[kept++] = wq->pending[i];
    wq->npending = kept;
}

/* A copy landing in [dst, dst + bytes): does a wgmma in flight read there? (A warpgroup's threads issue the same
 * wgmmas: its first thread's stand for all.) */
static void check_wgmma_reads(const char *dst, unsigned bytes)
{
    struct launch *l = current;
    if (!l->fibers) return;
    for (unsigned f = 0; f < l->size; f += 4 * WARP)
    {
        const struct wgmma_queue *q = &l->fibers[f].wq;
        for (int i = 0; i < q->npending; i++)
            if (dst < q->pending[i].hi && dst + bytes > q->pending[i].lo)
            {
                if (!l->hazard)
                    fprintf(stderr, "cuda emulator: a cp.async overwrote shared memory (offset %ld) that thread %u's wgmma in flight reads\n",
                            (long)(dst - l->smem_base), f);
                l->hazard = 1;
                return;
            }
    }
}

/* A plain store to shared memory in a kernel that uses wgmma: as a cp.async, it must not land where a wgmma in flight reads. */
void gcemu_shared_store(const char *dst, int64_t bytes) { check_wgmma_reads(dst, (unsigned)bytes); }

/* ---- cp.async: copies queued per thread, grouped by commit, done when waited for ----
 * A copy happens only when a wait.group lets its group complete (or wait.all), so a kernel that reads a stage
 * before waiting for its copies reads stale data here as it may on a GPU. Its source is read then too: kernels
 * only copy from inputs, which no thread writes. */
static void cp_enqueue(void *dst, const void *src, unsigned bytes, unsigned read)
{
    if (cp->npending == MAX_PENDING) { fprintf(stderr, "cuda emulator: more than %d cp.async copies in flight\n", MAX_PENDING); abort(); }
    /* A copy may land as soon as it is issued: where a wgmma in flight reads, that is a race. */
    check_wgmma_reads(dst, bytes);
    gcemu_check_align(dst, bytes);
    gcemu_check_align(src, bytes);
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
        f->wq.npending = f->wq.committed = 0;
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
            wq = &f->wq;
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

CUresult run_launch(const struct function *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, void **params)
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
        /* No barrier, no shuffle: the block's threads in turn on this thread. A GPU runs blocks, and threads between
         * barriers, in no order a kernel may rely on: blocks and threads run last first here, so that a kernel whose result
         * depends on that order (two threads writing one element unordered) computes something other than in order. */
        cp = &serial_cp;
        for (unsigned z = gz; z-- > 0;)
            for (unsigned y = gy; y-- > 0;)
                for (unsigned x = gx; x-- > 0;)
                {
                    ctaid[0] = x; ctaid[1] = y; ctaid[2] = z;
                    for (unsigned t = bx; t-- > 0;)
                    {
                        tid = t;
                        l->kernel(params);
                    }
                }
        if (l->misaligned) status = ERR_MISALIGNED_ADDRESS;
    }
    else if (!reserve_stacks(bx) || !(l->fibers = calloc(bx, sizeof *l->fibers)))
        status = ERR_LAUNCH_OUT_OF_RESOURCES;
    else
    {
        for (unsigned z = gz; z-- > 0 && status == OK;)
            for (unsigned y = gy; y-- > 0 && status == OK;)
                for (unsigned x = gx; x-- > 0 && status == OK;)
                {
                    ctaid[0] = x; ctaid[1] = y; ctaid[2] = z;
                    if (run_block(l) != 0 || l->hazard) status = ERR_LAUNCH_FAILED;
                    else if (l->misaligned) status = ERR_MISALIGNED_ADDRESS;
                }
        free(l->fibers);
    }
    current = saved;
    free(l);
    if (status == OK) __atomic_add_fetch(&launches, 1, __ATOMIC_SEQ_CST);
    return status;
}


/* Kernels run since load: a test checks that the GPU path, not a fallback, ran. */
long gcemu_launches(void) { return __atomic_load_n(&launches, __ATOMIC_SEQ_CST); }
