using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Transposes n rows of n floats held in n vector registers (n a power of two): log₂ n rounds, each interleaving row i
/// with row i + n/2 into rows 2i and 2i + 1 (the perfect shuffle applied log₂ n times is a transpose). Two-source
/// <c>shufflevector</c>s, which AVX-512 does as <c>vpermt2ps</c>: 64 of them for 16 × 16.
/// </summary>
internal static class RegisterTranspose
{
    /// <summary>The n vectors of <paramref name="rows"/> (values or constants such as <c>zeroinitializer</c>) transposed.</summary>
    public static string[] Emit(LlvmBuilder b, string[] rows)
    {
        int n = rows.Length;
        if (n < 2 || (n & (n - 1)) != 0) throw new ArgumentException($"a register transpose needs a power of two of rows, not {n}", nameof(rows));
        var vt = $"<{n} x float>";
        var (low, high) = (Interleave(n, 0), Interleave(n, n / 2));
        var r = rows;
        for (int round = 1; round < n; round *= 2)
        {
            var x = new string[n];
            for (int i = 0; i < n / 2; i++)
            {
                x[2 * i] = b.Let($"shufflevector {vt} {r[i]}, {vt} {r[i + n / 2]}, <{n} x i32> <{low}>", "t");
                x[2 * i + 1] = b.Let($"shufflevector {vt} {r[i]}, {vt} {r[i + n / 2]}, <{n} x i32> <{high}>", "t");
            }
            r = x;
        }
        return r;
    }

    /// <summary>The mask interleaving elements from..from + n/2 of two n-vectors: a₀ b₀ a₁ b₁ …</summary>
    private static string Interleave(int n, int from) =>
        string.Join(", ", Enumerable.Range(from, n / 2).SelectMany(k => new[] { k, k + n }).Select(k => $"i32 {k}"));
}
