using System.Runtime.CompilerServices;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace GraphCompiler.IR.Text;

/// <summary>
/// Reads the text form written by <see cref="Printer"/>. Value names are free-form (<c>%x</c>, <c>%0</c>);
/// a use must follow its definition (or be in an enclosing region). Errors carry file:line:column.
/// </summary>
public sealed class Parser
{
    private readonly string _src;
    private readonly string _file;
    private int _pos;
    private int _line = 1;
    private int _col = 1;
    // Every value name visible here (names may not be shadowed), and the names each open region added,
    // removed when it closes: lookups stay O(1) however deep regions nest.
    private readonly Dictionary<string, Value> _visible = [];
    private readonly List<List<string>> _scopes = [];
    private int _regionDepth;

    /// <summary>
    /// Regions may nest this deep (an op's region inside another's): the parser, verifier, printer and
    /// interpreter recurse once per level, so input must not choose the depth of the stack. 256 levels fit a
    /// 1 MiB thread stack with room to spare even before the JIT optimises the parser (unoptimised frames are
    /// several times larger); real models nest a handful of levels.
    /// </summary>
    public const int MaxRegionNesting = 256;

    /// <summary>Brackets in a <c>dense&lt;...&gt;</c> literal nest at most once per dimension.</summary>
    public const int MaxDenseNesting = TensorType.MaxRank;

    private Parser(string src, string file)
    {
        _src = src;
        _file = file;
    }

    /// <summary>Parses and verifies a module.</summary>
    public static Result<Module> ParseModule(string text, string fileName = "<input>", bool verify = true)
    {
        var p = new Parser(text, fileName);
        Module m;
        try
        {
            m = p.Module();
        }
        catch (IrException e)
        {
            return Result<Module>.Failure(e.ToDiagnostic());
        }
        if (verify)
        {
            var diags = Verifier.Verify(m);
            if (diags.Count > 0) return Result<Module>.Failure(diags);
        }
        return Result<Module>.Success(m);
    }

