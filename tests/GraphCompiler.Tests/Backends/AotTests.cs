using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.Text;
using Google.Protobuf;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.IR.Text;
using GraphCompiler.Tests.Cli;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Module = GraphCompiler.IR.Module;
using P = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// <c>gcc-cli compile</c>: the artefacts are used as a user would use them — a C program built with
/// <c>cc</c> against the header and linked with the .so, the generated C# compiled with Roslyn — and
/// their results compared with the reference interpreter.
/// </summary>
public sealed class AotTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    private string Temp() => _temp.Directory("gc-aot");

    private string Compile(string model, string name, params string[] extra)
    {
        var dir = Path.Combine(Temp(), "out");
        var (code, _, stderr) = CliTests.Run(["compile", model, "-o", dir, "--name", name, .. extra]);
        Assert.True(code == 0, stderr);
        return dir;
    }

    /// <summary>Deterministic inputs in [-2, 2) for every argument (the tests' models take f32 only).</summary>
    private static Tensor[] Inputs(Function f, int seed)
    {
        var rng = new Random(seed);
        return [.. f.ArgumentTypes.Select(t =>
        {
            Assert.Equal(ElementType.F32, t.Element);
            var values = new float[t.ElementCount];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 4 - 2);
            return Tensor.FromBytes(t, MemoryMarshal.AsBytes(values.AsSpan()));
        })];
    }

    private static Tensor[] Reference(Module m, Tensor[] inputs) => new Interpreter(m).Run(null, inputs).Unwrap().Results.ToArray();

    private static void AssertClose(Tensor expected, float[] actual, string what)
    {
        Assert.True(expected.ElementCount == actual.Length, $"{what}: {actual.Length} values, expected {expected.ElementCount}");
        for (int i = 0; i < actual.Length; i++)
        {
            double e = expected.GetDouble(i), a = actual[i];
            Assert.True(Math.Abs(e - a) <= 1e-5 * Math.Abs(e) + 1e-7, $"{what}[{i}]: expected {e:R}, got {a:R}");
        }
    }

    // ---- C: cc against the header, linked with the .so -------------------------------------------

    private const string CProgram = """
        #include <stdio.h>
        #include <stdlib.h>
        #include "@NAME@.h"

        /* Generic over the model: sizes come from the header's tables; inputs are read back to back. */
        int main(int argc, char **argv) {
          void *args[@UNAME@_NUM_ARGS];
          void *results[@UNAME@_NUM_RESULTS];
          FILE *in;
          int i;
          size_t arena_bytes = (size_t)(@UNAME@_ARENA_SIZE + 63) / 64 * 64;
          void *arena;
          if (argc != 2 || (in = fopen(argv[1], "rb")) == NULL) return 64;
          if (@NAME@_abi_version() != @UNAME@_ABI_VERSION || @NAME@_arena_size() != @UNAME@_ARENA_SIZE) return 65;
          for (i = 0; i < @UNAME@_NUM_ARGS; i++) {
            args[i] = malloc((size_t)@NAME@_arg_bytes[i]);
            if (fread(args[i], 1, (size_t)@NAME@_arg_bytes[i], in) != (size_t)@NAME@_arg_bytes[i]) return 66;
          }
          fclose(in);
          for (i = 0; i < @UNAME@_NUM_RESULTS; i++) results[i] = malloc((size_t)@NAME@_result_bytes[i]);
          arena = aligned_alloc(@UNAME@_ARENA_ALIGNMENT, arena_bytes > 0 ? arena_bytes : 64);
          if (@NAME@_run(args, results, arena, 0) != @UNAME@_OK) return 67;
          for (i = 0; i < @UNAME@_NUM_RESULTS; i++) {
            const float *r = (const float *)results[i];
            int64_t j;
            printf("result %s %s rank %d\n", @NAME@_result_names[i], @NAME@_result_dtypes[i], (int)@NAME@_result_ranks[i]);
            for (j = 0; j < @NAME@_result_bytes[i] / (int64_t)sizeof(float); j++) printf("%.9g\n", r[j]);
          }
          free(arena);
          @NAME@_release();
          return 0;
        }
        """;

    [SkippableCcTheory]
    [InlineData("softmax_regression.ir", "softmax_regression")]
    [InlineData("cnn.ir", "cnn")]
    public void CProgramLinkedWithTheSharedLibraryMatchesTheInterpreter(string example, string name)
    {
        var model = Parser.ParseFile(Example(example)).Unwrap();
        var dir = Compile(Example(example), name, "--target", "x86-64-v2");
        var work = Temp();
        var source = Path.Combine(work, "main.c");
        File.WriteAllText(source, CProgram.Replace("@NAME@", name).Replace("@UNAME@", name.ToUpperInvariant()));
        var exe = Path.Combine(work, "main");
        var (cc, ccOut) = Exec("cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", dir, source, "-o", exe,
            "-L", dir, "-l" + name, "-Wl,-rpath," + dir);
        Assert.True(cc == 0, $"cc failed:\n{ccOut}");

        var inputs = Inputs(model.Entry, seed: 7);
        var inputFile = Path.Combine(work, "inputs.bin");
        File.WriteAllBytes(inputFile, [.. inputs.SelectMany(t => t.Bytes.ToArray())]);
        var (rc, output) = Exec(exe, inputFile);
        Assert.True(rc == 0, $"the C program exited with {rc}:\n{output}");

        var expected = Reference(model, inputs);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int at = 0;
        for (int r = 0; r < expected.Length; r++)
        {
            Assert.Equal($"result {model.Entry.ResultName(r)} f32 rank {expected[r].Type.Rank}", lines[at++]);
            var values = lines.Skip(at).Take((int)expected[r].ElementCount).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();
            at += values.Length;
            AssertClose(expected[r], values, $"{name} result {r}");
        }
        Assert.Equal(lines.Length, at);
    }

    private const string LoaderProgram = """
        #include <dirent.h>
        #include <dlfcn.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include "@NAME@.h"

        static int tasks(void) {
          DIR *d = opendir("/proc/self/task");
          struct dirent *e;
          int n = 0;
          while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
          closedir(d);
          return n;
        }

        /* Resident kB of the mappings of the library's file. */
        static long resident_kb(const char *file) {
          FILE *f = fopen("/proc/self/smaps", "r");
          char line[4096];
          int in = 0;
          long kb = 0, v;
          while (fgets(line, sizeof line, f) != NULL) {
            /* A mapping's line starts with its address in lower-case hex, its fields with a capitalised name. */
            if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'))
              in = strstr(line, file) != NULL;
            else if (in && sscanf(line, "Rss: %ld kB", &v) == 1)
              kb += v;
          }
          fclose(f);
          return kb;
        }

        typedef int32_t (*run_fn)(void *const *, void *const *, void *, int32_t);
        typedef int64_t (*size_fn)(void);

        int main(int argc, char **argv) {
          void *h, *args[@UNAME@_NUM_ARGS], *results[@UNAME@_NUM_RESULTS], *arena;
          int i;
          if (argc != 2 || (h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) return 64;
          printf("resident_kb %ld\n", resident_kb("lib@NAME@.so"));
          for (i = 0; i < @UNAME@_NUM_ARGS; i++) args[i] = calloc(1, (size_t)@NAME@_arg_bytes[i]);
          for (i = 0; i < @UNAME@_NUM_RESULTS; i++) results[i] = malloc((size_t)@NAME@_result_bytes[i]);
          arena = aligned_alloc(@UNAME@_ARENA_ALIGNMENT, (size_t)(((size_fn)dlsym(h, "@NAME@_arena_size"))() + 63) / 64 * 64);
          if (((run_fn)dlsym(h, "@NAME@_run"))(args, results, arena, 2) != @UNAME@_OK) return 65;
          printf("tasks_after_run %d\n", tasks());
          if (dlclose(h) != 0) return 66;
          printf("tasks_after_dlclose %d\n", tasks());
          return 0;
        }
        """;

    /// <summary>
    /// The library's load and unload hooks run: at <c>dlopen</c> its weights are mapped (the batch-64 MLP's 2.7 MB
    /// resident before any call), and <c>dlclose</c> without <c>_release</c> stops the worker threads a two-thread
    /// call started, before their code is unmapped. Both were once emitted as <c>.ctors</c> / <c>.dtors</c>, which
    /// nothing ran.
    /// </summary>
    [SkippableCcTheory]
    [InlineData("mlp_784_512_512_10_b64.onnx", "mlp")]
    public void LoadMapsTheWeightsAndUnloadStopsTheThreads(string file, string name)
    {
        var model = Path.Combine(GraphCompiler.Tests.Frontend.SharedData.Root, "models", file);
        var dir = Compile(model, name);
        var work = Temp();
        var source = Path.Combine(work, "loader.c");
        File.WriteAllText(source, LoaderProgram.Replace("@NAME@", name).Replace("@UNAME@", name.ToUpperInvariant()));
        var exe = Path.Combine(work, "loader");
        var (cc, ccOut) = Exec("cc", "-std=gnu11", "-Wall", "-Werror", "-I", dir, source, "-o", exe, "-ldl");
        Assert.True(cc == 0, $"cc failed:\n{ccOut}");
        var (rc, output) = Exec(exe, Path.Combine(dir, $"lib{name}.so"));
        Assert.True(rc == 0, $"the loader exited with {rc}:\n{output}");
        long Value(string key) => long.Parse(output.Split('\n').Single(l => l.StartsWith(key + " ", StringComparison.Ordinal))[(key.Length + 1)..], CultureInfo.InvariantCulture);
        const long weightsKb = (784 * 512 + 512 * 512 + 512 * 10) * sizeof(float) / 1024;
        Assert.True(Value("resident_kb") >= weightsKb, $"only {Value("resident_kb")} kB of the library resident after dlopen, {weightsKb} kB of weights:\n{output}");
        // One CPU: no worker was started and there is nothing to stop.
        if (Value("tasks_after_run") > 1) Assert.Equal(1, Value("tasks_after_dlclose"));
    }

    /// <summary>Runs a program to completion (120 s at most): its exit code and its output, stdout then stderr.</summary>
    internal static (int Code, string Output) Exec(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(true);
            Assert.Fail($"{program} did not finish within 120 s");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void SharedLibraryExportsOnlyTheAbiAndNeedsLibmAndLibc()
    {
        var dir = Compile(Example("cnn.ir"), "cnn");
        // The values' peak (gcc-cli ir --memory-report), then the kernels' scratch.
        var driver = Compiler.Create(new CompileOptions()).Unwrap();
        var scratch = CpuCompiler.Generate(driver.Optimize(driver.Load(Example("cnn.ir")).Unwrap()).Unwrap()).Unwrap().ScratchBytes;
        Assert.True(scratch > 0, "cnn.ir's convolutions need im2col and packing space");
        long arena = 131072 + scratch;
        var so = File.ReadAllBytes(Path.Combine(dir, "libcnn.so"));
        var elf = ElfDynamic.Read(so);
        Assert.Equal("libcnn.so", elf.Soname);
        Assert.Equal(["libc.so.6", "libm.so.6"], elf.Needed.Order(StringComparer.Ordinal));
        Assert.Equal(["cnn_abi_version", "cnn_arena_size", "cnn_release", "cnn_run"], elf.DefinedSymbols.Order(StringComparer.Ordinal));
        // And the library loads and reports its arena size.
        var handle = NativeLibrary.Load(Path.Combine(dir, "libcnn.so"));
        try
        {
            unsafe
            {
                var arenaSize = (delegate* unmanaged<long>)NativeLibrary.GetExport(handle, "cnn_arena_size");
                Assert.Equal(arena, arenaSize());
            }
            Assert.False(NativeLibrary.TryGetExport(handle, "cnn.k0", out _));
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
        Assert.Contains($"#define CNN_ARENA_SIZE {arena}LL", File.ReadAllText(Path.Combine(dir, "cnn.h")));
    }

    // ---- C#: the generated binding compiled with Roslyn ------------------------------------------

    [SkippableRoslynFact]
    public void GeneratedCSharpBindingMatchesTheInterpreterWithoutAllocating()
    {
        var path = Example("softmax_regression.ir");
        var model = Parser.ParseFile(path).Unwrap();
        var dir = Compile(path, "softmax_regression", "--namespace", "Demo.Models");
        const string harness = """
            using System;
            using Demo.Models;
            public static class Harness
            {
                public static object[] Go(float[] x)
                {
                    using var m = new SoftmaxRegression();
                    var p = new float[SoftmaxRegression.ProbabilitiesResultElements];
                    m.Run(x, p);
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    for (int i = 0; i < 100; i++) m.Run(x, p);
                    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    string error = "";
                    try { m.Run(x.AsSpan(1), p); } catch (ArgumentException e) { error = e.Message; }
                    SoftmaxRegression.ReleaseThreads();
                    return [p, allocated, error, SoftmaxRegression.XArgumentShape.ToArray()];
                }
            }
            """;
        var r = CompileAndRun(dir, "softmax_regression", harness, Inputs(model.Entry, 3)[0]);
        var inputs = Inputs(model.Entry, 3);
        AssertClose(Reference(model, inputs)[0], (float[])r[0], "probabilities");
        Assert.Equal(0L, (long)r[1]);
        Assert.StartsWith("argument 'x' (f32[2,4]) needs 8 elements, got 7", (string)r[2]);
        Assert.Equal([2L, 4L], (long[])r[3]);
    }

    [SkippableRoslynFact]
    public void GeneratedCSharpBindingUpdatesVariablesInPlace()
    {
        var work = Temp();
        var path = Path.Combine(work, "step.ir");
        File.WriteAllText(path, """
            func @main(%w: tensor<3xf32> {name = "w", variable}, %in: tensor<3xf32> {name = "in"}) -> (tensor<3xf32> {name = "out"}, tensor<3xf32> {updates = %w}) {
              %y = mul %w, %in : tensor<3xf32>
              %w2 = add %w, %in : tensor<3xf32>
              return %y, %w2
            }
            """);
        var dir = Compile(path, "step");
        var header = File.ReadAllText(Path.Combine(dir, "step.h"));
        Assert.Contains("/* Argument 0: \"w\" f32[3], 3 elements, 12 bytes, variable: updated in place */", header);
        Assert.Contains("/* Result 1: \"result1\" f32[3], 3 elements, 12 bytes, also written to argument 0 after the call */", header);
        const string harness = """
            public static class Harness
            {
                public static object[] Go(float[] input)
                {
                    using var m = new Step();
                    float[] w = [1, 2, 3], y = new float[3], next = new float[3];
                    m.Run(w, input, y, next);
                    return [w, y, next];
                }
            }
            """;
        var r = CompileAndRun(dir, "step", harness, T.F32([3], 10, 20, 30));
        Assert.Equal([11f, 22f, 33f], (float[])r[0]);
        Assert.Equal([10f, 40f, 90f], (float[])r[1]);
        Assert.Equal([11f, 22f, 33f], (float[])r[2]);
    }

    /// <summary>Compiles NAME.cs and the harness (with the LibraryImport source generator), loads them, and calls <c>Harness.Go(input)</c>.</summary>
    private static object[] CompileAndRun(string dir, string name, string harness, Tensor input)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.Ordinal)).Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create($"Aot{name}",
            [CSharpSyntaxTree.ParseText(File.ReadAllText(Path.Combine(dir, name + ".cs")), parse, path: name + ".cs"), CSharpSyntaxTree.ParseText(harness, parse)],
            references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        var generators = new AnalyzerFileReference(Roslyn.LibraryImportGenerator!, new AnalyzerLoader()).GetGenerators(LanguageNames.CSharp);
        CSharpGeneratorDriver.Create(generators, parseOptions: parse).RunGeneratorsAndUpdateCompilation(compilation, out var generated, out _);
        using var image = new MemoryStream();
        var emitted = generated.Emit(image);
        var problems = emitted.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(emitted.Success && problems.Count == 0, string.Join("\n", problems));

        var context = new AssemblyLoadContext($"aot-{name}", isCollectible: true);
        try
        {
            image.Position = 0;
            var assembly = context.LoadFromStream(image);
            var library = Path.Combine(dir, $"lib{name}.so");
            NativeLibrary.SetDllImportResolver(assembly, (lib, _, _) => lib == $"lib{name}.so" ? NativeLibrary.Load(library) : 0);
            var go = assembly.GetType("Harness")!.GetMethod("Go")!;
            try
            {
                return (object[])go.Invoke(null, [MemoryMarshal.Cast<byte, float>(input.Bytes).ToArray()])!;
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
        finally
        {
            context.Unload();
        }
    }

    private sealed class AnalyzerLoader : IAnalyzerAssemblyLoader
    {
        public void AddDependencyLocation(string fullPath) { }
        public Assembly LoadFromPath(string fullPath) => Assembly.LoadFrom(fullPath);
    }

    // ---- determinism and bad input ---------------------------------------------------------------

    [Fact]
    public void CompilingTwiceGivesIdenticalBytes()
    {
        foreach (var target in new[] { "host", "x86-64-v3" })
        {
            // --object: the object file must be reproducible too.
            var a = Compile(Example("softmax_regression.ir"), "sm", "--target", target, "--object");
            var b = Compile(Example("softmax_regression.ir"), "sm", "--target", target, "--object");
            var files = Directory.GetFiles(a).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(["libsm.so", "sm.cs", "sm.h", "sm.o"], files);
            Assert.Equal(files, Directory.GetFiles(b).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray());
            foreach (var f in files)
            {
                var bytes = File.ReadAllBytes(Path.Combine(a, f));
                Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, f))), $"{f} differs between two compilations ({target})");
                // No path of this machine leaks into the artefacts.
                Assert.DoesNotContain(Path.GetDirectoryName(a)!, Encoding.Latin1.GetString(bytes));
            }
        }
    }

    [Fact]
    public void BadInputExitsWith2AndWritesNothing()
    {
        var work = Temp();
        var unsupported = Path.Combine(work, "loop.ir");
        File.WriteAllText(unsupported, """
            func @main(%x: tensor<8xf32>) -> (tensor<8xf32>) {
              %zero = constant {value = dense<0>} : tensor<i32>
              %one = constant {value = dense<1>} : tensor<i32>
              %three = constant {value = dense<3>} : tensor<i32>
              %i, %y = while %zero, %x : tensor<i32>, tensor<8xf32>
                cond(%ci: tensor<i32>, %cy: tensor<8xf32>) {
                  %p = compare %ci, %three {direction = lt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i32>, %by: tensor<8xf32>) {
                  %next = add %bi, %one : tensor<i32>
                  %u = tanh %by : tensor<8xf32>
                  yield %next, %u
                }
              return %y
            }
            """);
        var malformed = Path.Combine(work, "bad.ir");
        File.WriteAllText(malformed, "func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n  %0 = add %x, %x : tensor<2xf32\n  return %0\n}\n");
        var unknown = Path.Combine(work, "model.bin");
        File.WriteAllBytes(unknown, [1, 2, 3]);
        var sm = Example("softmax_regression.ir");
        string[][] cases =
        [
            [sm, "--target", "pentium4"],
            [sm, "--name", "1model"],
            [sm, "--name", "my-model"],
            [malformed],
            [unknown],
            [Path.Combine(work, "missing.ir")],
            [sm, "--feed", "x:f32[2,4]"],
        ];
        foreach (var c in cases)
        {
            var fresh = Path.Combine(work, "fresh");
            var (code, stdout, stderr) = CliTests.Run(["compile", .. c, "-o", fresh]);
            var what = string.Join(' ', c);
            Assert.True(code == 2, $"{what}: exit {code}\n{stderr}");
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal("", stdout);
            Assert.False(Directory.Exists(fresh), $"{what}: created the output directory");

            // An existing directory is left as it was.
            var existing = Path.Combine(work, "existing");
            Directory.CreateDirectory(existing);
            File.WriteAllText(Path.Combine(existing, "keep.txt"), "mine");
            (code, _, _) = CliTests.Run(["compile", .. c, "-o", existing]);
            Assert.Equal(2, code);
            Assert.Equal(["keep.txt"], Directory.GetFiles(existing).Select(Path.GetFileName));
            Assert.Equal("mine", File.ReadAllText(Path.Combine(existing, "keep.txt")));
        }
    }

    // ---- ONNX models: --feed and --fetch ---------------------------------------------------------

    [Fact]
    public void OnnxModelWithSymbolicBatchCompilesWithAFeed()
    {
        var work = Temp();
        var path = Path.Combine(work, "relu.onnx");
        static P.ValueInfoProto Info(string name, params P.TensorShapeProto.Types.Dimension[] dims)
        {
            var shape = new P.TensorShapeProto();
            shape.Dim.AddRange(dims);
            return new P.ValueInfoProto { Name = name, Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
        }
        var batch = new P.TensorShapeProto.Types.Dimension { DimParam = "N" };
        var three = new P.TensorShapeProto.Types.Dimension { DimValue = 3 };
        var graph = new P.GraphProto { Name = "g" };
        graph.Node.Add(new P.NodeProto { OpType = "Relu", Input = { "x" }, Output = { "y" }, Name = "relu" });
        graph.Node.Add(new P.NodeProto { OpType = "Neg", Input = { "y" }, Output = { "z" }, Name = "neg" });
        graph.Input.Add(Info("x", batch, three));
        graph.Output.Add(Info("y", batch, three));
        graph.Output.Add(Info("z", batch, three));
        var model = new P.ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new P.OperatorSetIdProto { Version = 13 });
        File.WriteAllBytes(path, model.ToByteArray());

        var dir = Compile(path, "relu", "--feed", "x:f32[5,3]", "--fetch", "z");
        var header = File.ReadAllText(Path.Combine(dir, "relu.h"));
        Assert.Contains("/* Argument 0: \"x\" f32[5,3], 15 elements, 60 bytes */", header);
        Assert.Contains("#define RELU_NUM_RESULTS 1", header);
        Assert.Contains("/* Result 0: \"z\" f32[5,3]", header);

        var (code, _, stderr) = CliTests.Run("compile", path, "-o", Path.Combine(work, "bad"), "--feed", "x:f33[5,3]");
        Assert.Equal(2, code);
        Assert.Contains("unknown dtype 'f33'", stderr);
    }

    [Theory]
    [InlineData("x", "x", null)]
    [InlineData("x:f32[1,28,28]", "x", "tensor<1x28x28xf32>")]
    [InlineData("input:0:i64[]", "input:0", "tensor<i64>")]
    public void FeedSpecsParse(string spec, string name, string? type)
    {
        var f = GraphCompiler.ModelLoader.ParseFeed(spec).Unwrap();
        Assert.Equal(name, f.Name);
        Assert.Equal(type, f.Type?.ToString());
    }
}

