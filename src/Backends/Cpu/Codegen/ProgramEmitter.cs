using System.Text;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Emits the entry point of a compiled function:
/// <c>i32 @NAME_run(ptr args, ptr results, ptr arena, i32 threads)</c>. Every intermediate lives in
/// the caller's arena at the offset buffer assignment gave it; each top-level op (or fusion) is one
/// kernel function; results are copied to the caller's result buffers at the end and variable
/// updates written back into their arguments.
/// </summary>
internal static class ProgramEmitter
{
    public static (string Ir, long ArenaBytes) Emit(Function f, string name, string sourceName)
    {
        var module = new ModuleContext();
        // Kernels declare their buffers noalias, so no value may take over another's buffer in place.
        var plan = BufferAssignment.Compute(f, new BufferOptions { InPlace = false });
        var placement = new Dictionary<Value, ValueBuffer>(ReferenceEqualityComparer.Instance);
        foreach (var v in plan.Values) placement[v.Value] = v;

        var b = new StringBuilder();
        var pointers = new Dictionary<Value, string>(ReferenceEqualityComparer.Instance);
        int tmp = 0;
        string Fresh() => $"%p{tmp++}";
        for (int i = 0; i < f.Arguments.Length; i++)
        {
            var slot = Fresh();
            b.Append($"  {slot} = getelementptr inbounds ptr, ptr %args, i64 {i}\n");
            var p = Fresh();
            b.Append($"  {p} = load ptr, ptr {slot}\n");
            pointers[f.Arguments[i]] = p;
        }

        int kernel = 0;
        foreach (var op in f.Body.Operations)
        {
            if (op.Def.IsTerminator) break;
            if (op.Def is ConstantOp)
            {
                pointers[op.Result] = module.Constant(op.Attr.Tensor("value"));
                continue;
            }
            foreach (var r in op.Results)
            {
                if (!placement.TryGetValue(r, out var vb) || vb.Kind != BufferKind.Arena)
                    throw new CodegenException($"'{op.Name}' result has no arena buffer");
                var p = Fresh();
                b.Append($"  {p} = getelementptr inbounds i8, ptr %arena, i64 {vb.Offset}\n");
                pointers[r] = p;
            }
            if (op.Def is WhileOp or IfOp or CaseOp or CallOp)
                throw new CodegenException($"'{op.Name}' is not supported by the CPU backend yet");

            var kname = $"{name}.k{kernel++}";
            IReadOnlyList<Value> inputs, outputs;
            IReadOnlyList<Operation> ops;
            List<string> inputPointers;
            if (op.Def is FusionOp)
            {
                var body = op.Regions[0];
                inputs = body.Arguments;
                ops = [.. body.Operations.Where(o => !o.Def.IsTerminator)];
                outputs = body.Yielded;
                inputPointers = [.. op.Operands.Select(o => pointers[o])];
            }
            else
            {
                var distinct = op.Operands.Distinct<Value>(ReferenceEqualityComparer.Instance).ToList();
                inputs = distinct;
                ops = [op];
                outputs = op.Results;
                inputPointers = [.. distinct.Select(o => pointers[o])];
            }
            KernelEmitter.Emit(module, kname, inputs, ops, outputs);
            var args = op.Results.Select(r => $"ptr {pointers[r]}").Concat(inputPointers.Select(p => $"ptr {p}"));
            b.Append($"  call void @{kname}({string.Join(", ", args)})\n");
        }

        module.Declare("declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)");
        var returned = f.Body.Yielded;
        for (int i = 0; i < returned.Length; i++)
        {
            var slot = Fresh();
            b.Append($"  {slot} = getelementptr inbounds ptr, ptr %results, i64 {i}\n");
            var dst = Fresh();
            b.Append($"  {dst} = load ptr, ptr {slot}\n");
            b.Append($"  call void @llvm.memmove.p0.p0.i64(ptr {dst}, ptr {pointers[returned[i]]}, i64 {returned[i].Type.ByteSize}, i1 false)\n");
        }
        for (int i = 0; i < returned.Length; i++)
        {
            if (f.ResultInfos[i].Updates is not { } arg) continue;
            b.Append($"  call void @llvm.memmove.p0.p0.i64(ptr {pointers[f.Arguments[arg]]}, ptr {pointers[returned[i]]}, i64 {returned[i].Type.ByteSize}, i1 false)\n");
        }
        b.Append("  ret i32 0\n");
        module.AddFunction($"define i32 @{name}_run(ptr %args, ptr %results, ptr %arena, i32 %threads) nounwind {{\nentry:\n{b}}}");
        module.AddFunction($"define i64 @{name}_arena_size() nounwind {{\nentry:\n  ret i64 {plan.ArenaBytes}\n}}");
        return (module.Build(sourceName), plan.ArenaBytes);
    }
}
