using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;
using GraphCompiler.Runtime;

namespace GraphCompiler.Backends.Cpu.Codegen.Mpi;

/// <summary>
/// A CPU program split over tasks (model parallelism, docs/distributed.md), run SPMD: every MPI rank runs
/// the same program, and rank K is task K. A top-level op placed on task K runs on rank K only; the values
/// a rank does not compute are not valid there (their buffers are never written). A send/recv pair between
/// tasks is MPI point-to-point on the runtime's world communicator, with the pair's index among the
/// entry's transfers as the tag (both ranks number them alike, and MPI keeps the order of messages of one
/// tag, so repeated calls pair up too):
/// <list type="bullet">
/// <item>the send, right after the producer on the sending rank, is an <c>MPI_Isend</c> straight from the
/// value's buffer (with <c>compress</c>, from a 16-bit copy); it never blocks, so the ranks never wait for
/// each other in a cycle: the earliest blocked recv's send was posted earlier in the program order every
/// rank follows;</item>
/// <item>the recv, right before the first reader on the receiving rank, is an <c>MPI_Recv</c> into the
/// recv's buffer (with <c>compress</c>, into a 16-bit buffer, widened after); at the same point the
/// sending rank waits for its send (<c>MPI_Wait</c>): buffer assignment keeps the sent value live until
/// the recv, so its buffer is not reused before the send has finished with it.</item>
/// </list>
/// Results: insert-transfers brings every result to the host (task 0); at the end rank 0 broadcasts them
/// (<c>MPI_Bcast</c>), so every rank returns the same results. Arguments are read on rank 0 only (the host's;
/// other ranks receive what they need from it). Ops in regions run with their parent op, wherever it runs.
/// </summary>
internal sealed class MpiTasks : ITaskHook
{
    /// <summary>MPI guarantees tags up to 32767 (<c>MPI_TAG_UB</c> is at least that): one per transfer pair of a function.</summary>
    private const int MaxTag = 32767;

    /// <summary>The wire element of f32 sent with <c>compress</c>: 2 bytes.</summary>
    private const int CompressedBytes = 2;

    private readonly int _tasks;
    private readonly HashSet<Operation> _topLevel = new(ReferenceEqualityComparer.Instance);

    /// <summary>A send in flight: its request, its 16-bit copy (compressed), the ranks and the wire element type.</summary>
    private sealed record InFlight(string Request, string? Scratch, int From, int To, int Tag, ElementType? Wire);

    private readonly Dictionary<Value, InFlight> _inFlight = new(ReferenceEqualityComparer.Instance);
    private int _nextTag;

    /// <summary>The byte size of each result of the entry, for the final broadcast.</summary>
    private readonly long[] _resultBytes;

    private MpiTasks(Function f, int tasks)
    {
        _tasks = tasks;
        _topLevel.UnionWith(f.Body.Operations);
        _resultBytes = [.. f.ResultTypes.Select(t => t.ByteSize)];
    }

    /// <summary>The hook for <paramref name="f"/> when it is split over tasks (an op or a transfer on a task other than 0), else null.</summary>
    public static MpiTasks? For(Function f)
    {
        int tasks = Tasks(f);
        if (tasks <= 1) return null;
        foreach (var op in f.Body.Operations)
            if (op.Def is CollectiveOp)
                throw new CodegenException($"'{op.Name}': collectives in a program split over tasks are not supported (every rank must reach a collective, but each op runs on one task)");
        return new MpiTasks(f, tasks);
    }

    /// <summary>How many tasks (processes) <paramref name="f"/> is placed over: one more than the highest task any top-level op or transfer names.</summary>
    public static int Tasks(Function f)
    {
        int highest = 0;
        foreach (var op in f.Body.Operations)
        {
            highest = Math.Max(highest, Placement.TaskOf(op));
            if (op.Def is SendOp or RecvOp)
                highest = Math.Max(highest, Math.Max(Placement.TaskOf(op.Attr.Enum("from")), Placement.TaskOf(op.Attr.Enum("to"))));
        }
        return highest + 1;
    }

