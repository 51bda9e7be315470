using System.Text;
using System.Text.RegularExpressions;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>Module-level pieces of the generated LLVM IR: declarations, constant globals, helper functions.</summary>
public sealed class ModuleContext(int lanes)
{
    /// <summary>f32 lanes of the target's widest vector registers (16, 8 or 4): picks the GEMM's blocking.</summary>
    public int Lanes { get; } = lanes;

    /// <summary>Code for an NVPTX GPU: no C library, so scalar math must avoid libm calls.</summary>
    public bool Gpu { get; init; }

    private readonly SortedSet<string> _declarations = new(StringComparer.Ordinal);
    private readonly List<string> _globals = [];
    private readonly List<string> _functions = [];
    private readonly Dictionary<Tensor, string> _constants = [];
    private readonly List<ConstantGlobal> _constantData = [];
    private readonly HashSet<string> _helpers = [];

    public void Declare(string declaration) => _declarations.Add(declaration);

    private readonly List<string> _metadata = [];

    /// <summary>
    /// A fresh loop ID (<c>!N</c>) that asks LLVM not to unroll the loop. For a short innermost loop over
    /// contiguous elements (16 channels, say), full unrolling runs before the loop vectoriser and leaves
    /// the SLP vectoriser to rebuild vectors from scalars, with shuffles; kept as a loop it becomes one
    /// or two plain vector iterations.
    /// </summary>
    public string NoUnrollLoop() => Loop("!{!\"llvm.loop.unroll.disable\"}");

    /// <summary>
    /// A fresh loop ID that asks the loop vectoriser to interleave <paramref name="count"/> vector iterations:
    /// a long dependent chain per element (tanh, then logistic, then exp, …) leaves one vector's ops waiting on
    /// each other's latency; independent vectors side by side fill those waits.
    /// </summary>
    public string InterleavedLoop(int count) => Loop($"!{{!\"llvm.loop.interleave.count\", i32 {count}}}");

    private readonly Dictionary<string, string> _loopHints = [];

    private string Loop(string hint)
    {
        if (!_loopHints.TryGetValue(hint, out var hintId))
        {
            hintId = $"!{_metadata.Count}";
            _metadata.Add($"{hintId} = {hint}");
            _loopHints[hint] = hintId;
        }
        var id = $"!{_metadata.Count}";
        _metadata.Add($"{id} = distinct !{{{id}, {hintId}}}");
        return id;
    }

    public void AddFunction(string text) => _functions.Add(text);

    /// <summary>
    /// Put target-only helpers (<see cref="AddLibraryFunction"/>) in a separate kernel library
    /// (<see cref="LibraryIr"/>) that the model's module only declares: the library is compiled once per
    /// target and reused by every model (KernelLibrary), as XLA's CPU runtime ships its matmul kernels.
    /// </summary>
    public bool SeparateLibrary { get; init; }

    private readonly List<string> _library = [];

    /// <summary>
    /// A helper whose code depends only on the target (the GEMM's micro-kernels, packing and workers), given as
    /// <c>define internal …</c>: with <see cref="SeparateLibrary"/> it goes to the kernel library, else into this module.
    /// </summary>
    public void AddLibraryFunction(string definition)
    {
        if (!definition.StartsWith(InternalDefine, StringComparison.Ordinal)) throw new ArgumentException("a library function is given as 'define internal …'");
        (SeparateLibrary ? _library : _functions).Add(definition);
    }

    internal const string InternalDefine = "define internal ";

    /// <summary>The same definition with external linkage (default visibility): an entry point another module calls.</summary>
    internal static string External(string internalDefinition) => string.Concat("define ", internalDefinition.AsSpan(InternalDefine.Length));

    private readonly List<string> _libraryGlobals = [];

    /// <summary>A module-level variable only library functions use (a thread pool's state): in the library with them, else in this module.</summary>
    public void AddLibraryGlobal(string definition) => (SeparateLibrary ? _libraryGlobals : _globals).Add(definition);

    // The parameter names of a definition's header, dropped to make its declaration.
    private static readonly Regex ParameterName = new(@" %[-\w.]+(?=[,)])", RegexOptions.Compiled);

    /// <summary>
    /// The declaration a model module needs for a library function: same signature, default visibility. Not
    /// hidden: a hidden symbol is DSO-local, so its address would be taken PC-relative, which the JIT cannot
    /// relocate when it places the library's code more than 2 GiB away; a default one goes through the GOT
    /// (and lld turns that back into a direct reference, since the version script makes it local to the library).
    /// </summary>
    private static string LibraryDeclaration(string definition)
    {
        var header = definition[InternalDefine.Length..definition.IndexOf('{')].TrimEnd();
        return "declare " + ParameterName.Replace(header, "");
    }

