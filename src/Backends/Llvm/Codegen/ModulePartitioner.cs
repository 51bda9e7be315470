using System.Text;
using System.Text.RegularExpressions;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>One of the modules a program is split into for parallel compilation, with the constants it defines.</summary>
public sealed record ModulePart(string Ir, IReadOnlyList<ConstantGlobal> Constants);

/// <summary>
/// Splits a generated program into modules that LLVM optimises and compiles on separate threads (as lld's
/// LTO partitions do): a model's kernels are independent functions, and optimisation and instruction
/// selection are most of code generation. Kernels are grouped so that no two parts share anything but
/// declarations: a kernel moves with the functions it calls (its parallel bodies, its packing loops) and the
/// constants it reads (weights stay private to their part); small shared helpers (a fast exp, say) are copied
/// into every part that calls them, as internal functions. What must exist once stays in part 0: the entry
/// points, functions no other function calls (a destructor), and any kernel reaching mutable module state.
/// Part 0 declares the kernels it calls in other parts; those become external symbols (a version script keeps
/// them out of a shared library's exports; the JIT links them through its GOT, whatever their distance).
/// </summary>
public static class ModulePartitioner
{
    private static readonly Regex GlobalName = new(@"^@([-\w.$]+)\s*=", RegexOptions.Compiled);

    /// <summary>
    /// Below this much kernel text a second module costs more (a context, a target machine, a pass pipeline,
    /// one more object to link) than it saves.
    /// </summary>
    public const int MinPartBytes = 16 * 1024;

