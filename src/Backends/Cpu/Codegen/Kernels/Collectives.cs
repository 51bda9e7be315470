using GraphCompiler.Backends.Cpu.Codegen.Mpi;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;
using GraphCompiler.Runtime;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Collective kernels over MPI (<see cref="MpiRuntime"/>): each starts the runtime (once per process), finds
/// its communicator (the runtime's world, or its replica groups' split), checks the world size its shapes
/// assume, copies its operand into place and makes one MPI call. Reductions are MPI's in the element type
/// (f32, f64); <c>mean</c> is MPI's sum divided by the group size; data movement (all_gather,
/// collective_broadcast) moves bytes, so any element type. MPI concatenates and splits along the flat
/// buffer, i.e. dimension 0: along another dimension the blocks are regrouped around the call.
/// <c>all_reduce_start</c> is <c>MPI_Iallreduce</c> into its in-flight buffer, its request in a module global
/// that belongs to that value; <c>all_reduce_done</c> waits on the request (<c>MPI_Wait</c>) and copies the
/// reduction out. Open MPI advances a non-blocking collective inside MPI calls: the other starts issued in
/// between, and the wait.
/// </summary>
internal sealed partial class KernelEmitter
{
    private void Collective(Operation op, KernelBuffer dest)
    {
        MpiRuntime.Ensure(_module);
        ReturnStatusIf(null, _b.Let($"call i32 @{MpiRuntime.Init}()", "mpistart"));
        if (op.Def is ReplicaIdOp)
        {
            _b.Line($"store i32 {_b.Let($"load i32, ptr {MpiRuntime.Rank}")}, ptr {dest.Pointer}");
            return;
        }
        if (op.Def is AllReduceDoneOp)
        {
            // The start left its request in the global that belongs to the in-flight value.
            var inFlight = op.Operands[0];
            MpiCall("MPI_Wait", $"ptr {_module.GlobalOf(inFlight, InFlightRequest, "ptr")}, ptr null", $"MPI_Wait (all_reduce_done of {inFlight.Type})");
            StoreAll(dest, inFlight);
            return;
        }
        var def = (CollectiveOp)op.Def;
        var groups = ReplicaGroups.Of(op.Attr);
        string comm;
        if (groups.All)
        {
            comm = _b.Let($"load ptr, ptr {MpiRuntime.World}", "comm");
            if (def.ImpliedGroupSize(op) is { } implied)
            {
                var size = _b.Let($"load i32, ptr {MpiRuntime.Size}");
                var wrong = _b.Let($"icmp ne i32 {size}, {implied}");
                ReturnStatusIf(wrong, ((int)RuntimeStatus.ReplicaMismatch).ToString(),
                    () => MpiApi.Message(_module, _b, $"'{op.Name}': its shapes assume %d replicas, but the MPI world has %d (run it with mpirun -np %d)",
                        $", i32 {implied}, i32 {size}, i32 {implied}"));
            }
        }
        else
        {
            var slot = _b.Alloca("ptr");
            ReturnStatusIf(null, _b.Let($"call i32 @{MpiRuntime.Communicator(_module, groups)}(ptr {slot})", "mpigroup"));
            comm = _b.Let($"load ptr, ptr {slot}", "comm");
        }
        // The group size: known from the groups or the shapes, else the world's.
        string groupSize = def.GroupSize(op) is { } g ? g.ToString() : _b.Let($"load i32, ptr {MpiRuntime.Size}", "groupsize");
        var x = op.Operands[0];
        switch (op.Def)
        {
            case AllReduceOp:
                StoreAll(dest, x);
                MpiCall("MPI_Allreduce", $"ptr {MpiApi.InPlace}, ptr {dest.Pointer}, i32 {Count(x.Type.ElementCount)}, ptr {MpiType(x.Type.Element)}, ptr {MpiOp(op)}, ptr {comm}",
                    $"MPI_Allreduce ({op.Attr.Enum("kind")} of {x.Type})");
                if (op.Attr.Enum("kind") == "mean") Scale(dest, groupSize);
                break;
            case AllReduceStartOp:
                // mean divides each operand before the sum (exact for a power-of-two group), so the done only
                // waits and copies: it has no attributes to say what to scale.
                StoreAll(dest, x);
                if (op.Attr.Enum("kind") == "mean") Scale(dest, groupSize);
                MpiCall("MPI_Iallreduce", $"ptr {MpiApi.InPlace}, ptr {dest.Pointer}, i32 {Count(x.Type.ElementCount)}, ptr {MpiType(x.Type.Element)}, ptr {MpiOp(op)}, ptr {comm}, ptr {_module.GlobalOf(op.Result, InFlightRequest, "ptr")}",
                    $"MPI_Iallreduce ({op.Attr.Enum("kind")} of {x.Type})");
                break;
            case CollectiveBroadcastOp:
                StoreAll(dest, x);
                var root = op.Attr.Int("root");
                if (groups.All)
                    ReturnStatusIf(_b.Let($"icmp sle i32 {groupSize}, {root}"), ((int)RuntimeStatus.ReplicaMismatch).ToString(),
                        () => MpiApi.Message(_module, _b, $"'{op.Name}': root {root} is not a rank of the MPI world of %d", $", i32 {groupSize}"));
                MpiCall("MPI_Bcast", $"ptr {dest.Pointer}, i32 {Count(x.Type.ByteSize)}, ptr {MpiApi.Handle(_b, "ompi_mpi_byte")}, i32 {root}, ptr {comm}",
                    $"MPI_Bcast ({x.Type} from root {root})");
                break;
            case AllGatherOp:
                AllGather(op, dest, comm, (long)def.GroupSize(op)!);
                break;
            case ReduceScatterOp:
                ReduceScatter(op, dest, comm, (long)def.GroupSize(op)!, groupSize);
                break;
        }
    }

