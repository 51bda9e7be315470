using System.Runtime.InteropServices;
using GraphCompiler.IR;
using Xunit;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// Variable updates the CPU code writes over their variable (buffer assignment's variable alias) against the
/// reference interpreter: with a result buffer of its own (copied from the variable at the end) and with the
/// variable's buffer passed as the result's (nothing copied, as the trainer runs), for the kernels the update
/// can come from — a multi-output loop (Adam's shape), a GEMM's epilogue, and a transpose that must not run in
/// place.
/// </summary>
public sealed class InPlaceUpdateTests
{
    public static TheoryData<string, string> Cases => new()
    {
        {
            "adam-like loop, two variables in one kernel",
            """
            func @main(%w: tensor<33x70xf32> {variable}, %m: tensor<33x70xf32> {variable}, %g: tensor<33x70xf32>) -> (tensor<f32>, tensor<33x70xf32> {updates = %w}, tensor<33x70xf32> {updates = %m}) {
              %c = constant {value = dense<0.9>} : tensor<33x70xf32>
              %a = mul %m, %c : tensor<33x70xf32>
              %m2 = add %a, %g : tensor<33x70xf32>
              %e = exp %m2 : tensor<33x70xf32>
              %w2 = sub %w, %e : tensor<33x70xf32>
              %l = reduce %w {dims = [0, 1], kind = sum} : tensor<f32>
              return %l, %w2, %m2
            }
            """
        },
        {
            "sgd in a gemm epilogue",
            """
            func @main(%w: tensor<48x40xf32> {variable}, %x: tensor<24x48xf32>, %d: tensor<24x40xf32>) -> (tensor<24x40xf32>, tensor<48x40xf32> {updates = %w}) {
              %y = dot_general %x, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<24x40xf32>
              %g = dot_general %x, %d {lhs_contract = [0], rhs_contract = [0]} : tensor<48x40xf32>
              %lr = constant {value = dense<0.125>} : tensor<48x40xf32>
              %s = mul %g, %lr : tensor<48x40xf32>
              %w2 = sub %w, %s : tensor<48x40xf32>
              return %y, %w2
            }
            """
        },
        {
            "transposed read, not in place",
            """
            func @main(%w: tensor<16x16xf32> {variable}, %g: tensor<16x16xf32>) -> (tensor<16x16xf32> {updates = %w}) {
              %t = transpose %w {perm = [1, 0]} : tensor<16x16xf32>
              %w2 = sub %t, %g : tensor<16x16xf32>
              return %w2
            }
            """
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void CompiledUpdatesMatchTheInterpreterWithAndWithoutTheVariableAsResultBuffer(string name, string ir)
    {
        var module = IrTest.Parse(ir);
        var f = module.Entry;
        var random = new Random(name.Length);
        var inputs = f.Arguments.Select(a => Tensor.FromDoubles(a.Type, [.. Enumerable.Range(0, (int)a.Type.ElementCount).Select(_ => random.NextDouble() - 0.5)])).ToList();
        var expected = new Interpreter(module).Run(null, inputs).Value!.Results;

        using var model = CompiledModel.Compile(module, new CompileOptions { Threads = 2 });
        foreach (bool variableAsResult in new[] { false, true })
        {
            var args = inputs.Select(t => GC.AllocateArray<byte>((int)t.Type.ByteSize, pinned: true)).ToList();
            for (int i = 0; i < inputs.Count; i++) inputs[i].Bytes.CopyTo(args[i]);
            var results = f.ResultTypes.Select(t => GC.AllocateArray<byte>((int)t.ByteSize, pinned: true)).ToList();
            nint Address(byte[] b) => Marshal.UnsafeAddrOfPinnedArrayElement(b, 0);
            var resultPointers = results.Select((b, i) =>
                variableAsResult && f.ResultInfos[i].Updates is { } arg ? Address(args[arg]) : Address(b)).ToArray();
            model.Run([.. args.Select(Address)], resultPointers);

            for (int i = 0; i < expected.Length; i++)
            {
                var bytes = variableAsResult && f.ResultInfos[i].Updates is { } arg ? args[arg] : results[i];
                IrTest.AssertTensor(expected[i], Tensor.FromBytes(f.ResultTypes[i], bytes), rtol: 1e-5, atol: 1e-6);
                if (f.ResultInfos[i].Updates is { } a) // the variable holds the new value either way
                    IrTest.AssertTensor(expected[i], Tensor.FromBytes(f.ResultTypes[i], args[a]), rtol: 1e-5, atol: 1e-6);
            }
        }
    }

    [Fact]
    public void TheFusedAdamShapeUpdatesBothVariablesInPlace()
    {
        var module = IrTest.Parse(Cases.Select(c => (string)c[1]).First());
        var fused = Compiler.Create(new CompileOptions()).Unwrap().Optimize(module).Unwrap().Entry;
        var plan = GraphCompiler.IR.Analysis.BufferAssignment.Compute(fused);
        Assert.Equal(2, plan.Values.Count(v => v.Kind == GraphCompiler.IR.Analysis.BufferKind.VariableAlias));
    }
}
