using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Splitting work over threads in generated code, with libc's pthreads only (the AOT library must not
/// need our runtime): <c>void @gc.parallel(ptr fn, ptr ctx, i32 n, i32 threads)</c> runs <c>fn(ctx, t, n)</c> for
/// t = 0..n−1 on up to <c>threads</c> threads (the calling thread among them), each part taken by whichever
/// thread is free next, and returns when all are done.
/// <para>
/// The parts run on a pool of worker threads that the module keeps (see <see cref="EmitPool"/>): started
/// on first use, grown to the most threads a call asked for, spinning briefly between parallel regions
/// and then sleeping on a condition variable. Creating threads per region costs ~100 µs on a VM, which
/// made every sub-millisecond kernel single-threaded; handing a region to a spinning pool costs about a
/// microsecond. A part that no worker can take (thread creation failed, or the pool is busy with another
/// caller's region) runs on the calling thread, so results never depend on threads.
/// </para>
/// </summary>
internal static class Parallel
{
    public const string Name = "gc.parallel";

    /// <summary>Stops and joins the pool's workers (<c>void (i1 wait)</c>); see <see cref="EmitRelease"/>.</summary>
    public const string Release = "gc.pool.release";

    /// <summary>
    /// Work (in multiply-adds or element operations) each extra thread must get: ~2^17 multiply-adds take
    /// a few microseconds at AVX-512 speed, several times what handing a part to a spinning worker costs.
    /// </summary>
    public const long Grain = 1 << 17;

    /// <summary>
    /// What moving one element through memory costs in the units of <see cref="Grain"/> (vectorised multiply-adds):
    /// an FMA unit pair retires a multiply-add in a small fraction of a cycle, while copying an element with its
    /// index arithmetic takes a quarter to half of one, about 8 times as long. Loops weigh each element they store
    /// by it (im2col, elementwise kernels on top of their ops), so a copy worth a hundred microseconds is not judged
    /// too small to split.
    /// </summary>
    public const long ElementMoveCost = 8;

    /// <summary>The most workers a module's pool starts (parts beyond run on the caller).</summary>
    public const int MaxWorkers = 63;

    /// <summary>
    /// Pause iterations a worker spins before sleeping (~1 ms: one PAUSE is ~40–140 cycles): back-to-back
    /// calls and the serial stretches between a model's kernels keep the workers hot.
    /// </summary>
    private const int WorkerSpins = 1 << 14;

    /// <summary>
    /// A spinning worker gives the CPU away (<c>sched_yield</c>) once per this many pauses (a power of two), so that an
    /// oversubscribed machine still runs the threads with work. Once per 64 (about a microsecond) had the worker in
    /// the system call, which a VM makes slow, much of the time a region was published: it joined late, and the
    /// caller ran the larger share of each GEMM (Inception v2 at 2 threads, Zen 5 VM: 25 % more GEMM samples on the
    /// caller than on the worker, and equal shares with once per 1024).
    /// </summary>
    private const int SpinsPerYield = 1024;

    /// <summary>Pause iterations the caller spins waiting for the workers before it starts yielding the CPU.</summary>
    private const int CallerSpins = 1 << 12;

    /// <summary>i64s between two chunks' cursors: one cache line each, so that claiming in one chunk does not slow the others.</summary>
    private const int CursorStride = 8;

    /// <summary>Bits of the job word for the part count, and again for the thread count above it (the generation is above both).</summary>
    private const int PartBits = 16;

    /// <summary>
    /// Parts per thread a region is cut into when its parts are independent of each other's cost (<see cref="Parts"/>):
    /// a thread that finishes its own chunk early takes parts of the others', so a vCPU that the host slows (10 % on this
    /// VM's second CPU) no longer holds the other thread up for the rest of the region.
    /// </summary>
    public const int PartsPerThread = 4;

    /// <summary>One step of a spin-wait: <c>void (i1 yield)</c>, a PAUSE or a <c>sched_yield</c>.</summary>
    private const string Relax = "gc.pool.relax";