    /// <summary>Each rank's operand into its block of the gathered buffer, then one in-place MPI_Allgather; blocks regrouped along dim when it is not the outermost.</summary>
    private void AllGather(Operation op, KernelBuffer dest, string comm, long g)
    {
        var x = op.Operands[0];
        var (outer, along, inner) = CollectiveOp.Split(x.Type.Shape, op.Attr.Int32("dim"));
        long block = x.Type.ByteSize;
        var gathered = outer == 1 ? dest.Pointer : Malloc(dest.Type);
        var pos = _b.Alloca("i32");
        MpiCall("MPI_Comm_rank", $"ptr {comm}, ptr {pos}", "MPI_Comm_rank");
        var at = _b.Let($"getelementptr inbounds i8, ptr {gathered}, i64 {_b.Let($"mul i64 {_b.Let($"sext i32 {_b.Let($"load i32, ptr {pos}")} to i64")}, {block}")}");
        StoreAll(new KernelBuffer(at, x.Type), x);
        var bytes = MpiApi.Handle(_b, "ompi_mpi_byte");
        MpiCall("MPI_Allgather", $"ptr {MpiApi.InPlace}, i32 0, ptr {bytes}, ptr {gathered}, i32 {Count(block)}, ptr {bytes}, ptr {comm}", $"MPI_Allgather ({x.Type} x {g})");
        // gathered is [g, outer, along, inner]; the result is [outer, g, along, inner].
        if (outer > 1) Regroup(dest.Pointer, gathered, outer, g, along * inner * x.Type.Element.ByteSize(), toGroupMajor: false);
    }

    /// <summary>The operand regrouped so each rank's share is contiguous, then one MPI_Reduce_scatter_block (mean: scaled after).</summary>
    private void ReduceScatter(Operation op, KernelBuffer dest, string comm, long g, string groupSize)
    {
        var x = op.Operands[0];
        var (outer, along, inner) = CollectiveOp.Split(x.Type.Shape, op.Attr.Int32("dim"));
        var flat = Malloc(x.Type);
        StoreAll(new KernelBuffer(flat, x.Type), x);
        // flat is [outer, g, share, inner]; MPI wants [g, outer, share, inner].
        var send = flat;
        if (outer > 1)
        {
            send = Malloc(x.Type);
            Regroup(send, flat, outer, g, along / g * inner * x.Type.Element.ByteSize(), toGroupMajor: true);
        }
        MpiCall("MPI_Reduce_scatter_block", $"ptr {send}, ptr {dest.Pointer}, i32 {Count(dest.Type.ElementCount)}, ptr {MpiType(x.Type.Element)}, ptr {MpiOp(op)}, ptr {comm}",
            $"MPI_Reduce_scatter_block ({op.Attr.Enum("kind")} of {x.Type} over {g})");
        if (op.Attr.Enum("kind") == "mean") Scale(dest, groupSize);
    }