/// <summary>The dynamic section of an ELF64 little-endian shared object: DT_NEEDED, DT_SONAME and the defined dynamic symbols.</summary>
internal sealed record ElfDynamic(string? Soname, IReadOnlyList<string> Needed, IReadOnlyList<string> DefinedSymbols)
{
    public static ElfDynamic Read(byte[] elf)
    {
        Assert.Equal(0x464C457FU, BitConverter.ToUInt32(elf, 0));
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        (uint Type, long Offset, long Size, int Link) Section(int i)
        {
            long s = shoff + (long)i * shentsize;
            return (BitConverter.ToUInt32(elf, (int)s + 4), BitConverter.ToInt64(elf, (int)s + 0x18), BitConverter.ToInt64(elf, (int)s + 0x20), BitConverter.ToInt32(elf, (int)s + 0x28));
        }
        string Str(long table, long offset)
        {
            int start = (int)(table + offset), end = start;
            while (elf[end] != 0) end++;
            return Encoding.ASCII.GetString(elf, start, end - start);
        }
        string? soname = null;
        var needed = new List<string>();
        var symbols = new List<string>();
        for (int i = 0; i < shnum; i++)
        {
            var sec = Section(i);
            if (sec.Type == 6) // SHT_DYNAMIC
            {
                var strtab = Section(sec.Link).Offset;
                for (long e = sec.Offset; e < sec.Offset + sec.Size; e += 16)
                {
                    long tag = BitConverter.ToInt64(elf, (int)e), val = BitConverter.ToInt64(elf, (int)e + 8);
                    if (tag == 1) needed.Add(Str(strtab, val));
                    if (tag == 14) soname = Str(strtab, val);
                }
            }
            if (sec.Type == 11) // SHT_DYNSYM
            {
                var strtab = Section(sec.Link).Offset;
                for (long e = sec.Offset + 24; e < sec.Offset + sec.Size; e += 24)
                    if (BitConverter.ToUInt16(elf, (int)e + 6) != 0) symbols.Add(Str(strtab, BitConverter.ToUInt32(elf, (int)e)));
            }
        }
        return new ElfDynamic(soname, needed, symbols);
    }
}

