using System.Runtime.InteropServices;

namespace GraphCompiler.Benchmarks;

/// <summary>OpenBLAS from Debian's libopenblas0 (<c>libopenblas.so.0</c>): the GEMM baseline.</summary>
public static unsafe partial class OpenBlas
{
    private const string Library = "libopenblas.so.0";
    public const int RowMajor = 101, NoTrans = 111;

    [LibraryImport(Library)]
    public static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Library)]
    public static partial void openblas_set_num_threads(int threads);

    /// <summary>C = A·B, row-major, A: [m,k], B: [k,n], C: [m,n].</summary>
    public static void Sgemm(int m, int n, int k, float[] a, float[] b, float[] c)
    {
        fixed (float* pa = a, pb = b, pc = c)
            cblas_sgemm(RowMajor, NoTrans, NoTrans, m, n, k, 1f, pa, k, pb, n, 0f, pc, n);
    }
}