    /// <summary>
    /// At most <paramref name="parts"/> modules for <paramref name="module"/> (fewer when there is not enough to
    /// share out); null when one module it is.
    /// </summary>
    public static IReadOnlyList<ModulePart>? Split(ModuleContext module, string sourceName, int parts)
    {
        var functions = module.FunctionDefinitions.Select(f => new Fn(ModuleContext.FunctionName(f), f)).ToList();
        var byName = functions.GroupBy(f => f.Name).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var constants = module.Constants.ToDictionary(c => c.Symbol, StringComparer.Ordinal);
        var globals = module.GlobalDefinitions.Select(g => (Name: GlobalName.Match(g) is { Success: true } m ? m.Groups[1].Value : "", Text: g)).ToList();
        var mutable = globals.Where(g => !constants.ContainsKey(g.Name)).Select(g => g.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var f in functions)
            foreach (Match m in ModuleContext.SymbolReference.Matches(f.Text))
                if (m.Groups[1].Value != f.Name) f.Refs.Add(m.Groups[1].Value);

        var called = functions.SelectMany(f => f.Refs).ToHashSet(StringComparer.Ordinal);
        bool Movable(Fn f) => f.Internal && !module.IsHelper(f.Name) && called.Contains(f.Name);
        // A helper that touches any global (a pool, a lookup table) must not be copied: whoever calls it stays in part 0.
        var fixedHelpers = functions.Where(f => module.IsHelper(f.Name) && f.Refs.Any(r => constants.ContainsKey(r) || mutable.Contains(r))).Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var f in functions)
                if (module.IsHelper(f.Name) && !fixedHelpers.Contains(f.Name) && f.Refs.Any(fixedHelpers.Contains)) grew = fixedHelpers.Add(f.Name);
        }

        // Components of movable functions and the constants they read.
        var parent = new Dictionary<string, string>(StringComparer.Ordinal);
        string Find(string x)
        {
            while (parent[x] != x) x = parent[x] = parent[parent[x]];
            return x;
        }
        void Union(string a, string b) => parent[Find(a)] = Find(b);
        foreach (var f in functions.Where(Movable)) parent[f.Name] = f.Name;
        foreach (var c in constants.Keys) parent[c] = c;
        var pinned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in functions)
        {
            bool movable = Movable(f);
            foreach (var r in f.Refs)
            {
                if (movable && parent.ContainsKey(r)) Union(f.Name, r);
                else if (!movable && constants.ContainsKey(r)) pinned.Add(r); // part 0 reads this constant itself
                // Mutable state, a helper that cannot be copied, or a function that stays in part 0 (an entry point): stay with them.
                if (movable && (mutable.Contains(r) || fixedHelpers.Contains(r) || byName.TryGetValue(r, out var g) && !Movable(g) && !module.IsHelper(r)))
                    pinned.Add(f.Name);
            }
        }
        var pinnedRoots = pinned.Select(Find).ToHashSet(StringComparer.Ordinal);
        var components = functions.Where(Movable).GroupBy(f => Find(f.Name))
            .Where(g => !pinnedRoots.Contains(g.Key))
            .Select(g => (Root: g.Key, Functions: g.ToList(), Bytes: g.Sum(f => (long)f.Text.Length)))
            .OrderByDescending(c => c.Bytes).ThenBy(c => c.Root, StringComparer.Ordinal).ToList();
        long movableBytes = components.Sum(c => c.Bytes);
        parts = (int)Math.Min(parts, 1 + movableBytes / MinPartBytes);
        if (parts < 2) return null;

        // Greedy balance, largest component first, against what part 0 keeps anyway.
        var load = new long[parts];
        load[0] = functions.Sum(f => (long)f.Text.Length) - movableBytes;
        var partOf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var c in components)
        {
            int p = Array.IndexOf(load, load.Min());
            load[p] += c.Bytes;
            foreach (var f in c.Functions) partOf[f.Name] = p;
        }
        // A constant goes where the kernels of its component went (one that only part 0 reads stays there).
        var partOfRoot = components.ToDictionary(c => c.Root, c => partOf[c.Functions[0].Name], StringComparer.Ordinal);
        foreach (var c in constants.Keys)
            if (partOfRoot.TryGetValue(Find(c), out var p)) partOf[c] = p;
        if (partOf.Values.All(p => p == 0)) return null;

        // Functions of other parts that part 0 calls become external.
        var part0 = functions.Where(f => partOf.GetValueOrDefault(f.Name) == 0).ToList();
        var exported = part0.SelectMany(f => f.Refs).Where(r => partOf.GetValueOrDefault(r) > 0 && byName.ContainsKey(r)).ToHashSet(StringComparer.Ordinal);
        var declarations = module.DeclarationLines.ToList();
        var result = new List<ModulePart>(parts);
        for (int p = 0; p < parts; p++)
        {
            var mine = functions.Where(f => partOf.GetValueOrDefault(f.Name) == p && (p == 0 || !module.IsHelper(f.Name))).ToList();
            if (p > 0) mine.InsertRange(0, HelpersFor(mine, byName, module));
            var sb = new StringBuilder($"; generated by GraphCompiler from {sourceName}, part {p} of {parts}\n\n");
            foreach (var (name, text) in globals)
                if (partOf.GetValueOrDefault(name) == p && (p == 0 || constants.ContainsKey(name))) sb.Append(text).Append('\n');
            sb.Append('\n');
            foreach (var d in declarations) sb.Append(d).Append('\n');
            if (p == 0)
                foreach (var name in exported.Order(StringComparer.Ordinal)) sb.Append(ModuleContext.Declaration(byName[name].Text)).Append('\n');
            sb.Append('\n');
            foreach (var f in mine)
                sb.Append(p > 0 && exported.Contains(f.Name) ? ModuleContext.External(f.Text) : f.Text).Append("\n\n");
            foreach (var m in module.MetadataLines) sb.Append(m).Append('\n');
            result.Add(new ModulePart(sb.ToString(), [.. module.Constants.Where(c => partOf.GetValueOrDefault(c.Symbol) == p)]));
        }
        return result;
    }

    /// <summary>The helpers <paramref name="functions"/> call, directly or through other helpers, each once.</summary>
    private static List<Fn> HelpersFor(List<Fn> functions, Dictionary<string, Fn> byName, ModuleContext module)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var order = new List<Fn>();
        var work = new Stack<string>(functions.SelectMany(f => f.Refs));
        while (work.Count > 0)
        {
            var r = work.Pop();
            if (!module.IsHelper(r) || !byName.TryGetValue(r, out var h) || !seen.Add(r)) continue;
            order.Add(h);
            foreach (var x in h.Refs) work.Push(x);
        }
        return [.. order.OrderBy(f => f.Name, StringComparer.Ordinal)];
    }

    private sealed class Fn(string name, string text)
    {
        public string Name { get; } = name;
        public string Text { get; } = text;
        public bool Internal { get; } = text.StartsWith(ModuleContext.InternalDefine, StringComparison.Ordinal);
        public HashSet<string> Refs { get; } = new(StringComparer.Ordinal);
    }
}
