using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// The <c>layout-chain</c> rules of <c>simplify</c> (<see cref="GraphCompiler.Passes.Rewrites.LayoutChains"/>) on random chains
/// of reshapes and transposes: the simplified function computes the same elements (the interpreter, bit
/// for bit), and a chain that is a factor permutation ends as at most three ops.
/// </summary>
public sealed class LayoutChainTests
{
    /// <summary>A random shape of <paramref name="n"/> elements: its prime factors shuffled and grouped.</summary>
    private static long[] RandomShape(Random rng, long n)
    {
        var primes = new List<long>();
        for (long p = 2, m = n; m > 1; p++)
            while (m % p == 0) { primes.Add(p); m /= p; }
        var shuffled = primes.OrderBy(_ => rng.Next()).ToList();
        var dims = new List<long>();
        foreach (var p in shuffled)
            if (dims.Count == 0 || rng.Next(2) == 0) dims.Add(p);
            else dims[^1] *= p;
        if (rng.Next(4) == 0) dims.Insert(rng.Next(dims.Count + 1), 1);
        return [.. dims];
    }

    private static string Type(long[] shape) => $"tensor<{string.Join("x", shape)}xf32>";

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomChainsKeepEveryElement(int seed)
    {
        var rng = new Random(seed);
        for (int trial = 0; trial < 40; trial++)
        {
            long n = new long[] { 24, 36, 48, 60, 120 }[rng.Next(5)];
            var shape = RandomShape(rng, n);
            var input = shape;
            var body = new System.Text.StringBuilder();
            int ops = rng.Next(2, 7);
            for (int i = 0; i < ops; i++)
            {
                string from = i == 0 ? "%x" : $"%v{i - 1}";
                if (rng.Next(2) == 0)
                {
                    var perm = Enumerable.Range(0, shape.Length).OrderBy(_ => rng.Next()).ToArray();
                    shape = [.. perm.Select(p => shape[p])];
                    body.AppendLine($"  %v{i} = transpose {from} {{perm = [{string.Join(", ", perm)}]}} : {Type(shape)}");
                }
                else
                {
                    shape = RandomShape(rng, n);
                    body.AppendLine($"  %v{i} = reshape {from} : {Type(shape)}");
                }
            }
            var text = $"func @main(%x: {Type(input)}) -> ({Type(shape)}) {{\n{body}  return %v{ops - 1}\n}}\n";
            var m = IrTest.Parse(text);
            var x = Tensor.FromDoubles(m.Entry.Arguments[0].Type, [.. Enumerable.Range(0, (int)n).Select(i => (double)i)]);
            var expected = new Interpreter(m).Run(null, [x]).Unwrap().Results[0];
            var simplified = PassManager.Run(m, Pipeline.Parse("simplify,dce")).Unwrap();
            var actual = new Interpreter(simplified).Run(null, [x]).Unwrap().Results[0];
            IrTest.AssertTensor(expected, actual);
            int left = simplified.Entry.Body.Operations.Count(op => op.Name is "reshape" or "transpose");
            Assert.True(left <= ops, $"{left} ops from {ops}:\n{text}");
        }
    }
}