    /// <summary>
    /// Copies chunks of <paramref name="chunk"/> bytes between the layouts [outer, g] (outer-major) and [g, outer]
    /// (group-major): into group-major when <paramref name="toGroupMajor"/>, else out of it.
    /// </summary>
    private void Regroup(string to, string from, long outer, long g, long chunk, bool toGroupMajor)
    {
        _module.Declare("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)");
        _b.For("0", outer.ToString(), o => _b.For("0", g.ToString(), j =>
        {
            var outerMajor = _b.Let($"mul i64 {_b.Let($"add i64 {_b.Let($"mul i64 {o}, {g}")}, {j}")}, {chunk}");
            var groupMajor = _b.Let($"mul i64 {_b.Let($"add i64 {_b.Let($"mul i64 {j}, {outer}")}, {o}")}, {chunk}");
            var (dst, src) = toGroupMajor ? (groupMajor, outerMajor) : (outerMajor, groupMajor);
            _b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr {_b.Let($"getelementptr inbounds i8, ptr {to}, i64 {dst}")}, ptr {_b.Let($"getelementptr inbounds i8, ptr {from}, i64 {src}")}, i64 {chunk}, i1 false)");
        }, "j"), "o");
    }

    /// <summary>mean: every element of <paramref name="dest"/> divided by the group size (an i32 value or literal).</summary>
    private void Scale(KernelBuffer dest, string groupSize)
    {
        var t = LlvmTypes.Memory(dest.Type.Element);
        var divisor = _b.Let($"sitofp i32 {groupSize} to {t}", "groupsize");
        _b.For("0", dest.Type.ElementCount.ToString(), k =>
        {
            var p = _b.Let($"getelementptr inbounds {t}, ptr {dest.Pointer}, i64 {k}");
            _b.Line($"store {t} {_b.Let($"fdiv {t} {_b.Let($"load {t}, ptr {p}")}, {divisor}")}, ptr {p}");
        }, "k");
    }

    /// <summary>Prefix of the globals holding in-flight all-reduces' MPI requests (<see cref="ModuleContext.GlobalOf"/>).</summary>
    private const string InFlightRequest = "gc.mpi.request";

    private void MpiCall(string name, string args, string what) =>
        MpiApi.Call(_module, _b, name, args, what, status => ReturnStatus(status));

    /// <summary>Returns <paramref name="status"/> from the kernel (ends the block).</summary>
    private void ReturnStatus(string status) => _b.Line($"ret i32 {status}");

    /// <summary>
    /// Returns <paramref name="status"/> (after <paramref name="explain"/> wrote the error message) when
    /// <paramref name="cond"/> holds; with no condition, when the status (an i32 value) is nonzero.
    /// </summary>
    private void ReturnStatusIf(string? cond, string status, Action? explain = null)
    {
        cond ??= _b.Let($"icmp ne i32 {status}, 0");
        var fail = _b.FreshLabel("collfail");
        var ok = _b.FreshLabel("collok");
        _b.CondBr(cond, fail, ok);
        _b.Block(fail);
        explain?.Invoke();
        ReturnStatus(status);
        _b.Block(ok);
    }

    private string MpiType(ElementType e) => e switch
    {
        ElementType.F32 => MpiApi.Handle(_b, "ompi_mpi_float"),
        ElementType.F64 => MpiApi.Handle(_b, "ompi_mpi_double"),
        _ => throw new CodegenException($"the MPI transport reduces f32 and f64 tensors, not {e.Name()}"),
    };

    private string MpiOp(Operation op) => MpiApi.Handle(_b, op.Attr.Enum("kind") switch
    {
        "max" => "ompi_mpi_op_max",
        "min" => "ompi_mpi_op_min",
        _ => "ompi_mpi_op_sum", // sum, and mean (scaled after)
    });

    /// <summary>An MPI count (an int): larger collectives would need several calls.</summary>
    private static string Count(long n) =>
        n <= int.MaxValue ? n.ToString() : throw new CodegenException($"a collective of {n} elements exceeds MPI's int count; split the tensor");
}
