using System.CommandLine;
using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>Shared CLI plumbing: one-line errors with exit code 2, and a last-resort handler for bugs.</summary>
internal static class Cli
{
    public const int Ok = 0;
    public const int BadInput = 2;
    public const int InternalError = 3;

    public static int Invoke(RootCommand root, string[] args)
    {
        // No response files: '@FILE' means a tensor file, as in IREE's --input=@x.npy and --output=@y.npy.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            var help = string.Join(' ', ["gcc-cli", .. CommandPath(parsed), "--help"]);
            Console.Error.WriteLine($"gcc-cli: error: {string.Join("; ", parsed.Errors.Select(e => OneLine(e.Message)))} (see {help})");
            return BadInput;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("GCC_DEBUG") != "1")
        {
            Console.Error.WriteLine($"gcc-cli: internal error: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")} (a bug; rerun with GCC_DEBUG=1 for the stack trace)");
            return InternalError;
        }
    }

    /// <summary>A parser message on one line: System.CommandLine lists allowed values one per line, tab-indented.</summary>
    private static string OneLine(string message) =>
        string.Join(" ", message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.');

    private static IEnumerable<string> CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var r = parsed.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            if (r.Command is not RootCommand) names.Insert(0, r.Command.Name);
        return names;
    }

    /// <summary>The <c>--backend</c> option of the commands that run a model in-process: a target that executes.</summary>
    public static Option<string> BackendOption(string description)
    {
        var backend = new Option<string>("--backend") { Description = description, DefaultValueFactory = _ => "cpu" };
        backend.AcceptOnlyFromAmong([.. Targets.Executing]);
        return backend;
    }

    /// <summary>The driver for <paramref name="options"/>; null (with the problem printed) when the options are bad.</summary>
    public static Compiler? Driver(CompileOptions options, out int exitCode)
    {
        var driver = Compiler.Create(options);
        exitCode = driver.Ok ? Ok : FailOne(driver.Diagnostics);
        return driver.Value;
    }

    /// <summary>Prints diagnostics, one per line, and returns the bad-input exit code.</summary>
    public static int Fail(IEnumerable<Diagnostic> diagnostics)
    {
        foreach (var d in diagnostics) Console.Error.WriteLine(d.ToString());
        return BadInput;
    }

    /// <summary>Bad input on one line: the first problem, and how many more there are.</summary>
    public static int FailOne(IReadOnlyList<Diagnostic> diagnostics)
    {
        Console.Error.WriteLine(CompilationException.Summarize(diagnostics));
        return BadInput;
    }

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return BadInput;
    }

    /// <summary>Writes files atomically as a set: every file goes to a temporary name first, then all are renamed.</summary>
    public static void WriteAll(string directory, IReadOnlyList<(string Name, byte[] Data)> files)
    {
        Directory.CreateDirectory(directory);
        var temps = new List<(string Tmp, string Final)>();
        try
        {
            foreach (var (name, data) in files)
            {
                var final = Path.Combine(directory, name);
                var tmp = final + ".tmp-" + Environment.ProcessId;
                File.WriteAllBytes(tmp, data);
                temps.Add((tmp, final));
            }
            foreach (var (tmp, final) in temps) File.Move(tmp, final, overwrite: true);
        }
        finally
        {
            foreach (var (tmp, _) in temps)
                if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>A file name from a tensor name: path separators and odd characters become '_'.</summary>
    public static string SafeFileName(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' ? c : '_').ToArray();
        var s = new string(chars).Trim('.');
        return s.Length == 0 ? "_" : s;
    }
}
