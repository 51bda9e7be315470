using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Passes;

/// <summary>A named list of pass names: pipelines are data.</summary>
public sealed record Pipeline(string Name, ImmutableArray<string> Passes)
{
    public static Pipeline Parse(string commaSeparated) =>
        new("custom", [.. commaSeparated.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)]);

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
        var passes = new List<Pass>();
        foreach (var name in pipeline.Passes)
        {
            var pass = PassRegistry.Find(name);
            if (pass is null)
                return Result<Module>.Failure(new Diagnostic($"unknown pass '{name}' (known: {string.Join(", ", PassRegistry.Names)})"));
            passes.Add(pass);
        }
        var m = module;
        for (int i = 0; i < passes.Count; i++)
        {
            var before = options.CheckEachPass ? Printer.Print(m, PrintOptions.Full) : null;
            PassResult r;
            try
            {
                r = passes[i].Run(m, options);
            }
            catch (PassException e)
            {
                return Result<Module>.Failure(e.Diagnostic);
            }
            if (options.CheckEachPass)
            {
                var diags = Verifier.Verify(r.Module);
                if (diags.Count > 0)
                    throw new InvalidOperationException($"pass '{passes[i].Name}' produced invalid IR: {diags[0]}\n{Printer.Print(r.Module)}");
                if (!r.Changed && Printer.Print(r.Module, PrintOptions.Full) != before)
                    throw new InvalidOperationException($"pass '{passes[i].Name}' reported no change but changed the IR");
            }
            m = r.Module;
            afterEach?.Invoke(new PassStep(i + 1, passes[i].Name, m, r.Changed));
        }
        return Result<Module>.Success(m);
    }
}
