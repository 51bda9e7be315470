namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Splitting work over threads in generated code, with libc's pthreads only (the AOT library must not
/// need our runtime): <c>void @gc.parallel(ptr fn, ptr ctx, i32 n)</c> runs <c>fn(ctx, t, n)</c> for
/// t = 0..n−1, t = 0 on the calling thread, and returns when all are done. A thread that cannot be
/// started runs its share on the caller instead, so the result never depends on thread creation.
/// Threads are created per parallel region (no pool: the library keeps no state between calls); kernels
/// only ask for more than one when each thread gets enough work to pay for that (see <see cref="Grain"/>).
/// </summary>
internal static class Parallel
{
    public const string Name = "gc.parallel";

    /// <summary>
    /// Work (in multiply-adds or element operations) each extra thread must get. Creating and joining a
    /// thread costs on the order of 100 µs on a VM; 16 M multiply-adds take about that long at AVX-512 speed.
    /// </summary>
    public const long Grain = 1 << 24;

    public static string Emit(ModuleContext module)
    {
        if (!module.FirstHelper(Name)) return Name;
        module.Declare("declare i32 @pthread_create(ptr, ptr, ptr, ptr) nounwind");
        module.Declare("declare i32 @pthread_join(i64, ptr) nounwind");
        module.AddFunction("""
            define internal ptr @gc.thread.entry(ptr %rec) nounwind {
            entry:
              %fn = load ptr, ptr %rec
              %pctx = getelementptr inbounds i8, ptr %rec, i64 8
              %ctx = load ptr, ptr %pctx
              %pt = getelementptr inbounds i8, ptr %rec, i64 16
              %t = load i32, ptr %pt
              %pn = getelementptr inbounds i8, ptr %rec, i64 20
              %n = load i32, ptr %pn
              call void %fn(ptr %ctx, i32 %t, i32 %n)
              ret ptr null
            }
            """);
        // Records are {fn, ctx, t, n} (24 bytes); tids[t] is 0 when thread t runs inline.
        module.AddFunction($$"""
            define internal void @{{Name}}(ptr %fn, ptr %ctx, i32 %n) nounwind {
            entry:
              %many = icmp sgt i32 %n, 1
              br i1 %many, label %spawn, label %single
            single:
              call void %fn(ptr %ctx, i32 0, i32 1)
              ret void
            spawn:
              %n64 = zext i32 %n to i64
              %recs = alloca [24 x i8], i64 %n64, align 8
              %tids = alloca i64, i64 %n64, align 8
              br label %create.head
            create.head:
              %t = phi i32 [ 1, %spawn ], [ %t.next, %create.latch ]
              %more = icmp slt i32 %t, %n
              br i1 %more, label %create.body, label %run0
            create.body:
              %t64 = zext i32 %t to i64
              %rec = getelementptr inbounds [24 x i8], ptr %recs, i64 %t64
              store ptr %fn, ptr %rec
              %rctx = getelementptr inbounds i8, ptr %rec, i64 8
              store ptr %ctx, ptr %rctx
              %rt = getelementptr inbounds i8, ptr %rec, i64 16
              store i32 %t, ptr %rt
              %rn = getelementptr inbounds i8, ptr %rec, i64 20
              store i32 %n, ptr %rn
              %tid = getelementptr inbounds i64, ptr %tids, i64 %t64
              %rc = call i32 @pthread_create(ptr %tid, ptr null, ptr @gc.thread.entry, ptr %rec)
              %failed = icmp ne i32 %rc, 0
              br i1 %failed, label %inline, label %create.latch
            inline:
              store i64 0, ptr %tid
              call void %fn(ptr %ctx, i32 %t, i32 %n)
              br label %create.latch
            create.latch:
              %t.next = add i32 %t, 1
              br label %create.head
            run0:
              call void %fn(ptr %ctx, i32 0, i32 %n)
              br label %join.head
            join.head:
              %j = phi i32 [ 1, %run0 ], [ %j.next, %join.latch ]
              %jmore = icmp slt i32 %j, %n
              br i1 %jmore, label %join.body, label %done
            join.body:
              %j64 = zext i32 %j to i64
              %jtid = getelementptr inbounds i64, ptr %tids, i64 %j64
              %id = load i64, ptr %jtid
              %started = icmp ne i64 %id, 0
              br i1 %started, label %join.call, label %join.latch
            join.call:
              %jr = call i32 @pthread_join(i64 %id, ptr null)
              br label %join.latch
            join.latch:
              %j.next = add i32 %j, 1
              br label %join.head
            done:
              ret void
            }
            """);
        return Name;
    }

    /// <summary>
    /// Emits <c>min(threads, max(1, work / Grain), limit)</c> as an i32: how many threads a kernel of
    /// <paramref name="work"/> operations with at most <paramref name="limit"/> independent pieces uses.
    /// </summary>
    public static string Threads(LlvmBuilder b, long work, long limit)
    {
        long useful = Math.Max(1, Math.Min(work / Grain, limit));
        if (useful == 1) return "1";
        var cap = (int)Math.Min(useful, int.MaxValue);
        var lt = b.Let($"icmp slt i32 %threads, {cap}");
        return b.Let($"select i1 {lt}, i32 %threads, i32 {cap}", "nt");
    }
}