    public void Prologue(DeviceSite site)
    {
        var (b, m) = (site.B, site.Module);
        MpiRuntime.Ensure(m);
        var status = b.Let($"call i32 @{MpiRuntime.Init}()", "mpistart");
        site.ReturnIf(b.Let($"icmp ne i32 {status}, 0"), status);
        var size = b.Let($"load i32, ptr {MpiRuntime.Size}", "worldsize");
        var wrong = b.FreshLabel("tasks.wrong");
        var right = b.FreshLabel("tasks.right");
        b.CondBr(b.Let($"icmp ne i32 {size}, {_tasks}"), wrong, right);
        b.Block(wrong);
        MpiApi.Message(m, b, "the program is split over %d tasks (/job:worker/task:0..%d), but the MPI world has %d (run it with mpirun -np %d)",
            $", i32 {_tasks}, i32 {_tasks - 1}, i32 {size}, i32 {_tasks}");
        b.Line($"ret i32 {(int)RuntimeStatus.ReplicaMismatch}");
        b.Block(right);
    }

    public string? RunsHere(Operation op, DeviceSite site) =>
        !_topLevel.Contains(op) || op.Def is ConstantOp ? null : OnRank(site.B, Placement.TaskOf(op));

    public bool TryEmit(Operation op, DeviceSite site)
    {
        if (op.Def is not (SendOp or RecvOp) || !Placement.CrossesProcesses(op.Attr.Enum("from"), op.Attr.Enum("to"))) return false;
        if (!_topLevel.Contains(op))
            throw new CodegenException($"'{op.Name}' between tasks inside a region: transfers between processes must be top-level ops (insert-transfers puts them there)");
        if (op.Def is SendOp) Send(op, site);
        else Receive(op, site);
        return true;
    }

    public void Epilogue(DeviceSite site, IReadOnlyList<string> results)
    {
        var b = site.B;
        // A send whose recv is not in the program (hand-written IR) still finishes before the call returns.
        foreach (var pending in _inFlight.Values.ToList()) OnRankDo(b, pending.From, () => Finish(site, pending));
        _inFlight.Clear();
        // The caller's result buffers are valid on rank 0 (results are returned from the host): now on every rank.
        var world = b.Let($"load ptr, ptr {MpiRuntime.World}", "comm");
        for (int i = 0; i < results.Count; i++)
            Call(site, "MPI_Bcast", $"ptr {results[i]}, i32 {Count(_resultBytes[i])}, ptr {MpiApi.Handle(b, "ompi_mpi_byte")}, i32 0, ptr {world}",
                $"MPI_Bcast (result {i} from task 0)");
    }

    private void Send(Operation op, DeviceSite site)
    {
        var b = site.B;
        int from = Placement.TaskOf(op.Attr.Enum("from")), to = Placement.TaskOf(op.Attr.Enum("to"));
        if (_nextTag > MaxTag) throw new CodegenException($"more than {MaxTag + 1} transfers between tasks in one function (MPI's smallest tag bound)");
        var x = op.Operands[0];
        ElementType? wire = op.Attr.Enum("compress") switch { "f16" => ElementType.F16, "bf16" => ElementType.BF16, _ => null };
        var pending = new InFlight(b.Alloca("ptr"), wire is null ? null : b.Alloca("ptr"), from, to, _nextTag++, wire);
        _inFlight[op.Result] = pending;
        OnRankDo(b, from, () =>
        {
            var source = site.HostPointer(x);
            long bytes = x.Type.ByteSize;
            if (wire is { } w)
            {
                var narrow = x.Type.WithElement(w);
                source = Malloc(site, narrow.ByteSize);
                b.Line($"store ptr {source}, ptr {pending.Scratch}");
                var access = new MemoryAccess(b, site.Module);
                b.For("0", x.Type.ElementCount.ToString(), k => access.Store(new KernelBuffer(source, narrow), k, access.Load(site.HostPointer(x), ElementType.F32, k)), "k");
                bytes = narrow.ByteSize;
            }
            var world = b.Let($"load ptr, ptr {MpiRuntime.World}", "comm");
            Call(site, "MPI_Isend", $"ptr {source}, i32 {Count(bytes)}, ptr {MpiApi.Handle(b, "ompi_mpi_byte")}, i32 {to}, i32 {pending.Tag}, ptr {world}, ptr {pending.Request}",
                $"MPI_Isend ({x.Type} from task {from} to task {to}, tag {pending.Tag})");
        });
    }