/// <summary>A theory skipped, visibly, when no C compiler is installed.</summary>
public sealed class SkippableCcTheoryAttribute : TheoryAttribute
{
    public SkippableCcTheoryAttribute()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        if (!path.Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "cc"))))
            Skip = "no C compiler (cc) on PATH: install gcc and libc6-dev (scripts/setup.sh does)";
    }
}

/// <summary>Where the SDK's LibraryImport source generator is (the targeting pack's analyzers); null if absent.</summary>
internal static class Roslyn
{
    public static readonly string? LibraryImportGenerator = Find();

    private static string? Find() =>
        GraphCompiler.Cli.ModelPackage.FindReferencePack() is { } pack && File.Exists(GraphCompiler.Cli.ModelPackage.LibraryImportGenerator(pack))
            ? GraphCompiler.Cli.ModelPackage.LibraryImportGenerator(pack) : null;
}

/// <summary>A fact skipped, visibly, when the SDK's LibraryImport generator cannot be found.</summary>
public sealed class SkippableRoslynFactAttribute : FactAttribute
{
    public SkippableRoslynFactAttribute()
    {
        if (Roslyn.LibraryImportGenerator is null)
            Skip = "the .NET SDK's LibraryImport source generator (packs/Microsoft.NETCore.App.Ref/*/analyzers) was not found";
    }
}
