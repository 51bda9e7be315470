using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using GraphCompiler.Frontend.TensorFlow.Checkpoints;
using GraphCompiler.IR;

namespace GraphCompiler.Training;

/// <summary>A complete checkpoint read back: its prefix, the step it was taken after, and every tensor in it.</summary>
public sealed record TrainingCheckpoint(string Prefix, long Step, IReadOnlyDictionary<string, Tensor> Tensors);

/// <summary>
/// The periodic checkpoints of a training run in one directory, laid out as TensorFlow's
/// <c>tf.train.CheckpointManager</c> lays them out, so TensorFlow's tools read them
/// (<c>tf.train.latest_checkpoint(DIR)</c>, <c>tf.train.load_checkpoint</c>): <c>ckpt-STEP.index</c> and
/// <c>ckpt-STEP.data-00000-of-00001</c> per checkpoint (a tensor bundle, <see cref="TensorBundleWriter"/>), and
/// the text file <c>checkpoint</c> naming the newest and the kept ones.
/// <para>
/// Atomicity: a checkpoint's two files are written in full under temporary names, then renamed, the index
/// last; the <c>checkpoint</c> file is replaced by a rename after that, and old checkpoints are deleted only
/// once it no longer names them. A process killed at any point therefore leaves every checkpoint whose
/// <c>.index</c> exists complete. <see cref="Latest"/> still reads each candidate wholly (sizes and CRC-32C of
/// every tensor) before trusting it, newest first, and falls back to the previous one when a checkpoint was
/// damaged afterwards (a truncated or deleted data file): a run resumes from the newest checkpoint that is whole.
/// </para>
/// </summary>
public sealed class CheckpointManager
{
    /// <summary>The file naming the newest checkpoint, as TensorFlow names it.</summary>
    public const string StateFileName = "checkpoint";

    /// <summary>The checkpoints' name before <c>-STEP</c>, TensorFlow's default.</summary>
    public const string Stem = "ckpt";

    private static readonly Regex IndexName = new($@"^{Stem}-(\d+)\.index$", RegexOptions.CultureInvariant);
    private static readonly Regex StateLine = new(@"^\s*(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*""([^""]*)""\s*$", RegexOptions.CultureInvariant);

    /// <param name="directory">Where the checkpoints go (created on the first save).</param>
    /// <param name="keep">How many of the newest checkpoints to keep (at least 1); older ones are deleted.</param>
    public CheckpointManager(string directory, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        Directory = directory;
        Keep = keep;
    }

    public string Directory { get; }

    public int Keep { get; }

