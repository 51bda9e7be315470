using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TextFormat;

/// <summary>
/// Protobuf text format (what TensorFlow writes as <c>.pbtxt</c>), parsed into any generated message
/// through reflection. Google.Protobuf for C# has no text parser. Follows the C++ parser's rules:
/// unknown fields and repeated singular fields are errors; Any expansions are not supported.
/// </summary>
public static class TextFormatParser
{
    /// <summary>Deepest message nesting accepted, so that hostile input cannot exhaust the stack.</summary>
    public const int MaxDepth = 200;

    public static Result<T> Parse<T>(MessageParser<T> parser, string text, string fileName) where T : class, IMessage<T>
    {
        var message = parser.ParseFrom(ByteString.Empty);
        var diagnostic = ParseInto(message, text, fileName);
        return diagnostic is null ? Result<T>.Success(message) : Result<T>.Failure(diagnostic);
    }

    public static Result<IMessage> Parse(MessageDescriptor descriptor, string text, string fileName)
    {
        if (descriptor.Parser is null)
            return Result<IMessage>.Failure(new Diagnostic($"{descriptor.FullName} has no generated parser"));
        var message = descriptor.Parser.ParseFrom(ByteString.Empty);
        var diagnostic = ParseInto(message, text, fileName);
        return diagnostic is null ? Result<IMessage>.Success(message) : Result<IMessage>.Failure(diagnostic);
    }

    private static Diagnostic? ParseInto(IMessage message, string text, string fileName)
    {
        try
        {
            new Reader(new TextFormatLexer(text)).ParseBody(message, null, 0);
            return null;
        }
        catch (TextFormatException e)
        {
            return TextFormatDiagnostics.At(fileName, e.Line, e.Column, e.Message);
        }
    }

    private sealed class Reader(TextFormatLexer lexer)
    {
        private Token _tok = lexer.Next();

        private Token Advance()
        {
            var t = _tok;
            _tok = lexer.Next();
            return t;
        }

        private static TextFormatException Error(Token at, string message) => new(message, at.Line, at.Column);

        private Token Expect(char symbol)
        {
            if (!_tok.Is(symbol)) throw Error(_tok, $"expected '{symbol}', found {_tok.Describe()}");
            return Advance();
        }

        /// <summary>Fields up to <paramref name="close"/> (null: end of input).</summary>
        public void ParseBody(IMessage message, char? close, int depth)
        {
            if (depth > MaxDepth) throw Error(_tok, $"messages nested deeper than {MaxDepth} levels");
            var descriptor = message.Descriptor;
            var seen = new Dictionary<int, string>();
            var oneofs = new Dictionary<string, string>();
            while (true)
            {
                if (close is { } c && _tok.Is(c))
                {
                    Advance();
                    return;
                }
                if (_tok.Kind == TokenKind.End)
                {
                    if (close is null) return;
                    throw Error(_tok, $"expected '{close}' to close {descriptor.FullName}, found end of file");
                }
                if (_tok.Is('['))
                    throw Error(_tok, "extension and Any expansion syntax '[...]' is not supported");
                if (_tok.Kind != TokenKind.Identifier)
                    throw Error(_tok, $"expected a field name, found {_tok.Describe()}");
                var nameTok = Advance();
                var field = descriptor.FindFieldByName(nameTok.Text)
                    ?? throw Error(nameTok, $"unknown field '{nameTok.Text}' in message {descriptor.FullName}");
                if (!field.IsRepeated)
                {
                    if (!seen.TryAdd(field.FieldNumber, field.Name))
                        throw Error(nameTok, $"non-repeated field '{field.Name}' is specified multiple times");
                    var oneof = field.RealContainingOneof;
                    if (oneof is not null && !oneofs.TryAdd(oneof.Name, field.Name))
                        throw Error(nameTok, $"field '{field.Name}' is specified along with field '{oneofs[oneof.Name]}', another member of oneof '{oneof.Name}'");
                }
                ParseField(message, field, depth);
                if (_tok.Is(',') || _tok.Is(';')) Advance();
            }
        }

        private void ParseField(IMessage message, FieldDescriptor field, int depth)
        {
            bool isMessage = field.FieldType is FieldType.Message or FieldType.Group;
            if (isMessage)
            {
                if (_tok.Is(':')) Advance();
            }
            else
            {
                Expect(':');
            }
            if (_tok.Is('['))
            {
                var open = Advance();
                if (!field.IsRepeated) throw Error(open, $"list syntax '[...]' used for non-repeated field '{field.Name}'");
                if (_tok.Is(']'))
                {
                    Advance();
                    return;
                }
                while (true)
                {
                    ParseOne(message, field, depth);
                    if (_tok.Is(']'))
                    {
                        Advance();
                        return;
                    }
                    Expect(',');
                }
            }
            ParseOne(message, field, depth);
        }

