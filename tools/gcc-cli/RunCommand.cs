using System.CommandLine;
using GraphCompiler.IR;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Cli;

/// <summary><c>gcc-cli run FILE.ir --input NAME=FILE.npy ... --output-dir DIR</c>: run a function, write one .npy per result.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "An IR text file (.ir)." };
        var inputs = new Option<string[]>("--input", "-i")
        {
            Description = "An argument value as NAME=FILE.npy (NAME is the argument's name, or argN). Repeat per argument.",
            AllowMultipleArgumentsPerToken = false,
        };
        var outputDir = new Option<string>("--output-dir", "-o") { Description = "Where to write one .npy per result.", Required = true };
        var backend = new Option<string>("--backend") { Description = "Which backend runs the graph.", DefaultValueFactory = _ => "interpreter" };
        backend.AcceptOnlyFromAmong("interpreter");
        var function = new Option<string?>("--function") { Description = "The function to run (default: main, else the first)." };
        var cmd = new Command("run", "Run a function of an IR file on .npy inputs and write its results as .npy files.")
        {
            file, inputs, outputDir, backend, function,
        };
        cmd.SetAction(r => Run(r.GetValue(file)!, r.GetValue(inputs) ?? [], r.GetValue(outputDir)!, r.GetValue(function)));
        return cmd;
    }

    private static int Run(string path, string[] inputSpecs, string outputDir, string? functionName)
    {
        var parsed = Parser.ParseFile(path);
        if (!parsed.Ok) return Cli.Fail(parsed.Diagnostics);
        var module = parsed.Value!;
        var f = functionName is null ? module.Entry : module.Find(functionName);
        if (f is null) return Cli.Fail($"{path}: no function named '{functionName}'");

        var given = new Dictionary<string, string>();
        foreach (var spec in inputSpecs)
        {
            int eq = spec.IndexOf('=');
            if (eq <= 0) return Cli.Fail($"--input '{spec}' must be NAME=FILE.npy");
            if (!given.TryAdd(spec[..eq], spec[(eq + 1)..])) return Cli.Fail($"--input '{spec[..eq]}' is given twice");
        }

        var args = new List<Tensor>();
        var expected = Enumerable.Range(0, f.Arguments.Length).Select(i => $"{f.ArgumentName(i)}: {f.Arguments[i].Type}");
        for (int i = 0; i < f.Arguments.Length; i++)
        {
            var name = f.ArgumentName(i);
            if (!given.Remove(name, out var npyPath))
                return Cli.Fail($"missing --input {name}=FILE.npy (@{f.Name} takes {string.Join(", ", expected)})");
            var t = Npy.ReadFile(npyPath);
            if (!t.Ok) return Cli.Fail(t.Diagnostics);
            if (t.Value!.Type != f.Arguments[i].Type)
                return Cli.Fail($"{npyPath}: input '{name}' is {t.Value.Type}, @{f.Name} expects {f.Arguments[i].Type}");
            args.Add(t.Value);
        }
        if (given.Count > 0)
            return Cli.Fail($"@{f.Name} has no argument named '{given.Keys.First()}' (it takes {string.Join(", ", expected)})");

        var result = new Interpreter(module).Run(f.Name, args);
        if (!result.Ok) return Cli.Fail(result.Diagnostics);

        var files = new List<(string, byte[])>();
        var used = new HashSet<string>();
        for (int i = 0; i < result.Value!.Results.Length; i++)
        {
            var t = result.Value.Results[i];
            var name = Cli.SafeFileName(f.ResultName(i));
            while (!used.Add(name)) name += "_";
            files.Add((name + ".npy", Npy.Write(t)));
            Console.Out.WriteLine($"{name}.npy: {t.Type} {TensorFormatter.Format(t, 8)}");
        }
        Cli.WriteAll(outputDir, files);
        return Cli.Ok;
    }
}
