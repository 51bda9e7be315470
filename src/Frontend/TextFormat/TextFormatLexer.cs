using System.Text;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TextFormat;

internal enum TokenKind { End, Identifier, Number, String, Symbol }

/// <summary>One token of protobuf text format. Strings carry their unescaped bytes.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column, byte[]? Bytes = null)
{
    public bool Is(char symbol) => Kind == TokenKind.Symbol && Text.Length == 1 && Text[0] == symbol;

    public string Describe() => Kind switch
    {
        TokenKind.End => "end of file",
        TokenKind.String => "a string",
        _ => $"'{Text}'",
    };
}

/// <summary>A user error in text-format input, caught by <see cref="TextFormatParser"/> and turned into a diagnostic.</summary>
internal sealed class TextFormatException(string message, int line, int column) : Exception(message)
{
    public int Line { get; } = line;
    public int Column { get; } = column;
}

/// <summary>
/// Splits protobuf text format into tokens: identifiers, numbers, quoted strings (C escapes
/// unescaped to bytes) and single-character symbols; skips whitespace and <c>#</c> comments.
/// </summary>
internal sealed class TextFormatLexer
{
    private readonly string _text;
    private int _pos;
    private int _line = 1;
    private int _lineStart;

    public TextFormatLexer(string text) => _text = text;

    public Token Next()
    {
        SkipSpaceAndComments();
        int line = _line, col = _pos - _lineStart + 1;
        if (_pos >= _text.Length) return new Token(TokenKind.End, "", line, col);
        char c = _text[_pos];
        if (char.IsAsciiLetter(c) || c == '_')
        {
            int start = _pos;
            while (_pos < _text.Length && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
            return new Token(TokenKind.Identifier, _text[start.._pos], line, col);
        }
        if (char.IsAsciiDigit(c) || (c == '.' && _pos + 1 < _text.Length && char.IsAsciiDigit(_text[_pos + 1])))
            return new Token(TokenKind.Number, ReadNumber(), line, col);
        if (c is '"' or '\'')
            return ReadString(line, col);
        _pos++;
        return new Token(TokenKind.Symbol, c.ToString(), line, col);
    }

    private void SkipSpaceAndComments()
    {
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == '\n')
            {
                _pos++;
                _line++;
                _lineStart = _pos;
            }
            else if (c is ' ' or '\t' or '\r' or '\f' or '\v') _pos++;
            else if (c == '#')
            {
                while (_pos < _text.Length && _text[_pos] != '\n') _pos++;
            }
            else break;
        }
    }

    private string ReadNumber()
    {
        int start = _pos;
        bool hex = _text[_pos] == '0' && _pos + 1 < _text.Length && (_text[_pos + 1] is 'x' or 'X');
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (char.IsAsciiLetterOrDigit(c) || c is '.' or '_') _pos++;
            // An exponent sign: 1e-5, 2.5E+3.
            else if (!hex && c is '+' or '-' && _text[_pos - 1] is 'e' or 'E') _pos++;
            else break;
        }
        return _text[start.._pos];
    }

    private Token ReadString(int line, int col)
    {
        char quote = _text[_pos++];
        var bytes = new List<byte>();
        Span<byte> utf8 = stackalloc byte[4];
        while (true)
        {
            if (_pos >= _text.Length || _text[_pos] == '\n')
                throw new TextFormatException("unterminated string", line, col);
            char c = _text[_pos];
            if (c == quote)
            {
                _pos++;
                break;
            }
            if (c != '\\')
            {
                // Copy the character (or surrogate pair) as UTF-8.
                int len = char.IsHighSurrogate(c) && _pos + 1 < _text.Length ? 2 : 1;
                int n = Encoding.UTF8.GetBytes(_text.AsSpan(_pos, len), utf8);
                for (int i = 0; i < n; i++) bytes.Add(utf8[i]);
                _pos += len;
                continue;
            }
            int escCol = _pos - _lineStart + 1;
            _pos++;
            if (_pos >= _text.Length) throw new TextFormatException("unterminated string", line, col);
            char e = _text[_pos++];
            switch (e)
            {
                case 'n': bytes.Add((byte)'\n'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case 'r': bytes.Add((byte)'\r'); break;
                case 'a': bytes.Add(7); break;
                case 'b': bytes.Add(8); break;
                case 'f': bytes.Add(12); break;
                case 'v': bytes.Add(11); break;
                case '\\': bytes.Add((byte)'\\'); break;
                case '\'': bytes.Add((byte)'\''); break;
                case '"': bytes.Add((byte)'"'); break;
                case '?': bytes.Add((byte)'?'); break;
                case >= '0' and <= '7':
                {
                    int v = e - '0';
                    for (int k = 0; k < 2 && _pos < _text.Length && _text[_pos] is >= '0' and <= '7'; k++)
                        v = v * 8 + (_text[_pos++] - '0');
                    if (v > 255) throw new TextFormatException($"octal escape \\{v:o} is out of range for a byte", _line, escCol);
                    bytes.Add((byte)v);
                    break;
                }
                case 'x' or 'X':
                {
                    int v = 0, digits = 0;
                    while (digits < 2 && _pos < _text.Length && char.IsAsciiHexDigit(_text[_pos]))
                    {
                        v = v * 16 + Convert.ToInt32(_text[_pos++].ToString(), 16);
                        digits++;
                    }
                    if (digits == 0) throw new TextFormatException("\\x escape needs a hex digit", _line, escCol);
                    bytes.Add((byte)v);
                    break;
                }
                case 'u' or 'U':
                {
                    int need = e == 'u' ? 4 : 8;
                    if (_pos + need > _text.Length || !_text.AsSpan(_pos, need).ContainsOnlyHexDigits())
                        throw new TextFormatException($"\\{e} escape needs {need} hex digits", _line, escCol);
                    uint cp = Convert.ToUInt32(_text.Substring(_pos, need), 16);
                    _pos += need;
                    if (!Rune.IsValid(cp)) throw new TextFormatException($"\\{e} escape is not a valid code point", _line, escCol);
                    int n = new Rune(cp).EncodeToUtf8(utf8);
                    for (int i = 0; i < n; i++) bytes.Add(utf8[i]);
                    break;
                }
                default:
                    throw new TextFormatException($"invalid escape sequence '\\{e}'", _line, escCol);
            }
        }
        return new Token(TokenKind.String, _text[(_pos - 1)..(_pos)], line, col, bytes.ToArray());
    }
}

internal static class HexSpanExtensions
{
    public static bool ContainsOnlyHexDigits(this ReadOnlySpan<char> s)
    {
        foreach (var c in s)
            if (!char.IsAsciiHexDigit(c)) return false;
        return true;
    }
}

/// <summary>Builds the diagnostic for a text-format error.</summary>
internal static class TextFormatDiagnostics
{
    public static Diagnostic At(string file, int line, int column, string message) =>
        new(message, new SourceLocation(file, line, column));
}