    public static string Emit(ModuleContext module)
    {
        if (!module.FirstHelper(Name)) return Name;
        EmitPool(module);
        module.OnStop(Release);
        module.Declare("declare i32 @pthread_create(ptr, ptr, ptr, ptr) nounwind");
        module.AddLibraryFunction($$"""
            define internal void @{{Name}}(ptr %fn, ptr %ctx, i32 %n, i32 %threads) nounwind {
            entry:
              %many = icmp sgt i32 %n, 1
              br i1 %many, label %several, label %single
            several:
              %alone = icmp sle i32 %threads, 1
              br i1 %alone, label %serial, label %claim
            single:
              call void %fn(ptr %ctx, i32 0, i32 1, i32 0)
              ret void
            claim:
              %cx = cmpxchg ptr @gc.pool.busy, i32 0, i32 1 acquire monotonic
              %got = extractvalue { i32, i1 } %cx, 1
              br i1 %got, label %grow, label %serial
            serial:
              %s = phi i32 [ 0, %claim ], [ 0, %several ], [ %s.next, %serial ]
              call void %fn(ptr %ctx, i32 %s, i32 %n, i32 0)
              %s.next = add i32 %s, 1
              %s.more = icmp slt i32 %s.next, %n
              br i1 %s.more, label %serial, label %serial.done
            serial.done:
              ret void
            grow:
              %have = load i32, ptr @gc.pool.workers
              %fewer = icmp slt i32 %threads, %n
              %users = select i1 %fewer, i32 %threads, i32 %n
              %want.all = sub i32 %users, 1
              %want.cap = icmp slt i32 %want.all, {{MaxWorkers}}
              %want = select i1 %want.cap, i32 %want.all, i32 {{MaxWorkers}}
              %job.old = load i64, ptr @gc.pool.job
              %gen.old = lshr i64 %job.old, 32
              %arg = inttoptr i64 %gen.old to ptr
              br label %spawn.head
            spawn.head:
              %w = phi i32 [ %have, %grow ], [ %w.next, %spawn.ok ]
              %need = icmp slt i32 %w, %want
              br i1 %need, label %spawn, label %publish
            spawn:
              %idx = add i32 %w, 1
              %idx64 = zext i32 %idx to i64
              %tid = getelementptr inbounds [{{MaxWorkers + 1}} x i64], ptr @gc.pool.tids, i64 0, i64 %idx64
              %rc = call i32 @pthread_create(ptr %tid, ptr null, ptr @gc.pool.worker, ptr %arg)
              %ok = icmp eq i32 %rc, 0
              br i1 %ok, label %spawn.ok, label %publish
            spawn.ok:
              %w.next = add i32 %w, 1
              store i32 %w.next, ptr @gc.pool.workers
              br label %spawn.head
            publish:
              store atomic i32 %n, ptr @gc.pool.pending monotonic, align 4
              %home = call i32 @sched_getcpu()
              store atomic i32 %home, ptr @gc.pool.home monotonic, align 4
              store ptr %fn, ptr @gc.pool.fn
              store ptr %ctx, ptr @gc.pool.ctx
              %gen.new = add i64 %gen.old, 1
              %gen.hi = shl i64 %gen.new, 32
              br label %cursor
            cursor:
              %u = phi i32 [ 0, %publish ], [ %u.next, %cursor ]
              %start = call i32 @gc.pool.chunk(i32 %u, i32 %n, i32 %users)
              %start64 = zext i32 %start to i64
              %tagged = or i64 %gen.hi, %start64
              %u64 = zext i32 %u to i64
              %cur = getelementptr inbounds [{{MaxWorkers + 1}} x [{{CursorStride}} x i64]], ptr @gc.pool.cursors, i64 0, i64 %u64, i64 0
              store atomic i64 %tagged, ptr %cur monotonic, align 8
              %u.next = add i32 %u, 1
              %u.more = icmp slt i32 %u.next, %users
              br i1 %u.more, label %cursor, label %go
            go:
              %taken = or i64 %gen.hi, 1
              store atomic i64 %taken, ptr @gc.pool.slots monotonic, align 8
              %n64 = zext i32 %n to i64
              %users64 = zext i32 %users to i64
              %users.at = shl i64 %users64, {{PartBits}}
              %shape = or i64 %users.at, %n64
              %job.new = or i64 %gen.hi, %shape
              store atomic i64 %job.new, ptr @gc.pool.job release, align 8
              call void @gc.pool.wake()
              call void @gc.pool.parts(i64 %job.new, i32 0)
              br label %wait
            wait:
              %i = phi i32 [ 0, %go ], [ %i.next, %wait.again ]
              %left = load atomic i32, ptr @gc.pool.pending acquire, align 4
              %finished = icmp eq i32 %left, 0
              br i1 %finished, label %done, label %wait.again
            wait.again:
              %i.next = add i32 %i, 1
              %impatient = icmp uge i32 %i, {{CallerSpins}}
              call void @{{Relax}}(i1 %impatient)
              br label %wait
            done:
              store atomic i32 0, ptr @gc.pool.busy release, align 4
              ret void
            }
            """);
        return Name;
    }