    /// <summary>
    /// The kernel library's module text, or null when this module has no library functions. It holds only
    /// target-dependent text (functions sorted by name, the declarations they use), so equal sets of helpers
    /// give equal text, whatever model asked for them: the text is the library's cache key. Only the entry
    /// points (<see cref="LibraryEntries"/>) are external; helpers only they call stay internal, so LLVM still
    /// inlines a micro-kernel into its worker.
    /// </summary>
    public string? LibraryIr()
    {
        if (_library.Count == 0) return null;
        var entries = LibraryEntries();
        var functions = _library.Distinct().OrderBy(NameOf, StringComparer.Ordinal).ToList();
        var sb = new StringBuilder("; GraphCompiler kernel library\n\n");
        foreach (var g in _libraryGlobals.Distinct()) sb.Append(g).Append('\n');
        sb.Append('\n');
        foreach (var d in _declarations)
            if (d.IndexOf('@') is var at and >= 0 && d.IndexOf('(', at) is var open and > 0 && functions.Any(f => f.Contains(d[at..(open + 1)], StringComparison.Ordinal)))
                sb.Append(d).Append('\n');
        sb.Append('\n');
        foreach (var f in functions)
            sb.Append(entries.Contains(NameOf(f)) ? External(f) : f).Append("\n\n");
        return sb.ToString();
    }

    private static string NameOf(string definition)
    {
        int at = definition.IndexOf('@');
        return definition[(at + 1)..definition.IndexOf('(', at)];
    }

    internal static readonly Regex SymbolReference = new(@"@([-\w.$]+)", RegexOptions.Compiled);

    /// <summary>The library functions this module's own code refers to: the library's external entry points.</summary>
    private HashSet<string> LibraryEntries()
    {
        // Asked for by Build, LibraryIr and the partitioner once the module is complete: scan its text once.
        var version = (_functions.Count, _globals.Count, _library.Count);
        if (_entries is { } cached && _entriesVersion == version) return cached;
        _entriesVersion = version;
        return _entries = ScanLibraryEntries();
    }

    private HashSet<string>? _entries;
    private (int, int, int) _entriesVersion;

    private readonly HashSet<string> _keptEntries = new(StringComparer.Ordinal);

    /// <summary>
    /// Makes a library function an entry point whether or not this module calls it: helpers that come in
    /// variants (the GEMM worker's packed and direct A) stay external in every model's library, so its text
    /// does not depend on which variant a model happened to use.
    /// </summary>
    public void KeepLibraryEntry(string name) => _keptEntries.Add(name);

    private HashSet<string> ScanLibraryEntries()
    {
        var names = _library.Select(NameOf).ToHashSet(StringComparer.Ordinal);
        var used = new HashSet<string>(_keptEntries.Where(names.Contains), StringComparer.Ordinal);
        foreach (var text in _functions.Concat(_globals).Concat(_onStop.Concat(_onRelease).Select(h => "@" + h)))
            foreach (Match m in SymbolReference.Matches(text))
                if (names.Contains(m.Groups[1].Value)) used.Add(m.Groups[1].Value);
        return used;
    }

    private readonly List<string> _onRelease = [];

    /// <summary>Functions (<c>void ()</c>) that <c>NAME_release</c> calls, after stopping the threads: another device's teardown.</summary>
    public void OnRelease(string symbol) => _onRelease.Add(symbol);

    public IReadOnlyList<string> ReleaseHooks => _onRelease;

    private readonly List<string> _onStop = [];

    /// <summary>
    /// Functions (<c>void (i1 wait)</c>) that stop threads the module's kernels keep (a thread pool):
    /// <c>NAME_release</c> calls them first with <c>true</c> (wait for a call in flight), the library's
    /// destructor with <c>false</c> (give up instead). Registering one twice keeps one.
    /// </summary>
    public void OnStop(string symbol)
    {
        if (!_onStop.Contains(symbol)) _onStop.Add(symbol);
    }

    public IReadOnlyList<string> StopHooks => _onStop;

    /// <summary>A module-level variable or constant, given as its full LLVM definition.</summary>
    public void Global(string definition) => _globals.Add(definition);

    /// <summary>
    /// Constants of at least this many bytes stay out of the object file (<see cref="ConstantGlobal.External"/>), for
    /// the JIT, which maps them in place; null (a library, an object file) keeps every constant in the code.
    /// </summary>
    public long? ExternalConstantMinBytes { get; init; }

    /// <summary>
    /// A read-only, 64-byte-aligned global holding the tensor's bytes; equal tensors share one. The text
    /// declares it with a zero placeholder; its bytes travel in <see cref="Constants"/> and are set
    /// through LLVM's C API after parsing (<see cref="ConstantGlobal"/>). A large one, with
    /// <see cref="ExternalConstantMinBytes"/>, is an external declaration whose address the JIT supplies.
    /// </summary>
    public string Constant(Tensor t)
    {
        if (_constants.TryGetValue(t, out var name)) return name;
        bool external = t.Bytes.Length >= ExternalConstantMinBytes;
        // An external one is a symbol of the JIT's own library, so its name must not be one a process could define.
        var symbol = external ? $"gc.weights.{_constants.Count}" : $"const{_constants.Count}";
        name = "@" + symbol;
        _constants[t] = name;
        _constantData.Add(new ConstantGlobal(symbol, t, external));
        _globals.Add(external
            ? $"{name} = external constant [{t.Bytes.Length} x i8], align {JitConstants.Alignment}"
            : $"{name} = private unnamed_addr constant [{t.Bytes.Length} x i8] zeroinitializer, section \"{WeightsSection}\", align {JitConstants.Alignment}");
        return name;
    }

