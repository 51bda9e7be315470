using System.CommandLine;
using GraphCompiler.Cli;

// Exit codes: 0 success, 2 bad input (one line on stderr), 3 internal error (a bug: please report).
var root = new RootCommand("gcc-cli: the GraphCompiler command line — inspect, run, compile, benchmark and train tensor graphs.");
root.Subcommands.Add(IrCommand.Create());
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(CheckCommand.Create());
root.Subcommands.Add(GraphCommand.Create());
root.Subcommands.Add(CompileCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
return Cli.Invoke(root, args);
