using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using GraphCompiler.Frontend;
using GraphCompiler.IR.Text;
using GraphCompiler.Tests.Conformance;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// Bounded mutation fuzzing of every input format, end to end: the <c>.ir</c> text format (parse, verify,
/// print and re-parse, interpret), <c>.npy</c> (read, write back), and whole ONNX and TensorFlow imports
/// through <see cref="ModelLoader"/>. Mutants come from fixed seeds (truncations, byte flips, and
/// format-aware edits: lines duplicated, deleted or swapped, numbers made huge, negative or zero, stray
/// brackets, header fields rewritten); each must give a result or diagnostics — never an exception, never
/// a hang. The longer, open-ended fuzzer is <c>tools/fuzz/fuzz.py</c>.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// What counts as a hang. A mutant of examples/cnn.ir that still runs takes 1–3 s in the interpreter alone, but the
    /// full suite runs CPU-heavy collections beside this one (the emulated GPU's threads) on a 2-vCPU machine, where 5 s
    /// was once exceeded by a mutant that finished: 20 s still catches a loop that never ends.
    /// </summary>
    private static readonly TimeSpan PerMutant = TimeSpan.FromSeconds(20);

    /// <summary><c>GC_FUZZ_SCALE=N</c> runs N times as many mutants (same seeds, a longer sequence) for a deeper local run.</summary>
    private static readonly int Scale = int.TryParse(Environment.GetEnvironmentVariable("GC_FUZZ_SCALE"), out var s) && s > 0 ? s : 1;

    /// <summary>Runs <paramref name="check"/> on a worker thread: an exception or a run past <see cref="PerMutant"/> fails, naming the mutant.</summary>
    private static void Within(string label, Func<string> describe, Action check)
    {
        var task = Task.Run(check);
        bool done;
        try
        {
            done = task.Wait(PerMutant);
        }
        catch (AggregateException e) when (e.InnerException is not null and not Xunit.Sdk.XunitException)
        {
            var inner = e.InnerException;
            Assert.Fail($"{label}: {inner.GetType().Name}: {inner.Message}\n--- mutant ---\n{describe()}\n--- stack ---\n{inner.StackTrace}");
            return;
        }
        catch (AggregateException e) when (e.InnerException is Xunit.Sdk.XunitException x)
        {
            Assert.Fail($"{label}: {x.Message}\n--- mutant ---\n{describe()}");
            return;
        }
        Assert.True(done, $"{label}: took longer than {PerMutant}\n--- mutant ---\n{describe()}");
    }

    private static string Show(string text) => text.Length <= 4000 ? text : text[..4000] + "\n...";

    private static string Show(byte[] bytes) => Convert.ToHexString(bytes.AsSpan(0, Math.Min(bytes.Length, 512)));

    // ---- text mutations (.ir, .pbtxt) --------------------------------------------------------------------

    private static readonly string[] NumberReplacements =
        ["0", "-1", "-7", "1", "2147483648", "4294967297", "9223372036854775807", "-9223372036854775808",
         "99999999999999999999999", "1e309", "-0.0", "nan", "inf", "00", "1.5"];

    private static readonly string[] Inserts = ["{", "<", "[", "(", "}", ">", "]", ")", "%", "@", ",", "\"", "x", ":", "=", "\n", "-"];

    private static readonly Regex Number = new(@"-?\d+(\.\d+)?([eE][-+]?\d+)?", RegexOptions.Compiled);

    private static readonly Regex Word = new(@"(?<![%@\w])[A-Za-z_][A-Za-z_0-9]*", RegexOptions.Compiled);

    /// <summary>Text mutants of one kind per index: truncation, byte flips, line edits, number swaps, word swaps, inserted punctuation.</summary>
    internal static IEnumerable<(string Mutation, string Text)> TextMutants(string original, int seed, int count)
    {
        var rng = new Random(seed);
        var numbers = Number.Matches(original);
        var words = Word.Matches(original);
        for (int i = 0; i < count; i++)
        {
            var lines = original.Split('\n').ToList();
            switch (i % 9)
            {
                case 0:
                {
                    int at = rng.Next(original.Length);
                    yield return ($"truncate at {at}", original[..at]);
                    break;
                }
                case 1:
                {
                    var b = Encoding.UTF8.GetBytes(original);
                    int flips = 1 + rng.Next(4);
                    var what = new List<string>();
                    for (int k = 0; k < flips; k++)
                    {
                        int at = rng.Next(b.Length);
                        byte x = (byte)(1 + rng.Next(255));
                        b[at] ^= x;
                        what.Add($"{at}^{x}");
                    }
                    yield return ($"flip bytes {string.Join(",", what)}", Encoding.UTF8.GetString(b));
                    break;
                }
                case 2:
                {
                    int at = rng.Next(lines.Count);
                    lines.Insert(at, lines[at]);
                    yield return ($"duplicate line {at + 1}", string.Join('\n', lines));
                    break;
                }
                case 3:
                {
                    int at = rng.Next(lines.Count);
                    lines.RemoveAt(at);
                    yield return ($"delete line {at + 1}", string.Join('\n', lines));
                    break;
                }
                case 4:
                {
                    int a = rng.Next(lines.Count), b = rng.Next(lines.Count);
                    (lines[a], lines[b]) = (lines[b], lines[a]);
                    yield return ($"swap lines {a + 1} and {b + 1}", string.Join('\n', lines));
                    break;
                }
                case 5:
                case 6:
                {
                    if (numbers.Count == 0) goto default;
                    var m = numbers[rng.Next(numbers.Count)];
                    var r = NumberReplacements[rng.Next(NumberReplacements.Length)];
                    yield return ($"number '{m.Value}' at {m.Index} -> {r}", original[..m.Index] + r + original[(m.Index + m.Length)..]);
                    break;
                }
                case 7:
                {
                    // One word for another from the same file: an op, attribute, type or enum name where another was.
                    if (words.Count == 0) goto default;
                    var m = words[rng.Next(words.Count)];
                    var w = words[rng.Next(words.Count)].Value;
                    yield return ($"word '{m.Value}' at {m.Index} -> {w}", original[..m.Index] + w + original[(m.Index + m.Length)..]);
                    break;
                }
                default:
                {
                    int at = rng.Next(original.Length + 1);
                    var s = Inserts[rng.Next(Inserts.Length)];
                    yield return ($"insert '{s}' at {at}", original[..at] + s + original[at..]);
                    break;
                }
            }
        }
    }

    // ---- .ir --------------------------------------------------------------------------------------------

    /// <summary>Seeds: the examples and IR files with calls, regions, variables and elided constants.</summary>
    private static readonly string[] IrSeeds =
    [
        "examples/softmax_regression.ir", "examples/cnn.ir", "examples/resnet_block.ir",
        "tests/ir/roundtrip/control_flow.ir", "tests/ir/roundtrip/attributes_and_names.ir",
        "tests/ir/constant-fold/regions.ir", "tests/ir/simplify/misc_and_regions.ir",
        "tests/ir/schedule/nested_regions.ir",
    ];

    private const int IrMutantsPerSeed = 250;

    /// <summary>
    /// Interpretation is skipped when the values of a module hold more elements than this in all (the time
    /// limit is for hangs, not for big work: the CNN examples' convolutions take seconds in the interpreter).
    /// </summary>
    private const long MaxInterpretedElements = 1 << 15;

    public static IEnumerable<object[]> IrSeedFiles() => IrSeeds.Select((s, i) => new object[] { s, i });

    [Theory]
    [MemberData(nameof(IrSeedFiles))]
    public void MutatedIrText(string seedFile, int seed)
    {
        var text = File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), seedFile));
        // Golden files carry their expected output after a marker: only the input part is a seed.
        int marker = text.IndexOf("// ----- expected", StringComparison.Ordinal);
        if (marker >= 0) text = text[..marker];
        Assert.True(Parser.ParseModule(text, seedFile).Ok, $"{seedFile}: the seed itself does not parse");

        int parsed = 0, rejected = 0, ran = 0, runRejected = 0;
        var watch = Stopwatch.StartNew();
        foreach (var (mutation, mutant) in TextMutants(text, 100 + seed, IrMutantsPerSeed * Scale))
        {
            Within($"{seedFile}: {mutation}", () => Show(mutant), () =>
            {
                var r = Parser.ParseModule(mutant, "m.ir");
                if (!r.Ok)
                {
                    Assert.NotEmpty(r.Diagnostics);
                    Interlocked.Increment(ref rejected);
                    return;
                }
                Interlocked.Increment(ref parsed);
                var module = r.Value!;
                Assert.Empty(Verifier.Verify(module));

                // Printing and re-parsing is a fixed point.
                var printed = Printer.Print(module, PrintOptions.Full);
                var again = Parser.ParseModule(printed, "printed.ir");
                Assert.True(again.Ok, $"the printed module does not re-parse: {string.Join("; ", again.Diagnostics)}\n{printed}");
                Assert.Equal(printed, Printer.Print(again.Value!, PrintOptions.Full));

                if (module.Functions.Length == 0 || !SmallEnoughToRun(module)) return;
                var entry = module.Entry;
                var inputs = entry.Arguments.Select(a => Tensor.Zeros(a.Type)).ToList();
                var run = new Interpreter(module, new InterpreterOptions { MaxLoopIterations = 10_000, MaxLoopTime = TimeSpan.FromSeconds(2) })
                    .Run(null, inputs);
                if (run.Ok) Interlocked.Increment(ref ran);
                else
                {
                    Assert.NotEmpty(run.Diagnostics);
                    Interlocked.Increment(ref runRejected);
                }
            });
        }
        output.WriteLine($"{seedFile}: {IrMutantsPerSeed * Scale} mutants: {parsed} parsed ({ran} ran, {runRejected} run diagnosed), {rejected} rejected, {watch.ElapsedMilliseconds} ms");
        Assert.True(rejected > 0, $"{seedFile}: no mutant was rejected");
        Assert.True(parsed > 0, $"{seedFile}: no mutant parsed");
    }

    private static bool SmallEnoughToRun(Module m)
    {
        long total = 0;
        bool Add(TensorType t) => t.Problem is null && (total += t.ElementCount) <= MaxInterpretedElements;
        bool Region(Region r) => r.Arguments.All(a => Add(a.Type)) &&
            r.Operations.All(op => op.Results.All(v => Add(v.Type)) && op.Regions.All(Region));
        return m.Functions.All(f => f.ResultTypes.All(Add) && Region(f.Body));
    }

    [Fact]
    public void TextMutantsAreDeterministic()
    {
        var a = TextMutants("func @main() -> () {\n  return\n}\n", 5, 40).ToList();
        var b = TextMutants("func @main() -> () {\n  return\n}\n", 5, 40).ToList();
        Assert.Equal(a, b);
        // Truncate, flip, duplicate, delete, swap, word, insert (no numbers here to replace).
        Assert.Equal(7, a.Select(m => m.Mutation.Split(' ')[0]).Distinct().Count());
    }

    // ---- .npy -------------------------------------------------------------------------------------------

    private static IEnumerable<Tensor> NpySeeds()
    {
        yield return Tensor.FromDoubles(new TensorType(ElementType.F32, 2, 3), [1, -2, 3.5, 0, 1e30, -0.0]);
        yield return Tensor.FromInt64s(new TensorType(ElementType.I64, 5), [1, 2, 3, -4, long.MaxValue]);
        yield return Tensor.FromDoubles(TensorType.Scalar(ElementType.Bool), [1]);
        yield return Tensor.FromDoubles(new TensorType(ElementType.F16, 2, 1, 2), [0.5, 1, 2, 65504]);
        yield return Tensor.FromDoubles(new TensorType(ElementType.U8, 0, 4), []);
    }

    private static readonly string[] ShapeReplacements =
        ["()", "(0,)", "(-1,)", "(2, -3)", "(99999999999, 99999999999)", "(1, 1, 1, 1, 1, 1, 1, 1, 1)", "(9223372036854775807,)",
         "(3L, 2L)", "(2,,3)", "(1e3,)", "(2, 3", "2, 3)", "(4294967296, 0)", "(+2,)", "( 6 , )", "(99999999999999999999,)"];

    private static readonly string[] DescrReplacements =
        ["'<f4'", "'>f4'", "'|V2'", "'<U4'", "'O'", "'<c8'", "''", "'<'", "'f4'", "'<f4", "'<i8'", "'|b1'", "'<f16'", "'=f2'"];

    private static readonly string[] FortranReplacements = ["True", "False", "Tru", "1", "None"];

    /// <summary>Mutants of one .npy file: truncations, flips, header fields rewritten, header length and version bytes.</summary>
    internal static IEnumerable<(string Mutation, byte[] Bytes)> NpyMutants(byte[] original, int seed, int count)
    {
        var rng = new Random(seed);
        int headerLen = original[8] | (original[9] << 8);
        var header = Encoding.ASCII.GetString(original, 10, headerLen);
        var body = original[(10 + headerLen)..];
        byte[] WithHeader(string h)
        {
            var hb = Encoding.Latin1.GetBytes(h);
            var r = new byte[10 + hb.Length + body.Length];
            original.AsSpan(0, 8).CopyTo(r);
            r[8] = (byte)(hb.Length & 0xff);
            r[9] = (byte)((hb.Length >> 8) & 0xff);
            hb.CopyTo(r, 10);
            body.CopyTo(r, 10 + hb.Length);
            return r;
        }
        for (int i = 0; i < count; i++)
        {
            var m = (byte[])original.Clone();
            switch (i % 7)
            {
                case 0:
                {
                    int at = rng.Next(m.Length);
                    yield return ($"truncate at {at}", m[..at]);
                    break;
                }
                case 1:
                {
                    // Flips mostly in the 10-byte preamble and the header, where the parsing is.
                    int at = rng.Next(Math.Min(m.Length, 10 + headerLen + 8));
                    byte x = (byte)(1 + rng.Next(255));
                    m[at] ^= x;
                    yield return ($"flip byte {at}^{x}", m);
                    break;
                }
                case 2:
                {
                    var s = ShapeReplacements[rng.Next(ShapeReplacements.Length)];
                    yield return ($"shape -> {s}", WithHeader(Regex.Replace(header, @"\([^)]*\)", s.Replace("$", "$$"))));
                    break;
                }
                case 3:
                {
                    var s = DescrReplacements[rng.Next(DescrReplacements.Length)];
                    yield return ($"descr -> {s}", WithHeader(Regex.Replace(header, @"'[<>|=][a-zA-Z]\d*'", s)));
                    break;
                }
                case 4:
                {
                    var s = FortranReplacements[rng.Next(FortranReplacements.Length)];
                    yield return ($"fortran_order -> {s}", WithHeader(header.Replace("False", s)));
                    break;
                }
                case 5:
                {
                    int len = rng.Next(3) switch { 0 => 0, 1 => 0xffff, _ => rng.Next(0x10000) };
                    m[8] = (byte)len;
                    m[9] = (byte)(len >> 8);
                    yield return ($"header length -> {len}", m);
                    break;
                }
                default:
                {
                    byte v = (byte)(rng.Next(2) == 0 ? rng.Next(5) : rng.Next(256));
                    m[6] = v;
                    if (v is 2 or 3 && rng.Next(2) == 0)
                    {
                        // A well-formed v2/v3 preamble: a 4-byte length, one of them possibly huge.
                        uint len = rng.Next(2) == 0 ? (uint)headerLen - 2 : (uint)rng.NextInt64(0, 1L << 32);
                        var r = new byte[m.Length + 2];
                        m.AsSpan(0, 8).CopyTo(r);
                        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(8), len);
                        m.AsSpan(10).CopyTo(r.AsSpan(12));
                        yield return ($"version {v}, length {len}", r);
                    }
                    else yield return ($"version byte -> {v}", m);
                    break;
                }
            }
        }
    }

    [Fact]
    public void MutatedNpy()
    {
        int n = 0, read = 0, rejected = 0;
        var watch = Stopwatch.StartNew();
        foreach (var (seedTensor, s) in NpySeeds().Select((t, i) => (t, i)))
        {
            var original = Npy.Write(seedTensor);
            Assert.Equal(seedTensor, Npy.Read(original).Unwrap());
            foreach (var (mutation, bytes) in NpyMutants(original, 200 + s, 100 * Scale))
            {
                n++;
                Within($"npy seed {s} ({seedTensor.Type}): {mutation}", () => Show(bytes), () =>
                {
                    var r = Npy.Read(bytes);
                    if (!r.Ok)
                    {
                        Assert.NotEmpty(r.Diagnostics);
                        Assert.All(r.Diagnostics, d => Assert.DoesNotContain("\n", d.Message));
                        Interlocked.Increment(ref rejected);
                        return;
                    }
                    Interlocked.Increment(ref read);
                    var t = r.Value!;
                    Assert.Null(t.Type.Problem);
                    Assert.Equal(t.Type.ByteSize, t.Bytes.Length);
                    Assert.Equal(t, Npy.Read(Npy.Write(t)).Unwrap());
                });
            }
        }
        output.WriteLine($"npy: {n} mutants: {read} read, {rejected} rejected, {watch.ElapsedMilliseconds} ms");
        Assert.True(read > 0 && rejected > 0);
    }

    /// <summary>Found by <see cref="MutatedNpy"/>: an empty descr string threw IndexOutOfRangeException.</summary>
    [Fact]
    public void NpyEmptyDescrIsDiagnosed()
    {
        var bytes = Npy.Write(Tensor.Zeros(new TensorType(ElementType.F32, 2)));
        var text = Encoding.Latin1.GetString(bytes).Replace("'<f4'", "''    ");
        var r = Npy.Read(Encoding.Latin1.GetBytes(text));
        Assert.False(r.Ok);
        Assert.Contains("empty dtype 'descr'", r.Diagnostics[0].Message);
    }

    // ---- whole imports ----------------------------------------------------------------------------------

    /// <summary>Binary mutants: truncations, byte sets and bit flips, a byte made 0xff (long varints), a slice repeated.</summary>
    internal static IEnumerable<(string Mutation, byte[] Bytes)> BinaryMutants(byte[] original, int seed, int count)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var m = (byte[])original.Clone();
            switch (i % 5)
            {
                case 0:
                {
                    int at = rng.Next(m.Length);
                    yield return ($"truncate at {at}", m[..at]);
                    break;
                }
                case 1:
                {
                    var what = new List<string>();
                    for (int k = 0, n = 1 + rng.Next(4); k < n; k++)
                    {
                        int at = rng.Next(m.Length);
                        m[at] = (byte)rng.Next(256);
                        what.Add($"{at}={m[at]}");
                    }
                    yield return ($"set bytes {string.Join(",", what)}", m);
                    break;
                }
                case 2:
                {
                    int at = rng.Next(m.Length), bit = rng.Next(8);
                    m[at] ^= (byte)(1 << bit);
                    yield return ($"flip bit {bit} of byte {at}", m);
                    break;
                }
                case 3:
                {
                    int at = rng.Next(m.Length);
                    m[at] = 0xff;
                    yield return ($"byte {at} = 0xff", m);
                    break;
                }
                default:
                {
                    int at = rng.Next(m.Length), len = 1 + rng.Next(Math.Min(64, m.Length - at));
                    yield return ($"repeat bytes {at}..{at + len}", [.. m[..(at + len)], .. m[at..]]);
                    break;
                }
            }
        }
    }

    private void ImportMutants(string label, string extension, IEnumerable<(string Mutation, byte[] Bytes)> mutants, ImportOptions options)
    {
        var dir = _temp.Directory("gc-fuzz");
        int n = 0, imported = 0, rejected = 0;
        var watch = Stopwatch.StartNew();
        foreach (var (mutation, bytes) in mutants)
        {
            var path = Path.Combine(dir, $"m{n++}{extension}");
            File.WriteAllBytes(path, bytes);
            Within($"{label}: {mutation}", () => extension == ".pbtxt" ? Show(Encoding.UTF8.GetString(bytes)) : Show(bytes), () =>
            {
                var r = ModelLoader.Load(path, options);
                if (!r.Ok)
                {
                    Assert.NotEmpty(r.Diagnostics);
                    Assert.All(r.Diagnostics, d => Assert.DoesNotContain("\n", d.Message));
                    rejected++;
                    return;
                }
                imported++;
                var problems = Verifier.Verify(r.Value!);
                Assert.True(problems.Count == 0, $"imported, but the module does not verify: {string.Join("; ", problems)}");
            });
            File.Delete(path);
        }
        output.WriteLine($"{label}: {n} mutants: {imported} imported, {rejected} rejected, {watch.ElapsedMilliseconds} ms");
        Assert.True(rejected > 0, $"{label}: no mutant was rejected");
    }

    private static byte[] Seed(string path, ImportOptions options)
    {
        var r = ModelLoader.Load(path, options);
        Assert.True(r.Ok, $"{path}: the seed itself does not import: {string.Join("; ", r.Diagnostics)}");
        return File.ReadAllBytes(path);
    }

    public static IEnumerable<object[]> ExampleModels() =>
        new[] { "small_cnn.onnx", "softmax_regression.onnx" }.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(ExampleModels))]
    public void MutatedOnnxImports(string example)
    {
        var path = Path.Combine(GoldenFile.RepoRoot(), "examples", example);
        var options = new ImportOptions();
        ImportMutants(example, ".onnx", BinaryMutants(Seed(path, options), example.Length, 250 * Scale), options);
    }

    public static IEnumerable<object[]> ConformanceModels() =>
        new[] { "test_if", "test_gemm_default_no_bias", "test_gather_0", "test_batchnorm_epsilon", "test_lstm_defaults", "test_where_example", "test_layer_normalization_4d_axis0_expanded" }
            .Select(n => new object[] { n });

    [SkippableSharedTheory]
    [MemberData(nameof(ConformanceModels))]
    public void MutatedConformanceImports(string name)
    {
        var path = Path.Combine(SharedData.Root, "conformance", "onnx", "node", name, "model.onnx");
        var options = new ImportOptions();
        ImportMutants(name, ".onnx", BinaryMutants(Seed(path, options), name.Length, 80 * Scale), options);
    }

    [Fact]
    public void MutatedTextGraphDefImports()
    {
        var path = Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.pbtxt");
        var options = new ImportOptions { Fetches = ["probabilities"] };
        var text = Encoding.UTF8.GetString(Seed(path, options));
        ImportMutants("softmax_regression.pbtxt", ".pbtxt",
            TextMutants(text, 31, 300 * Scale).Select(m => (m.Mutation, Encoding.UTF8.GetBytes(m.Text))), options);
    }

    /// <summary>A SavedModel directory: its MetaGraph (saved_model.pb), then its checkpoint index, mutated in place.</summary>
    [SharedDataFact]
    public void MutatedSavedModelImports()
    {
        var src = SharedData.Tf("cases/serving_half_plus_two_tf2_cpu");
        var dir = _temp.Directory("gc-fuzz-saved");
        // Copied as new, writable files (the shared data is read-only).
        foreach (var f in Directory.EnumerateFiles(src, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(dir, Path.GetRelativePath(src, f));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.WriteAllBytes(to, File.ReadAllBytes(f));
        }
        var options = new ImportOptions();
        Assert.True(ModelLoader.Load(dir, options).Ok, "the SavedModel itself does not import");
        foreach (var (file, count, seed) in new[] { ("saved_model.pb", 200, 41), ("variables/variables.index", 100, 42) })
        {
            var path = Path.Combine(dir, file);
            var original = File.ReadAllBytes(path);
            int imported = 0, rejected = 0;
            foreach (var (mutation, bytes) in BinaryMutants(original, seed, count * Scale))
            {
                File.WriteAllBytes(path, bytes);
                Within($"{file}: {mutation}", () => Show(bytes), () =>
                {
                    var r = ModelLoader.Load(dir, options);
                    if (!r.Ok)
                    {
                        Assert.NotEmpty(r.Diagnostics);
                        Assert.All(r.Diagnostics, d => Assert.DoesNotContain("\n", d.Message));
                        rejected++;
                        return;
                    }
                    imported++;
                    var problems = Verifier.Verify(r.Value!);
                    Assert.True(problems.Count == 0, $"imported, but the module does not verify: {string.Join("; ", problems)}");
                });
            }
            File.WriteAllBytes(path, original);
            output.WriteLine($"{file}: {count * Scale} mutants: {imported} imported, {rejected} rejected");
            Assert.True(rejected > 0, $"{file}: no mutant was rejected");
        }
    }

    [SharedDataFact]
    public void MutatedBinaryGraphDefImports()
    {
        var path = SharedData.Tf("cases/tf2onnx_regression_graphdef/frozen.pb");
        var options = new ImportOptions { Feeds = [new FeedSpec("X", new TensorType(ElementType.F32, 1))] };
        ImportMutants("frozen.pb", ".pb", BinaryMutants(Seed(path, options), 32, 300 * Scale), options);
    }
}