    /// <summary>
    /// The pool's state (internal globals: one pool per module, shared by all calls of the library), its
    /// worker, and <c>@gc.pool.parts(i64 job, i32 slot)</c>, which the caller (slot 0) and every worker run. The job
    /// word is <c>(generation &lt;&lt; 32) | (threads &lt;&lt; 16) | parts</c>; publishing it with release order hands
    /// fn and ctx over. The parts are cut into one contiguous chunk per thread slot, each with a cursor that carries
    /// the generation too: a worker takes the next free slot, claims the parts of its own chunk in order, then those
    /// left in the others' chunks (so rows stay with the thread that had them in the kernel before, unless it falls
    /// behind). A worker that looks late never claims a part of a newer region; a claimed part keeps its region (and
    /// fn, ctx) alive until the part is counted off <c>pending</c>. Claiming rather than assigning parts means a worker
    /// that is not running (descheduled, asleep, never started) holds nobody up: the others take its chunk. Only the
    /// thread holding <c>busy</c> publishes jobs or changes the pool.
    /// </summary>
    private static void EmitPool(ModuleContext module)
    {
        // pthread_mutex_t and pthread_cond_t are statically initialised by zero bytes (glibc, musl); 64 bytes covers both.
        module.AddLibraryGlobal("@gc.pool.busy = internal global i32 0, align 64");
        module.AddLibraryGlobal("@gc.pool.job = internal global i64 0, align 64");
        module.AddLibraryGlobal("@gc.pool.fn = internal global ptr null, align 8");
        module.AddLibraryGlobal("@gc.pool.ctx = internal global ptr null, align 8");
        module.AddLibraryGlobal("@gc.pool.stop = internal global i32 0, align 4");
        module.AddLibraryGlobal($"@gc.pool.cursors = internal global [{MaxWorkers + 1} x [{CursorStride} x i64]] zeroinitializer, align 64");
        module.AddLibraryGlobal("@gc.pool.slots = internal global i64 0, align 64");
        module.AddLibraryGlobal("@gc.pool.pending = internal global i32 0, align 64");
        module.AddLibraryGlobal("@gc.pool.workers = internal global i32 0, align 64");
        module.AddLibraryGlobal("@gc.pool.home = internal global i32 -1, align 4");
        module.AddLibraryGlobal($"@gc.pool.tids = internal global [{MaxWorkers + 1} x i64] zeroinitializer, align 64");
        module.AddLibraryGlobal("@gc.pool.mutex = internal global [64 x i8] zeroinitializer, align 64");
        module.AddLibraryGlobal("@gc.pool.cond = internal global [64 x i8] zeroinitializer, align 64");
        module.Declare("declare i32 @pthread_mutex_lock(ptr) nounwind");
        module.Declare("declare i32 @pthread_mutex_unlock(ptr) nounwind");
        module.Declare("declare i32 @pthread_cond_wait(ptr, ptr) nounwind");
        module.Declare("declare i32 @pthread_cond_broadcast(ptr) nounwind");
        module.Declare("declare i32 @pthread_join(i64, ptr) nounwind");
        module.Declare("declare i32 @sched_yield() nounwind");
        module.Declare("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)");
        module.Declare("declare void @llvm.x86.sse2.pause() nounwind");
        // One step of a spin-wait (the caller waiting for the parts, a worker watching for a job): a PAUSE,
        // or, when the waiter decides it has spun long enough, giving the CPU away.
        module.AddLibraryFunction($$"""
            define internal void @{{Relax}}(i1 %yield) nounwind {
            entry:
              br i1 %yield, label %give, label %pause
            pause:
              call void @llvm.x86.sse2.pause()
              ret void
            give:
              %y = call i32 @sched_yield()
              ret void
            }
            """);
        // Taking the mutex around the broadcast closes the window between a worker's last look at the job
        // word (under the mutex) and its wait.
        module.AddLibraryFunction("""
            define internal void @gc.pool.wake() nounwind {
            entry:
              %l = call i32 @pthread_mutex_lock(ptr @gc.pool.mutex)
              %b = call i32 @pthread_cond_broadcast(ptr @gc.pool.cond)
              %u = call i32 @pthread_mutex_unlock(ptr @gc.pool.mutex)
              ret void
            }
            """);
        // The first part of chunk u when n parts are cut into `users` chunks of as equal sizes as integers allow.
        module.AddLibraryFunction("""
            define internal i32 @gc.pool.chunk(i32 %u, i32 %n, i32 %users) nounwind {
            entry:
              %u64 = zext i32 %u to i64
              %n64 = zext i32 %n to i64
              %users64 = zext i32 %users to i64
              %un = mul i64 %u64, %n64
              %q = udiv i64 %un, %users64
              %r = trunc i64 %q to i32
              ret i32 %r
            }
            """);
        module.AddLibraryFunction($$"""
            define internal void @gc.pool.parts(i64 %job, i32 %given) nounwind {
            entry:
              %gen = lshr i64 %job, 32
              %n = and i64 %job, {{(1L << PartBits) - 1}}
              %n32 = trunc i64 %n to i32
              %users.raw = lshr i64 %job, {{PartBits}}
              %users64 = and i64 %users.raw, {{(1L << PartBits) - 1}}
              %users = trunc i64 %users64 to i32
              %has = icmp sge i32 %given, 0
              br i1 %has, label %own, label %seat
            seat:
              %sl = load atomic i64, ptr @gc.pool.slots acquire, align 8
              %slgen = lshr i64 %sl, 32
              %slsame = icmp eq i64 %slgen, %gen
              %k64 = and i64 %sl, 4294967295
              %k = trunc i64 %k64 to i32
              %free = icmp ult i64 %k64, %users64
              %can.sit = and i1 %slsame, %free
              br i1 %can.sit, label %sit, label %done
            sit:
              %sl.next = add i64 %sl, 1
              %slx = cmpxchg ptr @gc.pool.slots, i64 %sl, i64 %sl.next acq_rel monotonic
              %sat = extractvalue { i64, i1 } %slx, 1
              br i1 %sat, label %own, label %seat
            own:
              %slot = phi i32 [ %given, %entry ], [ %k, %sit ]
              br label %chunk
            chunk:
              %i = phi i32 [ 0, %own ], [ %i.next, %chunk.next ]
              %c.raw = add i32 %slot, %i
              %wrap = icmp uge i32 %c.raw, %users
              %c.wrapped = sub i32 %c.raw, %users
              %c = select i1 %wrap, i32 %c.wrapped, i32 %c.raw
              %c1 = add i32 %c, 1
              %end = call i32 @gc.pool.chunk(i32 %c1, i32 %n32, i32 %users)
              %c64 = zext i32 %c to i64
              %cur = getelementptr inbounds [{{MaxWorkers + 1}} x [{{CursorStride}} x i64]], ptr @gc.pool.cursors, i64 0, i64 %c64, i64 0
              br label %claim
            claim:
              %v = load atomic i64, ptr %cur acquire, align 8
              %vgen = lshr i64 %v, 32
              %same = icmp eq i64 %vgen, %gen
              br i1 %same, label %check, label %done
            check:
              %p = trunc i64 %v to i32
              %open = icmp slt i32 %p, %end
              br i1 %open, label %take, label %chunk.next
            take:
              %v.next = add i64 %v, 1
              %cx = cmpxchg ptr %cur, i64 %v, i64 %v.next acq_rel monotonic
              %won = extractvalue { i64, i1 } %cx, 1
              br i1 %won, label %run, label %claim
            run:
              %fn = load ptr, ptr @gc.pool.fn
              %ctx = load ptr, ptr @gc.pool.ctx
              call void %fn(ptr %ctx, i32 %p, i32 %n32, i32 %slot)
              %old = atomicrmw sub ptr @gc.pool.pending, i32 1 release
              br label %claim
            chunk.next:
              %i.next = add i32 %i, 1
              %more = icmp slt i32 %i.next, %users
              br i1 %more, label %chunk, label %done
            done:
              ret void
            }
            """);
        EmitLeave(module);
        // A worker spins on the job word (yielding now and then, so that an oversubscribed machine still
        // runs the threads with work), then sleeps on the condition variable until the next region.
        module.AddLibraryFunction($$"""
            define internal ptr @gc.pool.worker(ptr %arg) nounwind {
            entry:
              %seen0 = ptrtoint ptr %arg to i64
              %allowed = alloca [{{AffinityBytes / 8}} x i64], align 64
              call void @llvm.memset.p0.i64(ptr %allowed, i8 0, i64 {{AffinityBytes}}, i1 false)
              ; Left all zero when it cannot be read: then the worker never moves (see gc.pool.leave).
              %aff = call i32 @sched_getaffinity(i32 0, i64 {{AffinityBytes}}, ptr %allowed)
              br label %watch
            watch:
              %seen = phi i64 [ %seen0, %entry ], [ %gen, %work ]
              br label %spin
            spin:
              %i = phi i32 [ 0, %watch ], [ %i.next, %spin.which ]
              %job1 = load atomic i64, ptr @gc.pool.job acquire, align 8
              %gen1 = lshr i64 %job1, 32
              %new1 = icmp ne i64 %gen1, %seen
              br i1 %new1, label %take, label %spin.next
            spin.next:
              %i.next = add i32 %i, 1
              %spinning = icmp ult i32 %i.next, {{WorkerSpins}}
              br i1 %spinning, label %spin.which, label %sleep
            spin.which:
              %low = and i32 %i.next, {{SpinsPerYield - 1}}
              %polite = icmp eq i32 %low, 0
              call void @{{Relax}}(i1 %polite)
              br label %spin
            sleep:
              %l = call i32 @pthread_mutex_lock(ptr @gc.pool.mutex)
              br label %sleep.check
            sleep.check:
              %job2 = load atomic i64, ptr @gc.pool.job acquire, align 8
              %gen2 = lshr i64 %job2, 32
              %new2 = icmp ne i64 %gen2, %seen
              br i1 %new2, label %woken, label %sleep.wait
            sleep.wait:
              %cw = call i32 @pthread_cond_wait(ptr @gc.pool.cond, ptr @gc.pool.mutex)
              br label %sleep.check
            woken:
              %u = call i32 @pthread_mutex_unlock(ptr @gc.pool.mutex)
              br label %take
            take:
              %job = phi i64 [ %job1, %spin ], [ %job2, %woken ]
              %stop = load atomic i32, ptr @gc.pool.stop acquire, align 4
              %stopping = icmp ne i32 %stop, 0
              br i1 %stopping, label %exit, label %place
            place:
              %me = call i32 @sched_getcpu()
              %home = load atomic i32, ptr @gc.pool.home monotonic, align 4
              %crowded = icmp eq i32 %me, %home
              br i1 %crowded, label %leave, label %work
            leave:
              call void @{{Leave}}(i32 %home, ptr %allowed)
              br label %work
            work:
              %gen = lshr i64 %job, 32
              call void @gc.pool.parts(i64 %job, i32 -1)
              br label %watch
            exit:
              ret ptr null
            }
            """);
        EmitRelease(module);
    }

