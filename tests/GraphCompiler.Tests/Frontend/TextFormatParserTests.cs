using Google.Protobuf;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.Proto.TensorFlow.Tf2Xla;
using GraphCompiler.Frontend.TextFormat;

namespace GraphCompiler.Tests.Frontend;

public sealed class TextFormatParserTests
{
    private static T Parse<T>(MessageParser<T> parser, string text) where T : class, IMessage<T>
    {
        var r = TextFormatParser.Parse(parser, text, "t.pbtxt");
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return r.Value!;
    }

    private static string Error<T>(MessageParser<T> parser, string text) where T : class, IMessage<T>
    {
        var r = TextFormatParser.Parse(parser, text, "t.pbtxt");
        Assert.False(r.Ok);
        return Assert.Single(r.Diagnostics).ToString();
    }

    [Fact]
    public void NestedMessagesInAllThreeSpellings()
    {
        var g = Parse(GraphDef.Parser, "node { name: 'a' } node: { name: 'b' } node < name: \"c\" > versions { producer: 27 }");
        Assert.Equal(["a", "b", "c"], g.Node.Select(n => n.Name));
        Assert.Equal(27, g.Versions.Producer);
    }

    [Fact]
    public void RepeatedFieldsByRepetitionAndListSyntax()
    {
        var n = Parse(NodeDef.Parser, "input: 'x' input: ['y', 'z'] input: []");
        Assert.Equal(["x", "y", "z"], n.Input);
        var v = Parse(VersionDef.Parser, "bad_consumers: [1, 2] bad_consumers: 3");
        Assert.Equal([1, 2, 3], v.BadConsumers);
        var g = Parse(GraphDef.Parser, "node [{ name: 'a' }, < name: 'b' >]");
        Assert.Equal(2, g.Node.Count);
    }

    [Fact]
    public void MapsWithMessageValues()
    {
        var n = Parse(NodeDef.Parser, """
            attr { key: "T" value { type: DT_FLOAT } }
            attr { value { i: 3 } key: "N" }
            attr { key: "empty" }
            """);
        Assert.Equal(DataType.DtFloat, n.Attr["T"].Type);
        Assert.Equal(3, n.Attr["N"].I);
        Assert.Equal(AttrValue.ValueOneofCase.None, n.Attr["empty"].ValueCase);
        var f = Parse(FunctionDef.Parser, "ret { key: 'y' value: 'n:out:0' } arg_attr { key: 2 value { } }");
        Assert.Equal("n:out:0", f.Ret["y"]);
        Assert.True(f.ArgAttr.ContainsKey(2));
    }

    [Fact]
    public void EnumsByNameOrNumber()
    {
        var a = Parse(AttrValue.Parser, "list { type: [DT_INT32, 9, DT_HALF] }");
        Assert.Equal([DataType.DtInt32, DataType.DtInt64, DataType.DtHalf], a.List.Type);
        Assert.Equal(DataType.DtResource, Parse(AttrValue.Parser, "type: 20").Type);
    }