    public static Result<Module> ParseFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Result<Module>.Failure(new Diagnostic($"cannot read {path}: {e.Message}"));
        }
        return ParseModule(text, path);
    }

    // ---- grammar --------------------------------------------------------------------------------

    private Module Module()
    {
        var functions = ImmutableArray.CreateBuilder<Function>();
        var names = new HashSet<string>();
        SkipTrivia();
        while (!AtEnd)
        {
            var loc = Here;
            var f = FunctionDef();
            if (!names.Add(f.Name)) throw new IrException($"function @{f.Name} is defined twice", loc);
            functions.Add(f);
            SkipTrivia();
        }
        if (functions.Count == 0) throw new IrException("no functions in input", Here);
        return new Module(functions.ToImmutable());
    }

    private Function FunctionDef()
    {
        var loc = Here;
        ExpectKeyword("func");
        Expect('@');
        var name = Identifier("function name");
        _scopes.Clear();
        _visible.Clear();
        _scopes.Add([]);
        Expect('(');
        var args = ImmutableArray.CreateBuilder<Value>();
        var argInfos = ImmutableArray.CreateBuilder<ArgumentInfo>();
        if (!TryConsume(')'))
        {
            do
            {
                var (argName, nameLoc) = ValueName();
                Expect(':');
                var v = new Value(Type());
                Define(argName, v, nameLoc);
                args.Add(v);
                string? extName = null;
                bool variable = false;
                if (PeekSkip() == '{')
                {
                    foreach (var (key, keyLoc) in InterfaceAttrs())
                    {
                        if (key == "name") extName = StringLiteral();
                        else if (key == "variable") variable = true;
                        else throw new IrException($"unknown argument attribute '{key}' (expected name or variable)", keyLoc);
                    }
                }
                argInfos.Add(new ArgumentInfo(extName, variable));
            } while (TryConsume(','));
            Expect(')');
        }
        ExpectArrow();
        Expect('(');
        var resultTypes = ImmutableArray.CreateBuilder<TensorType>();
        var resultInfos = ImmutableArray.CreateBuilder<ResultInfo>();
        if (!TryConsume(')'))
        {
            do
            {
                resultTypes.Add(Type());
                string? extName = null;
                int? updates = null;
                if (PeekSkip() == '{')
                {
                    foreach (var (key, keyLoc) in InterfaceAttrs())
                    {
                        if (key == "name") extName = StringLiteral();
                        else if (key == "updates")
                        {
                            var (argName, argLoc) = ValueName();
                            var v = Use(argName, argLoc);
                            int idx = args.IndexOf(v);
                            if (idx < 0) throw new IrException($"'updates' must name a function argument, got {argName}", argLoc);
                            updates = idx;
                        }
                        else throw new IrException($"unknown result attribute '{key}' (expected name or updates)", keyLoc);
                    }
                }
                resultInfos.Add(new ResultInfo(extName, updates));
            } while (TryConsume(','));
            Expect(')');
        }
        Expect('{');
        var ops = Operations(isFunctionBody: true);
        Expect('}');
        return new Function(name, new Region(args.ToImmutable(), ops), resultTypes.ToImmutable(),
            argInfos.ToImmutable(), resultInfos.ToImmutable(), loc);
    }

    /// <summary>Parses <c>{key = ..., flag}</c> on a function argument or result, yielding each key with the cursor on its value.</summary>
    private IEnumerable<(string Key, SourceLocation Loc)> InterfaceAttrs()
    {
        Expect('{');
        if (TryConsume('}')) yield break;
        do
        {
            SkipTrivia();
            var loc = Here;
            var key = Identifier("attribute name");
            if (key != "variable") Expect('=');
            yield return (key, loc);
        } while (TryConsume(','));
        Expect('}');
    }

    private ImmutableArray<Operation> Operations(bool isFunctionBody)
    {
        var ops = ImmutableArray.CreateBuilder<Operation>();
        while (true)
        {
            SkipTrivia();
            if (Peek() == '}' || AtEnd) break;
            ops.Add(Operation());
        }
        return ops.ToImmutable();
    }

    private Operation Operation()
    {
        var loc = Here;
        var resultNames = new List<(string, SourceLocation)>();
        if (Peek() == '%')
        {
            do resultNames.Add(ValueName()); while (TryConsume(','));
            Expect('=');
        }
        SkipTrivia();
        var opLoc = Here;
        var opName = Identifier("op name");
        var def = OpRegistry.Find(opName) ?? throw new IrException($"unknown op '{opName}'", opLoc);

        var operands = ImmutableArray.CreateBuilder<Value>();
        SkipTrivia();
        if (Peek() == '%')
        {
            do
            {
                var (n, l) = ValueName();
                operands.Add(Use(n, l));
            } while (TryConsume(','));
        }

        var attrs = ImmutableSortedDictionary.CreateBuilder<string, Attr>(StringComparer.Ordinal);
        var attrLocs = new Dictionary<string, SourceLocation>();
        SkipTrivia();
        if (Peek() == '{')
        {
            Expect('{');
            if (!TryConsume('}'))
            {
                do
                {
                    SkipTrivia();
                    var keyLoc = Here;
                    var key = Identifier("attribute name");
                    if (attrs.ContainsKey(key)) throw new IrException($"attribute '{key}' given twice", keyLoc);
                    Expect('=');
                    attrLocs[key] = Here;
                    attrs[key] = AttrValue();
                } while (TryConsume(','));
                Expect('}');
            }
        }

        var declared = ImmutableArray.CreateBuilder<TensorType>();
        if (TryConsume(':'))
        {
            do declared.Add(Type()); while (TryConsume(','));
        }

        string? sourceName = null;
        var regions = ImmutableArray.CreateBuilder<Region>();
        while (true)
        {
            SkipTrivia();
            int save = _pos, saveLine = _line, saveCol = _col;
            if (!IsIdentStart(Peek())) break;
            var regionLoc = Here;
            var word = Identifier("region name");
            if (Peek() != '(')
            {
                _pos = save;
                _line = saveLine;
                _col = saveCol;
                break;
            }
            if (word == "loc")
            {
                Expect('(');
                sourceName = StringLiteral();
                Expect(')');
                continue;
            }
            int index = regions.Count;
            var expectedName = def.VariadicRegions ? def.RegionNames.FirstOrDefault() : index < def.RegionNames.Length ? def.RegionNames[index] : null;
            if (expectedName is null) throw new IrException($"'{opName}' takes {def.RegionNames.Length} region(s), found region '{word}'", regionLoc);
            if (word != expectedName) throw new IrException($"'{opName}' region #{index} must be named '{expectedName}', found '{word}'", regionLoc);
            regions.Add(RegionBody());
        }

        // Resolve dense literals against the declared result type (only constants carry tensors).
        foreach (var (key, value) in attrs.ToArray())
        {
            if (value is DenseLiteral lit)
            {
                if (declared.Count != 1) throw new IrException($"a dense<...> attribute needs exactly one result type on the op", attrLocs[key]);
                attrs[key] = new TensorAttr(lit.Materialize(declared[0], attrLocs[key]));
            }
        }

        var attrMap = new AttrMap(attrs.ToImmutable());
        if (resultNames.Count != declared.Count)
            throw new IrException($"'{opName}' defines {resultNames.Count} value(s) but lists {declared.Count} result type(s)", loc);
        var results = ImmutableArray.CreateBuilder<Value>();
        foreach (var (n, l) in resultNames)
        {
            var v = new Value(declared[results.Count]);
            Define(n, v, l);
            results.Add(v);
        }
        return new Operation(def, operands.ToImmutable(), attrMap, results.ToImmutable(), regions.ToImmutable(), opLoc, sourceName);
    }

    private Region RegionBody()
    {
        if (_regionDepth >= MaxRegionNesting)
            throw new IrException($"regions nested deeper than {MaxRegionNesting}", Here);
        // Whatever the limit, a caller's thread may have a small stack: stop with an error, never overflow.
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new IrException($"regions nested too deeply for this thread's stack (at depth {_regionDepth})", Here);
        _regionDepth++;
        Expect('(');
        _scopes.Add([]);
        var args = ImmutableArray.CreateBuilder<Value>();
        if (!TryConsume(')'))
        {
            do
            {
                var (n, l) = ValueName();
                Expect(':');
                var v = new Value(Type());
                Define(n, v, l);
                args.Add(v);
            } while (TryConsume(','));
            Expect(')');
        }
        Expect('{');
        var ops = Operations(isFunctionBody: false);
        Expect('}');
        foreach (var n in _scopes[^1]) _visible.Remove(n);
        _scopes.RemoveAt(_scopes.Count - 1);
        _regionDepth--;
        return new Region(args.ToImmutable(), ops);
    }

    private TensorType Type()
    {
        SkipTrivia();
        var loc = Here;
        ExpectKeyword("tensor");
        Expect('<');
        var sb = new StringBuilder();
        while (!AtEnd && Peek() != '>' && Peek() != '\n') sb.Append(Next());
        if (Peek() != '>') throw new IrException($"expected '>' to close the tensor type, found {Describe()}", Here);
        Next();
        var parts = sb.ToString().Trim().Split('x');
        if (!ElementTypes.TryParse(parts[^1].Trim(), out var et))
            throw new IrException($"unknown element type '{parts[^1].Trim()}' (expected one of f16, bf16, f32, f64, i8..i64, u8..u64, bool)", loc);
        var dims = ImmutableArray.CreateBuilder<long>();
        foreach (var p in parts[..^1])
        {
            if (!long.TryParse(p.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var d))
                throw new IrException($"bad dimension '{p.Trim()}' in tensor type", loc);
            dims.Add(d);
        }
        var t = new TensorType(et, dims.ToImmutable());
        if (t.Problem is { } problem) throw new IrException($"invalid type {t}: {problem}", loc);
        return t;
    }

    private Attr AttrValue()
    {
        SkipTrivia();
        var loc = Here;
        char c = Peek();
        if (c == '[')
        {
            Next();
            var values = ImmutableArray.CreateBuilder<long>();
            if (!TryConsume(']'))
            {
                do values.Add(IntegerLiteral()); while (TryConsume(','));
                Expect(']');
            }
            return new IntArrayAttr(values.ToImmutable());
        }
        if (c == '"') return new StringAttr(StringLiteral());
        if (c == '@')
        {
            Next();
            return new SymbolAttr(Identifier("function name"));
        }
        if (c == '-' || char.IsDigit(c))
        {
            var tok = NumberToken();
            if (long.TryParse(tok, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)) return new IntAttr(i);
            return new FloatAttr(ParseFloat(tok, loc));
        }
        var word = Identifier("attribute value");
        switch (word)
        {
            case "true": return new BoolAttr(true);
            case "false": return new BoolAttr(false);
            case "nan": return new FloatAttr(double.NaN);
            case "inf": return new FloatAttr(double.PositiveInfinity);
            case "dense":
                Expect('<');
                var lit = DenseElements(0);
                Expect('>');
                return lit;
            case "dense_elided":
                Expect('<');
                var hash = StringLiteral();
                Expect('>');
                return new ElidedTensorAttr(hash);
            default: return new EnumAttr(word);
        }
    }

    private DenseLiteral DenseElements(int depth)
    {
        SkipTrivia();
        var loc = Here;
        if (TryConsume('['))
        {
            if (depth >= MaxDenseNesting)
                throw new IrException($"dense literal nested deeper than {MaxDenseNesting} (the maximum rank)", loc);
            var items = new List<DenseLiteral>();
            if (!TryConsume(']'))
            {
                do items.Add(DenseElements(depth + 1)); while (TryConsume(','));
                Expect(']');
            }
            return new DenseLiteral(null, items, loc);
        }
        string tok;
        if (IsIdentStart(Peek())) tok = Identifier("number");
        else if (Peek() == '-' && _pos + 1 < _src.Length && IsIdentStart(_src[_pos + 1]))
        {
            Next();
            tok = "-" + Identifier("number");
        }
        else tok = NumberToken();
        return new DenseLiteral(tok, null, loc);
    }

    // ---- values and scopes ----------------------------------------------------------------------

    private void Define(string name, Value v, SourceLocation loc)
    {
        if (!_visible.TryAdd(name, v)) throw new IrException($"value {name} is defined twice", loc);
        _scopes[^1].Add(name);
    }

    private Value Use(string name, SourceLocation loc)
    {
        if (_visible.TryGetValue(name, out var v)) return v;
        throw new IrException($"use of undefined value {name}", loc);
    }

    private (string, SourceLocation) ValueName()
    {
        SkipTrivia();
        var loc = Here;
        Expect('%');
        var sb = new StringBuilder("%");
        while (!AtEnd && (char.IsLetterOrDigit(Peek()) || Peek() is '_' or '.' or '$' or '-')) sb.Append(Next());
        if (sb.Length == 1) throw new IrException("expected a value name after '%'", loc);
        return (sb.ToString(), loc);
    }

    // ---- lexical --------------------------------------------------------------------------------

    private bool AtEnd => _pos >= _src.Length;
    private SourceLocation Here => new(_file, _line, _col);
    private char Peek() => AtEnd ? '\0' : _src[_pos];

    private char PeekSkip()
    {
        SkipTrivia();
        return Peek();
    }

    private char Next()
    {
        char c = _src[_pos++];
        if (c == '\n')
        {
            _line++;
            _col = 1;
        }
        else _col++;
        return c;
    }

    private void SkipTrivia()
    {
        while (!AtEnd)
        {
            char c = Peek();
            if (char.IsWhiteSpace(c)) Next();
            else if (c == '/' && _pos + 1 < _src.Length && _src[_pos + 1] == '/')
                while (!AtEnd && Peek() != '\n') Next();
            else break;
        }
    }

    private static bool IsIdentStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private string Identifier(string what)
    {
        SkipTrivia();
        var loc = Here;
        if (!IsIdentStart(Peek())) throw new IrException($"expected {what}, found {Describe()}", loc);
        var sb = new StringBuilder();
        while (!AtEnd && (char.IsAsciiLetterOrDigit(Peek()) || Peek() is '_' or '.')) sb.Append(Next());
        return sb.ToString();
    }

    private void ExpectKeyword(string kw)
    {
        SkipTrivia();
        var loc = Here;
        var found = IsIdentStart(Peek()) ? Identifier(kw) : null;
        if (found != kw) throw new IrException($"expected '{kw}', found {(found is null ? Describe() : $"'{found}'")}", loc);
    }

    private void Expect(char c)
    {
        SkipTrivia();
        if (Peek() != c) throw new IrException($"expected '{c}', found {Describe()}", Here);
        Next();
    }

    private void ExpectArrow()
    {
        SkipTrivia();
        if (!_src.AsSpan(_pos).StartsWith("->")) throw new IrException($"expected '->', found {Describe()}", Here);
        Next();
        Next();
    }

    private bool TryConsume(char c)
    {
        SkipTrivia();
        if (Peek() != c) return false;
        Next();
        return true;
    }

    private string Describe() => AtEnd ? "end of input" : Peek() == '\n' ? "end of line" : $"'{Peek()}'";

    private string NumberToken()
    {
        SkipTrivia();
        var loc = Here;
        var sb = new StringBuilder();
        if (Peek() is '-' or '+') sb.Append(Next());
        while (!AtEnd && (char.IsAsciiLetterOrDigit(Peek()) || Peek() == '.' ||
                          ((Peek() is '-' or '+') && sb.Length > 0 && sb[^1] is 'e' or 'E')))
            sb.Append(Next());
        if (sb.Length == 0 || sb.ToString() is "-" or "+") throw new IrException($"expected a number, found {Describe()}", loc);
        return sb.ToString();
    }

    private long IntegerLiteral()
    {
        var loc = Here;
        var tok = NumberToken();
        if (!long.TryParse(tok, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw new IrException($"expected an integer, found '{tok}'", loc);
        return v;
    }

    internal static double ParseFloat(string tok, SourceLocation loc)
    {
        switch (tok)
        {
            case "nan" or "-nan": return double.NaN;
            case "inf" or "+inf": return double.PositiveInfinity;
            case "-inf": return double.NegativeInfinity;
        }
        if (double.TryParse(tok, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return d;
        throw new IrException($"expected a number, found '{tok}'", loc);
    }

    private string StringLiteral()
    {
        SkipTrivia();
        var loc = Here;
        Expect('"');
        var sb = new StringBuilder();
        while (true)
        {
            if (AtEnd || Peek() == '\n') throw new IrException("unterminated string", loc);
            char c = Next();
            if (c == '"') break;
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (AtEnd) throw new IrException("unterminated string", loc);
            char e = Next();
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case 'x':
                    var hex = $"{(AtEnd ? ' ' : Next())}{(AtEnd ? ' ' : Next())}";
                    if (!int.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
                        throw new IrException($"bad escape \\x{hex}", loc);
                    sb.Append((char)code);
                    break;
                default: throw new IrException($"unknown escape '\\{e}'", loc);
            }
        }
        return sb.ToString();
    }
}

/// <summary>A parsed <c>dense&lt;...&gt;</c> literal before its type is known (the op's result type gives it).</summary>
internal sealed record DenseLiteral(string? Scalar, List<DenseLiteral>? Items, SourceLocation Location) : Attr
{
    public Tensor Materialize(TensorType type, SourceLocation at)
    {
        if (Scalar is not null)
        {
            // A single value splats to every element, which are materialised only if someone reads the bytes.
            var one = new TensorBuffer(TensorType.Scalar(type.Element));
            Store(one, 0, Scalar, Location);
            return Tensor.Splat(type, one.ToTensor());
        }
        // The shape is checked before the elements are allocated: a short literal cannot claim a huge type.
        long index = 0;
        Fill(type, null, 0, ref index);
        var b = new TensorBuffer(type);
        index = 0;
        Fill(type, b, 0, ref index);
        return b.ToTensor();
    }

    private void Fill(TensorType type, TensorBuffer? b, int dim, ref long index)
    {
        if (Scalar is not null)
        {
            if (dim != type.Rank) throw new IrException($"dense literal nests {dim} level(s) deep here, but {type} has rank {type.Rank}", Location);
            if (b is not null) Store(b, index, Scalar, Location);
            index++;
            return;
        }
        if (dim >= type.Rank) throw new IrException($"dense literal nests deeper than the rank {type.Rank} of {type}", Location);
        if (Items!.Count != type.Shape[dim])
            throw new IrException($"dense literal has {Items.Count} element(s) in dimension {dim}, {type} needs {type.Shape[dim]}", Location);
        foreach (var item in Items) item.Fill(type, b, dim + 1, ref index);
    }

    private static void Store(TensorBuffer b, long i, string tok, SourceLocation loc)
    {
        var e = b.Element;
        if (e == ElementType.Bool)
        {
            if (tok is "true" or "1") b.SetBool(i, true);
            else if (tok is "false" or "0") b.SetBool(i, false);
            else throw new IrException($"expected true or false for a bool element, found '{tok}'", loc);
        }
        else if (e.IsFloat()) b.SetDouble(i, Parser.ParseFloat(tok, loc));
        else if (e == ElementType.U64 && ulong.TryParse(tok, NumberStyles.None, CultureInfo.InvariantCulture, out var u)) b.SetUInt64(i, u);
        else if (long.TryParse(tok, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
        {
            if (!FitsIn(e, v)) throw new IrException($"{tok} does not fit in {e.Name()}", loc);
            b.SetInt64(i, v);
        }
        else throw new IrException($"expected an integer for a {e.Name()} element, found '{tok}'", loc);
    }

    private static bool FitsIn(ElementType e, long v) => e switch
    {
        ElementType.I8 => v is >= sbyte.MinValue and <= sbyte.MaxValue,
        ElementType.I16 => v is >= short.MinValue and <= short.MaxValue,
        ElementType.I32 => v is >= int.MinValue and <= int.MaxValue,
        ElementType.U8 => v is >= 0 and <= byte.MaxValue,
        ElementType.U16 => v is >= 0 and <= ushort.MaxValue,
        ElementType.U32 => v is >= 0 and <= uint.MaxValue,
        ElementType.U64 => v >= 0,
        _ => true,
    };
}
