using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Passes;

/// <summary>
/// A named list of pass names: pipelines are data. An entry <c>a+b*</c> is a group run to a fixed point: a, b, a, b, ...
/// until a whole round changes nothing (at most <see cref="MostRounds"/> rounds).
/// </summary>
public sealed record Pipeline(string Name, ImmutableArray<string> Passes)
{
    /// <summary>Rounds a fixed-point group runs at most: a rewrite that keeps reporting changes must not hang the compile.</summary>
    public const int MostRounds = 8;

    public static Pipeline Parse(string commaSeparated) =>
        new("custom", [.. commaSeparated.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)]);

    /// <summary>The passes of one entry: itself, or a fixed-point group's members (<paramref name="repeat"/> set).</summary>
    public static string[] Members(string entry, out bool repeat)
    {
        repeat = entry.Length > 1 && entry.EndsWith('*');
        return repeat ? entry[..^1].Split('+', StringSplitOptions.TrimEntries) : [entry];
    }

    /// <summary>Every pass the pipeline names, in order, each group's members once.</summary>
    public IEnumerable<string> PassNames => Passes.SelectMany(e => Members(e, out _));

    public override string ToString() => string.Join(",", Passes);
}

/// <summary>What happened in one pass, for <c>--print-after</c> and <c>--dump-dir</c>.</summary>
public sealed record PassStep(int Index, string PassName, Module Module, bool Changed);

/// <summary>
/// Runs a pipeline. With <see cref="PassOptions.CheckEachPass"/> (tests, debug builds) it verifies
/// after every pass and checks that a pass reporting "unchanged" left the printed IR byte-identical.
/// </summary>
public static class PassManager
{
    public static Result<Module> Run(Module module, Pipeline pipeline, PassOptions? options = null, Action<PassStep>? afterEach = null)
    {
        options ??= PassOptions.Default;
        var entries = new List<(Pass[] Passes, bool Repeat)>();
        foreach (var entry in pipeline.Passes)
        {
            var group = new List<Pass>();
            foreach (var name in Pipeline.Members(entry, out _))
            {
                var pass = PassRegistry.Find(name);
                if (pass is null)
                    return Result<Module>.Failure(new Diagnostic($"unknown pass '{name}' (known: {string.Join(", ", PassRegistry.Names)})"));
                group.Add(pass);
            }
            Pipeline.Members(entry, out var repeat);
            entries.Add(([.. group], repeat));
        }
        var m = module;
        int step = 0;
        foreach (var (group, repeat) in entries)
            for (int round = 0; round < (repeat ? Pipeline.MostRounds : 1); round++)
            {
                bool changed = false;
                foreach (var pass in group)
                {
                    var before = options.CheckEachPass ? Printer.Print(m, PrintOptions.Full) : null;
                    PassResult r;
                    try
                    {
                        r = pass.Run(m, options);
                    }
                    catch (PassException e)
                    {
                        return Result<Module>.Failure(e.Diagnostic);
                    }
                    if (options.CheckEachPass)
                    {
                        var diags = Verifier.Verify(r.Module);
                        if (diags.Count > 0)
                            throw new InvalidOperationException($"pass '{pass.Name}' produced invalid IR: {diags[0]}\n{Printer.Print(r.Module)}");
                        if (!r.Changed && Printer.Print(r.Module, PrintOptions.Full) != before)
                            throw new InvalidOperationException($"pass '{pass.Name}' reported no change but changed the IR");
                    }
                    m = r.Module;
                    changed |= r.Changed;
                    afterEach?.Invoke(new PassStep(++step, pass.Name, m, r.Changed));
                }
                if (!changed) break;
            }
        return Result<Module>.Success(m);
    }
}
