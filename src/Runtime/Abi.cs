namespace GraphCompiler.Runtime;

/// <summary>
/// The facts of the calling convention between compiled code and its callers, stated once: the header and
/// binding writers, the code generators, buffer assignment and <see cref="Arena"/> all read them from here.
/// </summary>
public static class Abi
{
    /// <summary>Bumped whenever the calling convention of <c>NAME_run</c> changes (<c>NAME_abi_version()</c> returns it).</summary>
    public const int Version = 1;

    /// <summary>
    /// The arena, and every buffer offset inside it, is aligned to this many bytes: one cache line, and the
    /// widest vector load (AVX-512, 64 bytes) needs no split.
    /// </summary>
    public const int ArenaAlignment = 64;
}