    private void Receive(Operation op, DeviceSite site)
    {
        var b = site.B;
        if (!_inFlight.Remove(op.Operands[0], out var pending))
            throw new CodegenException($"'recv' between tasks reads no send of this function emitted before it");
        var dest = site.HostPointer(op.Result);
        var type = op.Result.Type;
        OnRankDo(b, pending.To, () =>
        {
            var world = b.Let($"load ptr, ptr {MpiRuntime.World}", "comm");
            var into = dest;
            long bytes = type.ByteSize;
            if (pending.Wire is { } w)
            {
                bytes = type.WithElement(w).ByteSize;
                into = Malloc(site, bytes);
            }
            Call(site, "MPI_Recv", $"ptr {into}, i32 {Count(bytes)}, ptr {MpiApi.Handle(b, "ompi_mpi_byte")}, i32 {pending.From}, i32 {pending.Tag}, ptr {world}, ptr null",
                $"MPI_Recv ({type} from task {pending.From} on task {pending.To}, tag {pending.Tag})");
            if (pending.Wire is { } wire)
            {
                var access = new MemoryAccess(b, site.Module);
                b.For("0", type.ElementCount.ToString(), k => access.Store(new KernelBuffer(dest, type), k, access.Load(into, wire, k)), "k");
                b.Line($"call void @free(ptr {into})");
            }
        });
        OnRankDo(b, pending.From, () => Finish(site, pending));
    }

    /// <summary>On the sending rank: waits until the send has finished with its buffer, and frees its 16-bit copy.</summary>
    private static void Finish(DeviceSite site, InFlight pending)
    {
        var b = site.B;
        Call(site, "MPI_Wait", $"ptr {pending.Request}, ptr null", $"MPI_Wait (send from task {pending.From} to task {pending.To}, tag {pending.Tag})");
        if (pending.Scratch is { } scratch) b.Line($"call void @free(ptr {b.Let($"load ptr, ptr {scratch}")})");
    }

    /// <summary>An i1 that holds on rank <paramref name="task"/>.</summary>
    private static string OnRank(LlvmBuilder b, int task) => b.Let($"icmp eq i32 {b.Let($"load i32, ptr {MpiRuntime.Rank}", "rank")}, {task}", "onrank");

    /// <summary>Emits <paramref name="body"/> to run on rank <paramref name="task"/> only.</summary>
    private static void OnRankDo(LlvmBuilder b, int task, Action body)
    {
        var run = b.FreshLabel("rank.run");
        var done = b.FreshLabel("rank.done");
        b.CondBr(OnRank(b, task), run, done);
        b.Block(run);
        body();
        b.Br(done);
        b.Block(done);
    }

    private static string Malloc(DeviceSite site, long bytes)
    {
        site.Module.Declare("declare noalias ptr @malloc(i64)");
        site.Module.Declare("declare void @free(ptr)");
        var p = site.B.Let($"call ptr @malloc(i64 {Math.Max(bytes, 1)})", "wire");
        site.ReturnIf(site.B.Let($"icmp eq ptr {p}, null"), ((int)RuntimeStatus.OutOfMemory).ToString());
        return p;
    }

    /// <summary>An MPI call whose failure returns <see cref="RuntimeStatus.CollectiveFailed"/> from the program, with MPI's message.</summary>
    private static void Call(DeviceSite site, string name, string args, string what) =>
        MpiApi.Call(site.Module, site.B, name, args, what, status => site.B.Line($"ret i32 {status}"));

    /// <summary>An MPI count (an int) of bytes.</summary>
    private static string Count(long bytes) =>
        bytes <= int.MaxValue ? bytes.ToString() : throw new CodegenException($"a transfer between tasks of {bytes} bytes exceeds MPI's int count; split the tensor");
}