    [Fact]
    public void StringEscapesAndConcatenation()
    {
        var a = Parse(AttrValue.Parser, @"s: ""a\n\t\\\""\'"" 'b' ""\101\x42\0"" ""\u00e9""");
        Assert.Equal("a\n\t\\\"'bAB\0é"u8.ToArray(), a.S.ToByteArray());
        var raw = Parse(TensorProto.Parser, @"tensor_content: ""\000\001\377\xff""");
        Assert.Equal(new byte[] { 0, 1, 255, 255 }, raw.TensorContent.ToByteArray());
        Assert.Equal("x\ny", Parse(NodeDef.Parser, @"name: 'x\ny'").Name);
    }

    [Fact]
    public void IntegersInEveryBase()
    {
        var t = Parse(TensorProto.Parser, "int_val: [10, -7, 0x1F, 017, 0, -0x80000000] int64_val: -9223372036854775808 uint64_val: 18446744073709551615");
        Assert.Equal([10, -7, 31, 15, 0, int.MinValue], t.IntVal);
        Assert.Equal(long.MinValue, t.Int64Val[0]);
        Assert.Equal(ulong.MaxValue, t.Uint64Val[0]);
    }

    [Fact]
    public void FloatsWithSpecialValuesAndSuffix()
    {
        var t = Parse(TensorProto.Parser, "float_val: [1.5, -2, 3e2, .25, 1.0f, inf, -inf, nan, -Infinity, 2.5e-3F] double_val: 1e308");
        Assert.Equal(1.5f, t.FloatVal[0]);
        Assert.Equal(-2f, t.FloatVal[1]);
        Assert.Equal(300f, t.FloatVal[2]);
        Assert.Equal(0.25f, t.FloatVal[3]);
        Assert.Equal(1f, t.FloatVal[4]);
        Assert.Equal(float.PositiveInfinity, t.FloatVal[5]);
        Assert.Equal(float.NegativeInfinity, t.FloatVal[6]);
        Assert.True(float.IsNaN(t.FloatVal[7]));
        Assert.Equal(float.NegativeInfinity, t.FloatVal[8]);
        Assert.Equal(0.0025f, t.FloatVal[9]);
        Assert.Equal(1e308, t.DoubleVal[0]);
    }

    [Fact]
    public void BoolSpellings()
    {
        var t = Parse(TensorProto.Parser, "bool_val: [true, false, t, f, 1, 0, True, False]");
        Assert.Equal([true, false, true, false, true, false, true, false], t.BoolVal);
    }

    [Fact]
    public void CommentsAndSeparators()
    {
        var g = Parse(GraphDef.Parser, """
            # RUN: something
            node { name: "a"; op: "Const", } # trailing comment
            node { name: "b" };
            """);
        Assert.Equal("Const", g.Node[0].Op);
        Assert.Equal(2, g.Node.Count);
    }

    [Fact]
    public void Tf2XlaConfig()
    {
        var c = Parse(Config.Parser, """
            feed { id { node_name: "x" } shape { dim { size: 2 } } type: DT_INT32 }
            fetch { id { node_name: "y" output_index: 1 } name: "out" }
            variable { node_name: "v" readonly: true }
            """);
        Assert.Equal("x", c.Feed[0].Id.NodeName);
        Assert.Equal(2, c.Feed[0].Shape.Dim[0].Size);
        Assert.Equal(1, c.Fetch[0].Id.OutputIndex);
        Assert.True(c.Variable[0].Readonly);
    }

    [Theory]
    [InlineData("node { nmae: 'a' }", "t.pbtxt:1:8: error: unknown field 'nmae' in message tensorflow.NodeDef")]
    [InlineData("node {\n  name: 'a'\n", "t.pbtxt:3:1: error: expected '}' to close tensorflow.NodeDef, found end of file")]
    [InlineData("node { name 'a' }", "t.pbtxt:1:13: error: expected ':', found a string")]
    [InlineData("node { name: 5 }", "t.pbtxt:1:14: error: expected a string for field 'name', found '5'")]
    [InlineData("node { name: 'a\n' }", "t.pbtxt:1:14: error: unterminated string")]
    [InlineData("node { name: 'a\\q' }", "t.pbtxt:1:16: error: invalid escape sequence '\\q'")]
    [InlineData("versions { producer: 2147483648 }", "t.pbtxt:1:22: error: integer 2147483648 is out of range for field 'producer' (Int32)")]
    [InlineData("versions { producer: 1.5 }", "t.pbtxt:1:22: error: expected an integer for field 'producer', found '1.5'")]
    [InlineData("versions { producer: 1 producer: 2 }", "t.pbtxt:1:24: error: non-repeated field 'producer' is specified multiple times")]
    [InlineData("node { attr { key: 'T' value { type: DT_FLOATY } } }", "t.pbtxt:1:38: error: unknown value 'DT_FLOATY' for enum tensorflow.DataType of field 'type'")]
    [InlineData("node { attr { key: 'T' value { i: 1 f: 2 } } }", "t.pbtxt:1:37: error: field 'f' is specified along with field 'i', another member of oneof 'value'")]
    [InlineData("node { attr { kee: 'T' } }", "t.pbtxt:1:15: error: unknown field 'kee' in a 'attr' map entry (expected 'key' or 'value')")]
    [InlineData("versions: [ { producer: 1 } ]", "t.pbtxt:1:11: error: list syntax '[...]' used for non-repeated field 'versions'")]
    [InlineData("[type.googleapis.com/tensorflow.GraphDef] { }", "t.pbtxt:1:1: error: extension and Any expansion syntax '[...]' is not supported")]
    [InlineData("node { name: 'a' } }", "t.pbtxt:1:20: error: expected a field name, found '}'")]
    [InlineData("versions { producer: -x }", "t.pbtxt:1:23: error: expected an integer for field 'producer', found 'x'")]
    [InlineData("node { device: 'a' op: 'b' input: ['c' 'd' }", "t.pbtxt:1:44: error: expected ',', found '}'")]
    public void ErrorsNameThePlace(string text, string expected) => Assert.Equal(expected, Error(GraphDef.Parser, text));

    [Fact]
    public void BoolAndFloatErrors()
    {
        Assert.Equal("t.pbtxt:1:11: error: expected true or false for field 'bool_val', found 'yes'", Error(TensorProto.Parser, "bool_val: yes"));
        Assert.Equal("t.pbtxt:1:12: error: invalid number '1e' for field 'float_val'", Error(TensorProto.Parser, "float_val: 1e"));
        Assert.Equal("t.pbtxt:1:13: error: integer -1 is out of range for field 'uint64_val' (UInt64)", Error(TensorProto.Parser, "uint64_val: -1"));
    }

    [Fact]
    public void DeepNestingIsAnErrorNotACrash()
    {
        var text = string.Concat(Enumerable.Repeat("list { tensor { tensor_shape { } } func { attr { key: 'a' value { ", 200));
        var r = TextFormatParser.Parse(AttrValue.Parser, text, "deep.pbtxt");
        Assert.False(r.Ok);
        Assert.Contains("nested deeper than", r.Diagnostics[0].Message);
    }

    [Fact]
    public void GenericOverDescriptors()
    {
        var r = TextFormatParser.Parse(GraphDef.Descriptor, "node { name: 'a' }", "g.pbtxt");
        Assert.True(r.Ok);
        Assert.Equal("a", Assert.IsType<GraphDef>(r.Value).Node[0].Name);
    }
}
