using System.Diagnostics;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Llvm.Aot;

/// <summary>
/// Links object files into a shared library with LLVM's lld (Debian package lld-19): the soname set,
/// libm and libc as DT_NEEDED (libgcc_s too when a conversion needs its helpers), and only the listed symbols exported (a version script makes
/// everything else local). Inputs are given by relative name in a private directory, and lld embeds no
/// timestamps, so the same object always gives the same bytes.
/// </summary>
public static class SharedLibraryLinker
{
    public static readonly IReadOnlyList<string> LinkerNames = ["ld.lld-19", "ld.lld"];

    // libc.so.6 and libm.so.6 are linked by their runtime names (-l:), so only the libc6 package is
    // needed, not libc6-dev (whose libc.so is a linker script).
    private static readonly string[] LibraryDirectories =
        ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

    public static string? FindLinker()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        foreach (var name in LinkerNames)
            foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
                if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return File.Exists("/usr/lib/llvm-19/bin/ld.lld") ? "/usr/lib/llvm-19/bin/ld.lld" : null;
    }

    /// <summary>Links <paramref name="objects"/> (the program, then the kernel library) into one shared library.</summary>
    public static Result<byte[]> Link(IReadOnlyList<byte[]> objects, string soname, IReadOnlyList<string> exports) =>
        Run(soname, objects, "output.so", work =>
        {
            File.WriteAllText(Path.Combine(work, "exports.map"),
                "{\n  global:\n" + string.Concat(exports.Select(e => $"    {e};\n")) + "  local:\n    *;\n};\n");
            return
            [
                "-shared", "-soname", soname, "--version-script", "exports.map",
                "--no-undefined", "--eh-frame-hdr", "--hash-style=gnu", "--build-id=sha1",
                "-z", "noexecstack", "-z", "relro", "-z", "now",
                "-o", "output.so", .. Inputs(objects),
                .. LibraryDirectories.Where(Directory.Exists).Select(d => "-L" + d),
                "-l:libm.so.6", "-l:libc.so.6",
                // The compiler's runtime helpers LLVM may call where the CPU has no instruction (f64 → f16 is
                // __truncdfhf2): libgcc_s, Debian-essential, recorded only when a helper is referenced.
                "--as-needed", "-l:libgcc_s.so.1",
            ];
        });

    private static IEnumerable<string> Inputs(IReadOnlyList<byte[]> objects) => objects.Select((_, i) => $"input{i}.o");

    /// <summary>Runs the linker in a private directory holding the inputs as <c>inputK.o</c>; returns <paramref name="output"/>'s bytes.</summary>
    private static Result<byte[]> Run(string what, IReadOnlyList<byte[]> objects, string output, Func<string, string[]> arguments)
    {
        var linker = FindLinker();
        if (linker is null)
            return Result<byte[]>.Failure(new Diagnostic($"cannot link {what}: {string.Join(" or ", LinkerNames)} is not installed (Debian package lld-19; scripts/setup.sh installs it)"));
        var work = Directory.CreateTempSubdirectory("gc-link");
        try
        {
            for (int i = 0; i < objects.Count; i++) File.WriteAllBytes(Path.Combine(work.FullName, $"input{i}.o"), objects[i]);
            var psi = new ProcessStartInfo(linker)
            {
                WorkingDirectory = work.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in arguments(work.FullName)) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(120_000))
            {
                p.Kill(true);
                return Result<byte[]>.Failure(new Diagnostic($"{Path.GetFileName(linker)} did not finish within 120 s"));
            }
            var message = (stderr.Result + stdout.Result).Trim().ReplaceLineEndings("; ");
            if (p.ExitCode != 0)
                return Result<byte[]>.Failure(new Diagnostic($"{Path.GetFileName(linker)} failed to link {what}: {message}"));
            return Result<byte[]>.Success(File.ReadAllBytes(Path.Combine(work.FullName, output)));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}