        private void ParseOne(IMessage message, FieldDescriptor field, int depth)
        {
            if (field.IsMap)
            {
                ParseMapEntry(message, field, depth);
                return;
            }
            object value = field.FieldType is FieldType.Message or FieldType.Group
                ? ParseNestedMessage(field.MessageType, depth)
                : ParseScalar(field);
            if (field.IsRepeated) ((IList)field.Accessor.GetValue(message)).Add(value);
            else field.Accessor.SetValue(message, value);
        }

        private IMessage ParseNestedMessage(MessageDescriptor type, int depth)
        {
            var msg = (IMessage)Activator.CreateInstance(type.ClrType)!;
            var close = OpenBrace();
            ParseBody(msg, close, depth + 1);
            return msg;
        }

        private char OpenBrace()
        {
            if (_tok.Is('{')) { Advance(); return '}'; }
            if (_tok.Is('<')) { Advance(); return '>'; }
            throw Error(_tok, $"expected '{{' or '<', found {_tok.Describe()}");
        }

        /// <summary>A map entry <c>{ key: K value: V }</c>; a missing key or value takes its default.</summary>
        private void ParseMapEntry(IMessage message, FieldDescriptor field, int depth)
        {
            var entry = field.MessageType;
            var keyField = entry.FindFieldByNumber(1);
            var valueField = entry.FindFieldByNumber(2);
            var close = OpenBrace();
            if (depth + 1 > MaxDepth) throw Error(_tok, $"messages nested deeper than {MaxDepth} levels");
            object? key = null, value = null;
            while (!_tok.Is(close))
            {
                if (_tok.Kind != TokenKind.Identifier)
                    throw Error(_tok, _tok.Kind == TokenKind.End
                        ? $"expected '{close}' to close a '{field.Name}' entry, found end of file"
                        : $"expected 'key' or 'value', found {_tok.Describe()}");
                var nameTok = Advance();
                FieldDescriptor target = nameTok.Text == "key" ? keyField : nameTok.Text == "value" ? valueField
                    : throw Error(nameTok, $"unknown field '{nameTok.Text}' in a '{field.Name}' map entry (expected 'key' or 'value')");
                if ((target == keyField ? key : value) is not null)
                    throw Error(nameTok, $"non-repeated field '{nameTok.Text}' is specified multiple times");
                object v;
                if (target.FieldType == FieldType.Message)
                {
                    if (_tok.Is(':')) Advance();
                    v = ParseNestedMessage(target.MessageType, depth + 1);
                }
                else
                {
                    Expect(':');
                    v = ParseScalar(target);
                }
                if (target == keyField) key = v;
                else value = v;
                if (_tok.Is(',') || _tok.Is(';')) Advance();
            }
            Advance();
            key ??= DefaultOf(keyField);
            value ??= DefaultOf(valueField);
            ((IDictionary)field.Accessor.GetValue(message))[key] = value;
        }

        private static object DefaultOf(FieldDescriptor f) => f.FieldType switch
        {
            FieldType.String => "",
            FieldType.Bytes => ByteString.Empty,
            FieldType.Bool => false,
            FieldType.Message => Activator.CreateInstance(f.MessageType.ClrType)!,
            FieldType.Enum => Enum.ToObject(f.EnumType.ClrType, 0),
            _ => ConvertInteger(f, BigInteger.Zero),
        };

        // ---- scalars ---------------------------------------------------------------------------