    /// <summary>
    /// <c>void @gc.pool.leave(i32 cpu, ptr allowed)</c>: confines the calling worker to the CPUs of <c>allowed</c> (the
    /// mask it started with, inherited from the thread that made the pool) other than <c>cpu</c>, the caller's, where the
    /// worker found itself running when it took a job. After the machine idles the scheduler tends to wake a worker on
    /// its waker's CPU (wake-affine) and to leave both threads sharing it for milliseconds while the other CPU idles:
    /// the MLP at batch 64, 2 threads, Zen 5 VM, after each 50 ms pause (as `compare` pauses) ran at 0.45–0.59 ms
    /// against 0.33 back to back; moving the worker off once and letting it go back (its mask restored) left the
    /// first calls after each pause slow, 0.40–0.46; keeping it off, 0.34–0.35. Only the pool's own threads are
    /// confined, and again from <c>allowed</c> whenever the caller turns up on a worker's CPU; nothing happens when
    /// no other CPU is allowed, or the mask could not be read (more than <see cref="AffinityBytes"/> · 8 CPUs).
    /// </summary>
    private static void EmitLeave(ModuleContext module)
    {
        module.Declare("declare i32 @sched_getcpu() nounwind");
        module.Declare("declare i32 @sched_getaffinity(i32, i64, ptr) nounwind");
        module.Declare("declare i32 @sched_setaffinity(i32, i64, ptr) nounwind");
        const int words = AffinityBytes / 8;
        module.Declare($"declare i64 @llvm.vector.reduce.or.v{words}i64(<{words} x i64>)");
        module.AddLibraryFunction($$"""
            define internal void @{{Leave}}(i32 %cpu, ptr %allowed) nounwind {
            entry:
              %mask = alloca <{{words}} x i64>, align 64
              %known = icmp ult i32 %cpu, {{AffinityBytes * 8}}
              br i1 %known, label %drop, label %done
            drop:
              %all = load <{{words}} x i64>, ptr %allowed, align 64
              store <{{words}} x i64> %all, ptr %mask, align 64
              %w = lshr i32 %cpu, 6
              %w64 = zext i32 %w to i64
              %bit = and i32 %cpu, 63
              %bit64 = zext i32 %bit to i64
              %one = shl i64 1, %bit64
              %at = getelementptr inbounds i64, ptr %mask, i64 %w64
              %word = load i64, ptr %at
              %rest = xor i64 %one, -1
              %without = and i64 %word, %rest
              store i64 %without, ptr %at
              %left = load <{{words}} x i64>, ptr %mask, align 64
              %any = call i64 @llvm.vector.reduce.or.v{{words}}i64(<{{words}} x i64> %left)
              %others = icmp ne i64 %any, 0
              br i1 %others, label %move, label %done
            move:
              %moved = call i32 @sched_setaffinity(i32 0, i64 {{AffinityBytes}}, ptr %mask)
              br label %done
            done:
              ret void
            }
            """);
    }

