using System.IO.Compression;
using GraphCompiler.IR;

namespace GraphCompiler.Training;

/// <summary>
/// A labelled dataset held in memory: <see cref="Features"/> row-major, one row of <see cref="FeatureCount"/>
/// floats per example, and an integer class label per example.
/// </summary>
public sealed class Dataset
{
    public Dataset(float[] features, long[] labels, int featureCount, int classes)
    {
        if (features.Length != labels.Length * featureCount) throw new ArgumentException("features and labels disagree on the example count");
        Features = features;
        Labels = labels;
        FeatureCount = featureCount;
        Classes = classes;
    }

    public float[] Features { get; }
    public long[] Labels { get; }
    public int FeatureCount { get; }
    public int Classes { get; }
    public int Count => Labels.Length;

    /// <summary>
    /// Where Debian's <c>python3-sklearn</c> installs the UCI optical-recognition digits: 1,797 handwritten
    /// 8×8 images with 17 grey levels (0–16), one CSV row of 64 pixels and the digit per image.
    /// </summary>
    public const string DigitsPath = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

    /// <summary>The digits dataset (<see cref="DigitsPath"/> unless given), pixels scaled to [0, 1].</summary>
    public static Result<Dataset> Digits(string? path = null)
    {
        path ??= DigitsPath;
        if (!File.Exists(path))
            return Fail($"{path}: not found (the digits dataset comes with Debian's python3-sklearn: apt-get install python3-sklearn)");
        var features = new List<float>();
        var labels = new List<long>();
        try
        {
            using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
            int line = 0;
            while (reader.ReadLine() is { } text)
            {
                line++;
                if (text.Length == 0) continue;
                var cells = text.Split(',');
                if (cells.Length != 65) return Fail($"{path}:{line}: expected 64 pixels and a label, got {cells.Length} fields");
                for (int i = 0; i < 64; i++)
                {
                    if (!double.TryParse(cells[i], System.Globalization.CultureInfo.InvariantCulture, out var p) || p < 0 || p > 16)
                        return Fail($"{path}:{line}: pixel {i} '{cells[i]}' is not a number in [0, 16]");
                    features.Add((float)(p / 16));
                }
                if (!double.TryParse(cells[64], System.Globalization.CultureInfo.InvariantCulture, out var d) || d < 0 || d > 9 || d != Math.Floor(d))
                    return Fail($"{path}:{line}: label '{cells[64]}' is not a digit");
                labels.Add((long)d);
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            return Fail($"{path}: {e.Message}");
        }
        return Result<Dataset>.Success(new Dataset([.. features], [.. labels], 64, 10));
    }

    /// <summary>
    /// A dataset from an <c>.npz</c> with arrays <c>x</c> (examples × features..., any float or integer type)
    /// and <c>y</c> (integer class labels).
    /// </summary>
    public static Result<Dataset> FromNpz(string path)
    {
        var r = Npz.ReadFile(path);
        if (!r.Ok) return Result<Dataset>.Failure(r.Diagnostics);
        if (!r.Value!.TryGetValue("x", out var x) || !r.Value.TryGetValue("y", out var y))
            return Fail($"{path}: needs arrays 'x' (features) and 'y' (labels), has {string.Join(", ", r.Value.Keys)}");
        if (x.Type.Rank < 1 || y.Type.Rank != 1 || x.Type.Shape[0] != y.Type.Shape[0] || !y.Element.IsInteger())
            return Fail($"{path}: x is {x.Type} and y is {y.Type}; need x [N, ...] and integer y [N]");
        int n = (int)y.Type.Shape[0];
        var features = new float[x.ElementCount];
        for (long i = 0; i < features.Length; i++) features[i] = (float)x.GetDouble(i);
        var labels = new long[n];
        for (int i = 0; i < n; i++) labels[i] = y.GetInt64(i);
        if (labels.Any(l => l < 0)) return Fail($"{path}: labels must be >= 0");
        return Result<Dataset>.Success(new Dataset(features, labels, n == 0 ? 0 : (int)(x.ElementCount / n), n == 0 ? 0 : (int)labels.Max() + 1));
    }

    private static Result<Dataset> Fail(string message) => Result<Dataset>.Failure(new Diagnostic(message));

    /// <summary>Splits off the last <paramref name="testFraction"/> of a seeded shuffle as the held-back test set.</summary>
    public (Dataset Train, Dataset Test) Split(double testFraction, int seed)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(seed).Shuffle(order);
        int test = (int)Math.Round(Count * testFraction);
        return (Subset(order[..^test]), Subset(order[^test..]));
    }

    public Dataset Subset(IReadOnlyList<int> rows)
    {
        var f = new float[rows.Count * FeatureCount];
        var l = new long[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            Array.Copy(Features, (long)rows[i] * FeatureCount, f, (long)i * FeatureCount, FeatureCount);
            l[i] = Labels[rows[i]];
        }
        return new Dataset(f, l, FeatureCount, Classes);
    }

    /// <summary>Examples <paramref name="rows"/> as a batch: features shaped <paramref name="inputType"/> (its element type), labels as <paramref name="labelType"/>.</summary>
    public (Tensor Features, Tensor Labels) Batch(ReadOnlySpan<int> rows, TensorType inputType, ElementType labelType)
    {
        if (inputType.ElementCount != (long)rows.Length * FeatureCount)
            throw new ArgumentException($"a batch of {rows.Length} examples of {FeatureCount} features does not fill {inputType}");
        var values = new double[inputType.ElementCount];
        var labels = new long[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            for (int k = 0; k < FeatureCount; k++) values[(long)i * FeatureCount + k] = Features[(long)rows[i] * FeatureCount + k];
            labels[i] = Labels[rows[i]];
        }
        return (Tensor.FromDoubles(inputType, values), Tensor.FromInt64s(new TensorType(labelType, rows.Length), labels));
    }
}
