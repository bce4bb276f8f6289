using System.Buffers;
using System.Text;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Json;

/// <summary>Targeted cases of SPEC section 4; the corpus and differential tests cover the rest.</summary>
public class ClawShieldJsonTests
{
    private static string Canonical(string json) => ClawShieldJson.SerializeToString(StrictJson.Parse(json));

    [Theory]
    [InlineData("1.5", "1.5")]
    [InlineData("1.50", "1.5")]
    [InlineData("100.0", "100.0")]
    [InlineData("1e2", "100.0")]
    [InlineData("0.0001", "0.0001")]
    [InlineData("1e-4", "0.0001")]
    [InlineData("0.00001", "1e-05")]
    [InlineData("9999999999999998.0", "9999999999999998.0")]
    [InlineData("1e16", "1e+16")]
    [InlineData("1.2345678901234568e17", "1.2345678901234568e+17")]
    [InlineData("-0.0", "-0.0")]
    [InlineData("0.0", "0.0")]
    [InlineData("0e10", "0.0")]
    [InlineData("-0e-3", "-0.0")]
    [InlineData("5e-324", "5e-324")]
    [InlineData("1.7976931348623157e308", "1.7976931348623157e+308")]
    [InlineData("-2.5e-3", "-0.0025")]
    [InlineData("1e100", "1e+100")]
    [InlineData("1e22", "1e+22")]
    [InlineData("123456.789", "123456.789")]
    public void FloatsPrintAsPythonRepr(string literal, string expected) => Assert.Equal(expected, Canonical(literal));

    [Theory]
    [InlineData("0", "0")]
    [InlineData("-0", "0")]
    [InlineData("-12", "-12")]
    [InlineData("9007199254740993", "9007199254740993")]
    [InlineData("-123456789012345678901234567890", "-123456789012345678901234567890")]
    public void IntegersKeepEveryDigit(string literal, string expected) => Assert.Equal(expected, Canonical(literal));

    [Fact]
    public void KeysSortByCodePointNotUtf16()
    {
        // UTF-16 order would put U+1F600 (D83D DE00) before U+E000 and U+FFFF; Python does not.
        Assert.Equal(
            "{\"A\":1,\"a\":1,\"\\ue000\":1,\"\\uffff\":1,\"\\ud800\\udc00\":1,\"\\ud83d\\ude00\":1,\"\\udbff\\udfff\":1}",
            Canonical("{\"\U0001F600\":1,\"\uffff\":1,\"\U0010FFFF\":1,\"a\":1,\"\ue000\":1,\"A\":1,\"\U00010000\":1}"));
        Assert.Equal("{\"\":0,\"a\":1,\"ab\":2}", Canonical("{\"ab\":2,\"a\":1,\"\":0}"));
    }

    [Fact]
    public void StringsEscapeLikeEnsureAscii()
    {
        var all = new StringBuilder();
        for (int c = 0; c < 0x20; c++)
        {
            all.Append((char)c);
        }
        all.Append(" ~\"\\/\u007f\u0080\u00e9\u2028\U0001F600");
        string actual = ClawShieldJson.SerializeToString(new StrictString(all.ToString()));
        Assert.Equal(
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f" +
            "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f" +
            " ~\\\"\\\\/\\u007f\\u0080\\u00e9\\u2028\\ud83d\\ude00\"",
            actual);
    }

    [Fact]
    public void NoWhitespaceAndLiterals()
    {
        Assert.Equal(
            "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false,\"e\":{},\"f\":[]}",
            Canonical(" { \"f\" : [ ] , \"e\" : { } , \"d\" : false , \"c\" : true , \"a\" : [ 1 , 2 , { \"b\" : null } ] } "));
    }