    private const string Leave = "gc.pool.leave";

    /// <summary>Bytes of the CPU mask <see cref="EmitLeave"/> reads (glibc's <c>cpu_set_t</c>: 1024 CPUs).</summary>
    private const int AffinityBytes = 128;

    /// <summary>
    /// <c>void @gc.pool.release(i1 wait)</c>: stops and joins the workers, so that the code can be unloaded;
    /// the next parallel region starts new ones. It takes the pool first, waiting for a region in flight
    /// when <c>wait</c> is set and giving up otherwise (a library destructor must not hang process exit).
    /// </summary>
    private static void EmitRelease(ModuleContext module)
    {
        module.AddLibraryFunction($$"""
            define internal void @{{Release}}(i1 %wait) nounwind {
            entry:
              br label %claim
            claim:
              %cx = cmpxchg ptr @gc.pool.busy, i32 0, i32 1 acquire monotonic
              %got = extractvalue { i32, i1 } %cx, 1
              br i1 %got, label %check, label %busy
            busy:
              br i1 %wait, label %yield, label %gone
            yield:
              %y = call i32 @sched_yield()
              br label %claim
            check:
              %workers = load i32, ptr @gc.pool.workers
              %none = icmp eq i32 %workers, 0
              br i1 %none, label %done, label %signal
            signal:
              store atomic i32 1, ptr @gc.pool.stop monotonic, align 4
              %job.old = load i64, ptr @gc.pool.job
              %gen.old = lshr i64 %job.old, 32
              %gen.new = add i64 %gen.old, 1
              %job.new = shl i64 %gen.new, 32
              store atomic i64 %job.new, ptr @gc.pool.job release, align 8
              call void @gc.pool.wake()
              br label %join
            join:
              %j = phi i32 [ 1, %signal ], [ %j.next, %join ]
              %j64 = zext i32 %j to i64
              %slot = getelementptr inbounds [{{MaxWorkers + 1}} x i64], ptr @gc.pool.tids, i64 0, i64 %j64
              %tid = load i64, ptr %slot
              %jr = call i32 @pthread_join(i64 %tid, ptr null)
              %j.next = add i32 %j, 1
              %more = icmp sle i32 %j.next, %workers
              br i1 %more, label %join, label %joined
            joined:
              store i32 0, ptr @gc.pool.workers
              store atomic i32 0, ptr @gc.pool.stop monotonic, align 4
              br label %done
            done:
              store atomic i32 0, ptr @gc.pool.busy release, align 4
              br label %gone
            gone:
              ret void
            }
            """);
    }

