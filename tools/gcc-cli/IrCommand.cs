using System.CommandLine;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Cli;

/// <summary><c>gcc-cli ir FILE.ir</c>: parse, verify and print the IR.</summary>
internal static class IrCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "An IR text file (.ir)." };
        var full = new Option<bool>("--full-constants") { Description = "Print every constant in full instead of eliding large ones by hash." };
        var cmd = new Command("ir", "Parse, verify and print IR (the form pass tests compare).") { file, full };
        cmd.SetAction(r =>
        {
            var parsed = Parser.ParseFile(r.GetValue(file)!);
            if (!parsed.Ok) return Cli.Fail(parsed.Diagnostics);
            Console.Out.Write(Printer.Print(parsed.Value!, r.GetValue(full) ? PrintOptions.Full : PrintOptions.Default));
            return Cli.Ok;
        });
        return cmd;
    }
}