    [Fact]
    public void WriteUsesTheBufferWriterAndMatchesSerialize()
    {
        StrictValue value = StrictJson.Parse("{\"b\":\"\U0001F600\",\"a\":[1.0,2]}"u8);
        var writer = new ArrayBufferWriter<byte>(1);
        ClawShieldJson.Write(value, writer);
        Assert.Equal(ClawShieldJson.Serialize(value), writer.WrittenSpan.ToArray());
        Assert.Equal("{\"a\":[1.0,2],\"b\":\"\\ud83d\\ude00\"}", Encoding.ASCII.GetString(writer.WrittenSpan));
    }

    [Fact]
    public void LongStringsSurviveChunking()
    {
        string value = string.Concat(Enumerable.Repeat("abc\u00e9", 5000));
        string actual = ClawShieldJson.SerializeToString(new StrictString(value));
        Assert.Equal("\"" + value.Replace("\u00e9", "\\u00e9", StringComparison.Ordinal) + "\"", actual);
    }

    /// <summary>One document mixing the inputs on which the two canonical forms and UTF-16/code point order disagree.</summary>
    internal const string AdversarialDocument =
        """{"\uffff":1e21,"\ud83d\ude00":1e-7,"\ue000":5e-324,"":1.7976931348623157e308,"\u007f":[-0,-0.0,0.30000000000000004,123456789012345680000,9007199254740993,1E+0021,1e-0007,100,1e2,0.000001,1e16,-1.5e-5],"\u2028":"\u0000\u001f\u007f\u2028\u2029\/\\\"\ud83d\ude00\u00e9","a\u0000":true,"a":null}""";

    /// <summary>
    /// <see cref="AdversarialDocument"/> as python3's json.dumps(json.loads(x), sort_keys=True,
    /// separators=(",", ":")) printed it (a JS rendering of SPEC section 4 printed the same bytes):
    /// code point key order (U+E000, U+FFFF before U+1F600), integers verbatim (9007199254740993,
    /// 123456789012345680000, -0 as 0), repr floats (-0.0, 1e-07, 100.0, 1e-06, 1e+16, -1.5e-05).
    /// </summary>
    [Fact]
    public void AdversarialDocumentMatchesPython()
    {
        const string expected =
            "{\"\":1.7976931348623157e+308,\"a\":null,\"a\\u0000\":true," +
            "\"\\u007f\":[0,-0.0,0.30000000000000004,123456789012345680000,9007199254740993,1e+21,1e-07,100,100.0,1e-06,1e+16,-1.5e-05]," +
            "\"\\u2028\":\"\\u0000\\u001f\\u007f\\u2028\\u2029/\\\\\\\"\\ud83d\\ude00\\u00e9\"," +
            "\"\\ue000\":5e-324,\"\\uffff\":1e+21,\"\\ud83d\\ude00\":1e-07}";
        byte[] actual = ClawShieldJson.Serialize(StrictJson.Parse(AdversarialDocument));
        Assert.Equal(expected, Encoding.ASCII.GetString(actual));
        Assert.Equal(
            "18aa216e2c6ac461624540b361a790f2d80eb266b5fc40b25d880f1ceeec3599",
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(actual)));
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("NaN")]
    [InlineData("01")]
    [InlineData("1 ")]
    [InlineData("")]
    public void RefusesNumbersWithoutAJsonForm(string literal)
    {
        Assert.Throws<ArgumentException>(() => ClawShieldJson.Serialize(new StrictNumber(literal)));
    }

    [Fact]
    public void WritingAnIntegerAllocatesNothing()
    {
        // Integers are copied as their literal once checked: the check must not box its digits.
        var number = new StrictNumber("-1234567890123");
        var output = new ArrayBufferWriter<byte>(64);
        ClawShieldJson.Write(number, output);
        output.ResetWrittenCount();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            ClawShieldJson.Write(number, output);
            output.ResetWrittenCount();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        ClawShieldJson.Write(number, output);
        Assert.Equal("-1234567890123", Encoding.ASCII.GetString(output.WrittenSpan));
    }
}