    /// <summary>
    /// The section the constants the code carries (weights) are placed in, together, so that a library can find them
    /// (the linker defines <c>__start_</c>/<c>__stop_</c> symbols for a section with a C-identifier name).
    /// </summary>
    public const string WeightsSection = "gc_weights";

    /// <summary>The bytes of the globals <see cref="Constant"/> declared, in declaration order.</summary>
    public IReadOnlyList<ConstantGlobal> Constants => _constantData;

    /// <summary>
    /// A zero-initialised internal global of LLVM type <paramref name="type"/> that belongs to <paramref name="owner"/>
    /// (compared by reference: an IR value): defined the first time it is asked for, the same name after. Kernels
    /// emitted separately share state through it, as an in-flight collective's start and done share its MPI request.
    /// </summary>
    public string GlobalOf(object owner, string prefix, string type)
    {
        if (_owned.TryGetValue(owner, out var name)) return name;
        name = $"@{prefix}.{_owned.Count}";
        _owned[owner] = name;
        _globals.Add($"{name} = internal global {type} zeroinitializer");
        return name;
    }

    private readonly Dictionary<object, string> _owned = new(ReferenceEqualityComparer.Instance);

    /// <summary>True the first time <paramref name="name"/> is asked for: the caller then adds the helper's definition.</summary>
    public bool FirstHelper(string name) => _helpers.Add(name);

    /// <summary>An integer power helper (square-and-multiply; negative exponents as the IR defines them).</summary>
    public string IntegerPow(string it, bool unsigned)
    {
        var name = $"gc.ipow.{(unsigned ? "u" : "s")}{it}";
        if (!_helpers.Add(name)) return name;
        var negative = unsigned ? "false" : $"%neg";
        _functions.Add($$"""
            define internal {{it}} @{{name}}({{it}} %x, {{it}} %n) alwaysinline {
            entry:
            {{(unsigned ? "" : $"  %neg = icmp slt {it} %n, 0\n")}}  br i1 {{negative}}, label %negexp, label %loop
            negexp:
              %isone = icmp eq {{it}} %x, 1
              %ismone = icmp eq {{it}} %x, -1
              %odd = trunc {{it}} %n to i1
              %mval = select i1 %odd, {{it}} -1, {{it}} 1
              %r1 = select i1 %ismone, {{it}} %mval, {{it}} 0
              %r2 = select i1 %isone, {{it}} 1, {{it}} %r1
              ret {{it}} %r2
            loop:
              %acc = phi {{it}} [ 1, %entry ], [ %acc2, %loop ]
              %base = phi {{it}} [ %x, %entry ], [ %base2, %loop ]
              %e = phi {{it}} [ %n, %entry ], [ %e2, %loop ]
              %bit = trunc {{it}} %e to i1
              %mul = mul {{it}} %acc, %base
              %acc2 = select i1 %bit, {{it}} %mul, {{it}} %acc
              %base2 = mul {{it}} %base, %base
              %e2 = lshr {{it}} %e, 1
              %more = icmp ne {{it}} %e2, 0
              br i1 %more, label %loop, label %done
            done:
              ret {{it}} %acc2
            }
            """);
        return name;
    }

    // For ModulePartitioner: the module's pieces as Build writes them.
    internal IReadOnlyList<string> GlobalDefinitions => _globals;
    internal IEnumerable<string> DeclarationLines
    {
        get
        {
            var entries = LibraryEntries();
            return _declarations.Concat(_library.Where(f => entries.Contains(NameOf(f))).Select(LibraryDeclaration).Distinct());
        }
    }
    internal IReadOnlyList<string> FunctionDefinitions => _functions;
    internal IReadOnlyList<string> MetadataLines => _metadata;
    internal bool IsHelper(string name) => _helpers.Contains(name);
    internal static string FunctionName(string definition) => NameOf(definition);
    internal static string Declaration(string internalDefinition) => LibraryDeclaration(internalDefinition);

    public string Build(string sourceName)
    {
        var sb = new StringBuilder();
        sb.Append("; generated by GraphCompiler from ").Append(sourceName).Append("\n\n");
        foreach (var g in _globals) sb.Append(g).Append('\n');
        sb.Append('\n');
        foreach (var d in DeclarationLines) sb.Append(d).Append('\n');
        sb.Append('\n');
        foreach (var f in _functions) sb.Append(f).Append("\n\n");
        foreach (var m in _metadata) sb.Append(m).Append('\n');
        return sb.ToString();
    }
}