        private object ParseScalar(FieldDescriptor field)
        {
            switch (field.FieldType)
            {
                case FieldType.String:
                case FieldType.Bytes:
                {
                    if (_tok.Kind != TokenKind.String) throw Error(_tok, $"expected a string for field '{field.Name}', found {_tok.Describe()}");
                    var bytes = new List<byte>();
                    while (_tok.Kind == TokenKind.String) bytes.AddRange(Advance().Bytes!); // adjacent strings concatenate
                    var arr = bytes.ToArray();
                    return field.FieldType == FieldType.Bytes ? ByteString.CopyFrom(arr) : Encoding.UTF8.GetString(arr);
                }
                case FieldType.Bool:
                {
                    var t = Advance();
                    if (t.Kind is TokenKind.Identifier or TokenKind.Number)
                    {
                        switch (t.Text)
                        {
                            case "true" or "True" or "t" or "1": return true;
                            case "false" or "False" or "f" or "0": return false;
                        }
                    }
                    throw Error(t, $"expected true or false for field '{field.Name}', found {t.Describe()}");
                }
                case FieldType.Float:
                case FieldType.Double:
                {
                    var d = ParseFloat(field);
                    return field.FieldType == FieldType.Float ? (object)(float)d : d;
                }
                case FieldType.Enum:
                {
                    var t = _tok;
                    if (t.Kind == TokenKind.Identifier)
                    {
                        Advance();
                        var ev = field.EnumType.FindValueByName(t.Text)
                            ?? throw Error(t, $"unknown value '{t.Text}' for enum {field.EnumType.FullName} of field '{field.Name}'");
                        return Enum.ToObject(field.EnumType.ClrType, ev.Number);
                    }
                    var n = ParseInteger(field, int.MinValue, int.MaxValue);
                    return Enum.ToObject(field.EnumType.ClrType, (int)n);
                }
                case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32:
                    return ConvertInteger(field, ParseInteger(field, int.MinValue, int.MaxValue));
                case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64:
                    return ConvertInteger(field, ParseInteger(field, long.MinValue, long.MaxValue));
                case FieldType.UInt32 or FieldType.Fixed32:
                    return ConvertInteger(field, ParseInteger(field, 0, uint.MaxValue));
                case FieldType.UInt64 or FieldType.Fixed64:
                    return ConvertInteger(field, ParseInteger(field, 0, ulong.MaxValue));
                default:
                    throw Error(_tok, $"field '{field.Name}' has an unsupported type {field.FieldType}");
            }
        }

        // Each arm boxed on its own: a switch expression would otherwise widen every arm to double.
        private static object ConvertInteger(FieldDescriptor f, BigInteger v) => f.FieldType switch
        {
            FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => (object)(int)v,
            FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => (object)(long)v,
            FieldType.UInt32 or FieldType.Fixed32 => (object)(uint)v,
            FieldType.UInt64 or FieldType.Fixed64 => (object)(ulong)v,
            FieldType.Float => (object)(float)v,
            FieldType.Double => (object)(double)v,
            _ => (object)(int)v,
        };

        private BigInteger ParseInteger(FieldDescriptor field, BigInteger min, BigInteger max)
        {
            var start = _tok;
            bool negative = false;
            if (_tok.Is('-'))
            {
                negative = true;
                Advance();
            }
            var t = Advance();
            if (t.Kind != TokenKind.Number || !TryParseInteger(t.Text, out var magnitude))
                throw Error(t, $"expected an integer for field '{field.Name}', found {t.Describe()}");
            var v = negative ? -magnitude : magnitude;
            if (v < min || v > max)
                throw Error(start, $"integer {(negative ? "-" : "")}{t.Text} is out of range for field '{field.Name}' ({field.FieldType})");
            return v;
        }

        /// <summary>Decimal, 0x hex or 0-prefixed octal.</summary>
        private static bool TryParseInteger(string s, out BigInteger value)
        {
            value = BigInteger.Zero;
            int radix = 10, i = 0;
            if (s.Length > 2 && s[0] == '0' && s[1] is 'x' or 'X') { radix = 16; i = 2; }
            else if (s.Length > 1 && s[0] == '0') { radix = 8; i = 1; }
            if (s.Length - i > 40) return false; // far beyond 64 bits
            for (; i < s.Length; i++)
            {
                int d = char.IsAsciiDigit(s[i]) ? s[i] - '0'
                    : char.IsAsciiHexDigit(s[i]) ? char.ToLowerInvariant(s[i]) - 'a' + 10 : 99;
                if (d >= radix) return false;
                value = value * radix + d;
            }
            return true;
        }

        private double ParseFloat(FieldDescriptor field)
        {
            bool negative = false;
            if (_tok.Is('-'))
            {
                negative = true;
                Advance();
            }
            var t = Advance();
            double v;
            if (t.Kind == TokenKind.Identifier)
            {
                switch (t.Text.ToLowerInvariant())
                {
                    case "inf" or "infinity" or "inff" or "infinityf": v = double.PositiveInfinity; break;
                    case "nan" or "nanf": v = double.NaN; break;
                    default: throw Error(t, $"expected a number for field '{field.Name}', found {t.Describe()}");
                }
            }
            else if (t.Kind == TokenKind.Number)
            {
                if (TryParseInteger(t.Text, out var big)) v = (double)big;
                else
                {
                    var s = t.Text;
                    if (s.EndsWith('f') || s.EndsWith('F')) s = s[..^1];
                    if (s.Length == 0 || !char.IsAsciiDigit(s[^1]) && s[^1] != '.'
                        || !double.TryParse(s, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out v))
                        throw Error(t, $"invalid number '{t.Text}' for field '{field.Name}'");
                }
            }
            else throw Error(t, $"expected a number for field '{field.Name}', found {t.Describe()}");
            return negative ? -v : v;
        }
    }
}