    /// <summary>The prefix (path without <c>.index</c>) of the checkpoint taken after <paramref name="step"/>.</summary>
    public string PrefixOf(long step) => Path.Combine(Directory, $"{Stem}-{step.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>
    /// Writes the checkpoint of <paramref name="step"/> (atomically, see the class), points the <c>checkpoint</c>
    /// file at it and deletes all but the newest <see cref="Keep"/>; returns its prefix. Checkpoints of later
    /// steps (left by a run that went further before it was stopped, or damaged ones) are dropped too: this run
    /// writes its own.
    /// </summary>
    public string Save(long step, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        System.IO.Directory.CreateDirectory(Directory);
        var prefix = PrefixOf(step);
        TensorBundleWriter.Write(prefix, tensors);
        var kept = Steps().Where(s => s < step).Append(step).TakeLast(Keep).ToList();
        WriteState(kept);
        var keep = kept.ToHashSet();
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, $"{Stem}-*"))
        {
            if (StepOfFile(Path.GetFileName(file)) is { } s && !keep.Contains(s)) File.Delete(file);
        }
        return prefix;
    }

    /// <summary>
    /// The steps of the checkpoints on disk, oldest first: those the <c>checkpoint</c> file names and any other
    /// <c>ckpt-STEP.index</c> (one whose run was stopped between renaming its index and updating that file).
    /// </summary>
    public IReadOnlyList<long> Steps()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        var steps = new SortedSet<long>(StatePaths().Select(StepOfPrefix).OfType<long>());
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, $"{Stem}-*.index"))
        {
            var m = IndexName.Match(Path.GetFileName(file));
            if (m.Success && long.TryParse(m.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var s)) steps.Add(s);
        }
        return [.. steps];
    }

    /// <summary>
    /// The newest checkpoint that reads back whole, or a failure with one line per checkpoint tried when none
    /// does (or none exists). <paramref name="skipped"/> hears of each newer checkpoint passed over, and why
    /// (the first problem, naming the file).
    /// </summary>
    public Result<TrainingCheckpoint> Latest(Action<string>? skipped = null)
    {
        var steps = Steps();
        if (steps.Count == 0)
            return Result<TrainingCheckpoint>.Failure(new Diagnostic($"no checkpoint ({Stem}-STEP.index) in {Directory} to resume from"));
        var problems = new List<Diagnostic>();
        foreach (var step in steps.Reverse())
        {
            var prefix = PrefixOf(step);
            var read = Read(prefix);
            if (read.Value is { } tensors) return Result<TrainingCheckpoint>.Success(new TrainingCheckpoint(prefix, step, tensors));
            var why = read.Diagnostics.Count > 0 ? read.Diagnostics[0].Message : "unreadable";
            problems.Add(new Diagnostic($"checkpoint {prefix} is incomplete or damaged: {why}"));
            skipped?.Invoke($"skipping checkpoint {prefix}: {why}");
        }
        return Result<TrainingCheckpoint>.Failure(problems);
    }

    private static Result<IReadOnlyDictionary<string, Tensor>> Read(string prefix)
    {
        if (!File.Exists(prefix + ".index"))
            return Result<IReadOnlyDictionary<string, Tensor>>.Failure(new Diagnostic($"{prefix}.index does not exist"));
        var bundle = TensorBundle.Open(prefix);
        if (bundle.Value is not { } b) return Result<IReadOnlyDictionary<string, Tensor>>.Failure(bundle.Diagnostics);
        var all = b.ReadAll();
        if (all.Value is not { } v) return Result<IReadOnlyDictionary<string, Tensor>>.Failure(all.Diagnostics);
        return Result<IReadOnlyDictionary<string, Tensor>>.Success(v.Tensors);
    }

    /// <summary>
    /// Replaces the <c>checkpoint</c> file (TensorFlow's <c>CheckpointState</c> in protobuf text format, paths
    /// relative to the directory) by writing a temporary and renaming it.
    /// </summary>
    private void WriteState(IReadOnlyList<long> steps)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"model_checkpoint_path: \"{Path.GetFileName(PrefixOf(steps[^1]))}\"\n");
        foreach (var s in steps) text.Append(CultureInfo.InvariantCulture, $"all_model_checkpoint_paths: \"{Path.GetFileName(PrefixOf(s))}\"\n");
        var path = Path.Combine(Directory, StateFileName);
        var temp = path + TensorBundleWriter.TemporarySuffix;
        // Not flushed to disk: a resume trusts the .index files (flushed before their rename), not this file,
        // which is for TensorFlow's tools; a third flush per checkpoint would cost more than it protects.
        File.WriteAllText(temp, text.ToString());
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The checkpoint paths the <c>checkpoint</c> file names (none when it is missing or unreadable).</summary>
    private IEnumerable<string> StatePaths()
    {
        var path = Path.Combine(Directory, StateFileName);
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // no state file yet: the .index files alone say what exists
        }
        return lines.Select(l => StateLine.Match(l)).Where(m => m.Success).Select(m => m.Groups[2].Value);
    }

    /// <summary>STEP of a path <c>.../ckpt-STEP</c>, or null for any other name.</summary>
    private static long? StepOfPrefix(string prefix)
    {
        var name = Path.GetFileName(prefix);
        return name.StartsWith(Stem + "-", StringComparison.Ordinal)
            && long.TryParse(name.AsSpan(Stem.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : null;
    }

    /// <summary>
    /// STEP of any file of checkpoint STEP — <c>ckpt-STEP.index</c>, <c>ckpt-STEP.data-…</c> or a leftover
    /// temporary of either — or null for files that are not a checkpoint's.
    /// </summary>
    private static long? StepOfFile(string name)
    {
        if (!name.StartsWith(Stem + "-", StringComparison.Ordinal)) return null;
        int dot = name.IndexOf('.', Stem.Length + 1);
        if (dot < 0) return null;
        var rest = name[dot..];
        bool ours = rest is ".index" or ".index" + TensorBundleWriter.TemporarySuffix
            || (rest.StartsWith(".data-", StringComparison.Ordinal));
        return ours && long.TryParse(name.AsSpan(Stem.Length + 1, dot - Stem.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : null;
    }
}