    /// <summary>
    /// Inside a part function <c>(ptr %ctx, i32 %t, i32 %n, i32 %slot)</c>: the rows [lo, hi) of <paramref name="rows"/> that part
    /// <c>%t</c> of <c>%n</c> takes, in contiguous runs of ⌈rows / n⌉ (the last part may get fewer, or none).
    /// </summary>
    public static (string Lo, string Hi) PartRows(LlvmBuilder b, long rows)
    {
        b.Line("%part.t = zext i32 %t to i64");
        b.Line("%part.n = zext i32 %n to i64");
        var per = b.Let($"udiv i64 {b.Let($"add i64 {rows}, {b.Let("sub i64 %part.n, 1")}")}, %part.n", "per");
        var lo = b.Let($"mul i64 %part.t, {per}", "lo");
        var hiRaw = b.Let($"add i64 {lo}, {per}", "hi");
        return (lo, b.Let($"select i1 {b.Let($"icmp slt i64 {hiRaw}, {rows}")}, i64 {hiRaw}, i64 {rows}", "hi"));
    }

    /// <summary>
    /// The parts a region run by <paramref name="threads"/> (an i32 value or literal, from <see cref="Threads"/>, which
    /// already caps it at <paramref name="limit"/>) is cut into: <paramref name="perThread"/> per thread, at most
    /// <paramref name="limit"/>. Each thread runs its own chunk first and then helps the others (see <see cref="EmitPool"/>).
    /// One part per thread, claimed in any order, lost up to the slowest vCPU's lag (10 % on this VM's second CPU) at the
    /// end of every region; four claimed in order from one counter balanced that but moved rows between threads
    /// (ResNet-50 and MobileNet v2 3–9 % slower, seventh session). Own chunk first (with the 8-row GEMM runs and the rarer
    /// yield before it), 2 threads, Zen 5 VM: DenseNet-121
    /// 31.3 → 26.2 ms, Inception v1 12.5 → 11.9, ShuffleNet 3.9 → 3.7, ResNet-50 25.5 → 24.8.
    /// </summary>
    public static string Parts(LlvmBuilder b, string threads, long limit, int perThread = PartsPerThread)
    {
        if (threads == "1" || limit <= 1) return "1";
        if (perThread == 1) return threads;
        var wanted = b.Let($"mul i32 {threads}, {perThread}", "parts");
        long cap = Math.Min(limit, MaxParts);
        return b.Let($"select i1 {b.Let($"icmp slt i32 {wanted}, {cap}")}, i32 {wanted}, i32 {cap}", "parts");
    }

    /// <summary>Most parts a region has (the job word's part field holds fewer than 2^<see cref="PartBits"/>).</summary>
    private const long MaxParts = (MaxWorkers + 1) * PartsPerThread;

    /// <summary>
    /// Emits <c>call @gc.parallel(fn, ctx, parts, threads)</c>: <c>fn(ctx, part, parts, slot)</c> is called for each
    /// part, <c>slot</c> (below the region's thread count) telling apart the threads running parts at the same time.
    /// </summary>
    public static void Call(LlvmBuilder b, ModuleContext module, string fn, string ctx, string parts, string threads) =>
        b.Line($"call void @{Emit(module)}(ptr {fn}, ptr {ctx}, i32 {parts}, i32 {threads})");

    /// <summary><see cref="Call"/> with <see cref="Parts"/>: the region cut for <paramref name="threads"/> threads.</summary>
    public static void Split(LlvmBuilder b, ModuleContext module, string fn, string ctx, string threads, long limit) =>
        Call(b, module, fn, ctx, Parts(b, threads, limit), threads);

    /// <summary>The parameters of a part function (see <see cref="Call"/>).</summary>
    public const string PartParameters = "i32 %t, i32 %n, i32 %slot";

    /// <summary>The most threads <see cref="Threads"/> can return for this work, whatever the call's thread count.</summary>
    public static long MostThreads(long work, long limit) => Math.Max(1, Math.Min(work / Grain, limit));

    /// <summary>
    /// Emits <c>min(threads, max(1, work / Grain), limit)</c> as an i32: how many threads a kernel of
    /// <paramref name="work"/> operations with at most <paramref name="limit"/> independent pieces uses.
    /// </summary>
    public static string Threads(LlvmBuilder b, long work, long limit)
    {
        long useful = MostThreads(work, limit);
        if (useful == 1) return "1";
        var cap = (int)Math.Min(useful, int.MaxValue);
        var lt = b.Let($"icmp slt i32 %threads, {cap}");
        return b.Let($"select i1 {lt}, i32 %threads, i32 {cap}", "nt");
    }
}
