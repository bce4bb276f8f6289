using System.Text;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Json;

public class StrictJsonTests
{
    private static StrictValue Parse(string text) => StrictJson.Parse(Encoding.UTF8.GetBytes(text));

    private static StrictJsonException Refused(byte[] utf8, string code)
    {
        var e = Assert.Throws<StrictJsonException>(() => StrictJson.Parse(utf8));
        Assert.Equal(code, e.Code);
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        return e;
    }

    private static StrictJsonException Refused(string text, string code) => Refused(Encoding.UTF8.GetBytes(text), code);

    // --- acceptance ---------------------------------------------------------------------------

    [Fact]
    public void A_result_may_carry_more_digits_than_a_double_keeps_and_nothing_else_is_relaxed()
    {
        var text = "{\"rate\":0.1234567890123456789}"u8.ToArray();
        Assert.Equal("invalid_number", Assert.Throws<StrictJsonException>(() => StrictJson.Parse(text)).Code);
        var result = Assert.IsType<StrictObject>(StrictJson.ParseResult(text));
        Assert.Equal("""{"rate":0.12345678901234568}""", System.Text.Encoding.UTF8.GetString(ClawShieldJson.Serialize(result)));

        Assert.Equal("invalid_number", Assert.Throws<StrictJsonException>(() => StrictJson.ParseResult("1e400"u8)).Code);
        Assert.Equal("duplicate_key", Assert.Throws<StrictJsonException>(() => StrictJson.ParseResult("{\"a\":1,\"a\":2}"u8)).Code);
    }

    [Fact]
    public void ReadsObjectsInDocumentOrder()
    {
        var obj = Assert.IsType<StrictObject>(Parse(" {\"b\": 1, \"a\": [true, false, null], \"c\": {\"d\": \"x\"}} "));
        Assert.Equal(["b", "a", "c"], obj.Properties.Select(p => p.Key));
        Assert.Equal("1", Assert.IsType<StrictNumber>(obj.Properties[0].Value).Literal);
        var array = Assert.IsType<StrictArray>(obj.Properties[1].Value);
        Assert.Same(StrictLiteral.True, array.Items[0]);
        Assert.Same(StrictLiteral.False, array.Items[1]);
        Assert.Same(StrictLiteral.Null, array.Items[2]);
        Assert.True(((StrictObject)obj.Properties[2].Value).TryGet("d", out var d));
        Assert.Equal("x", ((StrictString)d).Value);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("-12")]
    [InlineData("1.50")]
    [InlineData("0.1")]
    [InlineData("1e2")]
    [InlineData("1E+2")]
    [InlineData("1e-2")]
    [InlineData("-0.0")]
    [InlineData("2.5e-3")]
    [InlineData("0e10")]
    [InlineData("0.0e-5")]
    [InlineData("-0e-400")]
    [InlineData("0.30000000000000004")]
    [InlineData("5e-324")]
    [InlineData("1.7976931348623157e308")]
    [InlineData("9999999999999998.0")]
    [InlineData("1e22")]
    [InlineData("1E23")]
    [InlineData("123456789012345678901234567890")]
    [InlineData("100.000000000000000000000000000000000000")]
    public void AcceptsNumbersAndKeepsTheLiteral(string literal)
    {
        var number = Assert.IsType<StrictNumber>(Parse(literal));
        Assert.Equal(literal, number.Literal);
        Assert.Equal(literal.IndexOfAny(['.', 'e', 'E']) < 0, number.IsInteger);
    }

    [Fact]
    public void UnescapesStrings()
    {
        var s = Assert.IsType<StrictString>(Parse(@"""a\""b\\c\/d\b\f\n\r\t\u0000\u00e9\u00E9\ud83d\ude00\uDBFF\uDFFF"""));
        Assert.Equal("a\"b\\c/d\b\f\n\r\t\0\u00e9\u00e9\U0001F600\U0010FFFF", s.Value);
    }

    [Fact]
    public void ReadsRawUtf8()
    {
        var s = Assert.IsType<StrictString>(Parse("\"caf\u00e9 \u4e2d \U0001F600 \u007f \uFEFF\""));
        Assert.Equal("caf\u00e9 \u4e2d \U0001F600 \u007f \uFEFF", s.Value);
        var escapedAndRaw = Assert.IsType<StrictString>(Parse("\"\u00e9\\n\U0001F600\\u0041\u00e9\""));
        Assert.Equal("\u00e9\n\U0001F600A\u00e9", escapedAndRaw.Value);
    }

    [Fact]
    public void ReadsLongEscapedStrings()
    {
        string value = string.Concat(Enumerable.Repeat("ab\u00e9\U0001F600\n\"", 1000));
        string text = "\"" + value.Replace("\n", "\\n").Replace("\"", "\\\"") + "\"";
        Assert.Equal(value, Assert.IsType<StrictString>(Parse(text)).Value);
    }

    [Fact]
    public void ManyKeysStillCheckDuplicates()
    {
        string unique = "{" + string.Join(",", Enumerable.Range(0, 100).Select(i => $"\"k{i}\":{i}")) + "}";
        Assert.Equal(100, Assert.IsType<StrictObject>(Parse(unique)).Count);
        string duplicate = "{" + string.Join(",", Enumerable.Range(0, 100).Select(i => $"\"k{i}\":{i}")) + ",\"k57\":0}";
        Refused(duplicate, "duplicate_key");
    }

    [Fact]
    public void AcceptsDepth64AndRefuses65()
    {
        Parse(new string('[', 64) + new string(']', 64));
        Parse(string.Concat(Enumerable.Repeat("{\"a\":", 63)) + "{}" + new string('}', 63));
        Refused(new string('[', 65) + new string(']', 65), "invalid_json");
        Refused(string.Concat(Enumerable.Repeat("{\"a\":", 64)) + "{}" + new string('}', 64), "invalid_json");
        Refused(new string('[', 100000), "invalid_json");
    }

    [Fact]
    public void AnAnswerHoldsAResultAsDeepAsAResultMayBeAndNoDeeper()
    {
        // {"result": R} with R 64 deep is 65 deep: the gateway writes such answers.
        var answer = "{\"result\":" + new string('[', 64) + new string(']', 64) + "}";
        Assert.Throws<StrictJsonException>(() => StrictJson.ParseResult(Encoding.UTF8.GetBytes(answer)));
        Assert.IsType<StrictObject>(StrictJson.ParseAnswer(Encoding.UTF8.GetBytes(answer)));
        var deeper = "{\"result\":" + new string('[', 65) + new string(']', 65) + "}";
        Assert.Equal("invalid_json", Assert.Throws<StrictJsonException>(() => StrictJson.ParseAnswer(Encoding.UTF8.GetBytes(deeper))).Code);
    }

    [Fact]
    public void AcceptsIntegersUpTo4300Digits()
    {
        string digits4300 = "1" + new string('0', 4299);
        Assert.Equal(digits4300, ((StrictNumber)Parse(digits4300)).Literal);
        Assert.Equal("-" + digits4300, ((StrictNumber)Parse("-" + digits4300)).Literal);
        Refused(digits4300 + "0", "invalid_number");
        Refused("-" + digits4300 + "0", "invalid_number");
        Refused("[" + digits4300 + "0]", "invalid_number");
    }

    [Theory]
    [InlineData(" \t\r\n1 \t\r\n")]
    [InlineData("[ ]")]
    [InlineData("{ }")]
    [InlineData("{\"\":\"\"}")]
    [InlineData("\"\"")]
    public void AcceptsWhitespaceAndEmpties(string text) => Parse(text);

    // --- refusals -----------------------------------------------------------------------------

    [Theory]
    [InlineData("{\"a\":1,\"a\":2}")]
    [InlineData("{\"a\":1,\"b\":{\"c\":1,\"c\":1}}")]
    [InlineData("[[{\"x\":[{\"k\":1,\"k\":2}]}]]")]
    [InlineData("{\"a\":1,\"\\u0061\":2}")]
    [InlineData("{\"\\ud83d\\ude00\":1,\"\U0001F600\":2}")]
    [InlineData("{\"\":1,\"\":2}")]
    public void RefusesDuplicateKeys(string text) => Refused(text, "duplicate_key");

    [Fact]
    public void DuplicateKeyMessageNamesKeyAndOffset()
    {
        var e = Refused("{\"a\":1, \"b\":{\"a\":1},\"a\":3}", "duplicate_key");
        Assert.Equal("Duplicate key 'a' in object at byte 20", e.Message);
    }

    [Fact]
    public void KeysEqualOnlyWhenOrdinallyEqual()
    {
        Assert.Equal(4, ((StrictObject)Parse("{\"a\":1,\"A\":2,\"\u00e9\":3,\"e\u0301\":4}")).Count);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("[1,NaN]")]
    [InlineData("{\"a\":-Infinity}")]
    public void RefusesNonFiniteNumbers(string text) => Refused(text, "invalid_number");

    [Theory]
    [InlineData("1.0000000000000001")]
    [InlineData("0.10000000000000001")]
    [InlineData("9007199254740993.0")]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("1e-400")]
    [InlineData("4.9406564584124654e-324")]
    [InlineData("1.00000000000000000000000000000000000000000001")]
    [InlineData("123456789012345678.0")]
    [InlineData("1e99999999999999999999")]
    [InlineData("1e-99999999999999999999")]
    [InlineData("{\"a\":[0.30000000000000001]}")]
    public void RefusesImpreciseOrOutOfRangeFloats(string text) => Refused(text, "invalid_number");

    [Theory]
    [InlineData("1e-400")]
    [InlineData("-1e-400")]
    [InlineData("[1e-99999999999999999999]")]
    public void A_number_too_close_to_zero_is_refused_as_such_not_as_too_precise(string text)
    {
        var message = Refused(text, "invalid_number").Message;
        Assert.Contains("too close to zero", message, StringComparison.Ordinal);
        Assert.DoesNotContain("precision", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("{")]
    [InlineData("[")]
    [InlineData("[1,")]
    [InlineData("{\"a\"")]
    [InlineData("{\"a\":")]
    [InlineData("{\"a\":1")]
    [InlineData("\"abc")]
    [InlineData("\"abc\\")]
    [InlineData("\"\\u12")]
    [InlineData("tru")]
    [InlineData("nul")]
    [InlineData("-")]
    [InlineData("1.")]
    [InlineData("1e")]
    [InlineData("1e+")]
    [InlineData("{}x")]
    [InlineData("[] []")]
    [InlineData("1 2")]
    [InlineData("\"a\"\"b\"")]
    [InlineData("01")]
    [InlineData("-01")]
    [InlineData("+1")]
    [InlineData(".5")]
    [InlineData("0x10")]
    [InlineData("1.e5")]
    [InlineData("[1,]")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{,}")]
    [InlineData("[,1]")]
    [InlineData("{a:1}")]
    [InlineData("{'a':1}")]
    [InlineData("{\"a\" 1}")]
    [InlineData("{1:1}")]
    [InlineData("True")]
    [InlineData("nan")]
    [InlineData("infinity")]
    [InlineData("'x'")]
    [InlineData("[1]]")]
    [InlineData("\u00a01")]
    [InlineData("\f1")]
    [InlineData("\"\\x41\"")]
    [InlineData("\"\\U0041\"")]
    [InlineData("\"\\'\"")]
    [InlineData("\"\\uZZZZ\"")]
    [InlineData("\"a\tb\"")]
    [InlineData("\"a\nb\"")]
    [InlineData("\"\u0000\"")]
    [InlineData("\"\u001f\"")]
    [InlineData("// comment\n1")]
    [InlineData("[1]\u0000")]
    public void RefusesSyntaxErrors(string text) => Refused(text, "invalid_json");

    [Theory]
    [InlineData(@"""\ud800""")]
    [InlineData(@"""\udc00""")]
    [InlineData(@"""\udbff""")]
    [InlineData(@"""\ud83d x""")]
    [InlineData(@"""\ud83d\n""")]
    [InlineData(@"""\ud83d\u0041""")]
    [InlineData(@"""\ud83d\ud83d""")]
    [InlineData(@"""\ude00\ud83d""")]
    [InlineData(@"{""\ud800"":1}")]
    public void RefusesLoneSurrogateEscapes(string text) => Refused(text, "invalid_json");

    [Fact]
    public void RefusesHighSurrogateEscapeFollowedByRawAstralChar()
    {
        Refused("\"\\ud83d\U0001F600\"", "invalid_json");
    }

    public static TheoryData<byte[]> BadUtf8 => new()
    {
        new byte[] { 0x22, 0xC0, 0xAF, 0x22 },                   // overlong '/'
        new byte[] { 0x22, 0xC1, 0xBF, 0x22 },                   // overlong
        new byte[] { 0x22, 0xE0, 0x80, 0xAF, 0x22 },             // overlong 3-byte
        new byte[] { 0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22 },       // overlong 4-byte
        new byte[] { 0x22, 0xED, 0xA0, 0x80, 0x22 },             // U+D800 encoded
        new byte[] { 0x22, 0xED, 0xBF, 0xBF, 0x22 },             // U+DFFF encoded
        new byte[] { 0x22, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80, 0x22 }, // CESU-8 pair
        new byte[] { 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22 },       // above U+10FFFF
        new byte[] { 0x22, 0xF5, 0x80, 0x80, 0x80, 0x22 },       // byte F5
        new byte[] { 0x22, 0xFF, 0x22 },                         // byte FF
        new byte[] { 0x22, 0xFE, 0x22 },                         // byte FE
        new byte[] { 0x22, 0x80, 0x22 },                         // lone continuation
        new byte[] { 0x22, 0xC3, 0x22 },                         // truncated 2-byte
        new byte[] { 0x22, 0xE2, 0x82, 0x22 },                   // truncated 3-byte
        new byte[] { 0x22, 0xF0, 0x9F, 0x98, 0x22 },             // truncated 4-byte
        new byte[] { 0x22, 0xF0, 0x9F, 0x98 },                   // truncated at end of input
        new byte[] { 0x7B, 0xC0, 0xAF, 0x3A, 0x31, 0x7D },       // outside a string
        new byte[] { 0x5B, 0x31, 0x5D, 0xFF },                   // after the value
    };

    [Theory]
    [MemberData(nameof(BadUtf8))]
    public void RefusesInvalidUtf8(byte[] utf8) => Refused(utf8, "invalid_json");

    [Fact]
    public void InvalidUtf8MessageGivesTheOffset()
    {
        var e = Refused([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D], "invalid_json");
        Assert.Contains("byte 6", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StringOverloadRefusesRawLoneSurrogates()
    {
        Assert.Equal("invalid_json", Assert.Throws<StrictJsonException>(() => StrictJson.Parse("\"a\ud800\"")).Code);
        Assert.Equal("\U0001F600", ((StrictString)StrictJson.Parse("\"\U0001F600\"")).Value);
    }

    [Fact]
    public void RefusesByteOrderMark()
    {
        Refused([0xEF, 0xBB, 0xBF, 0x7B, 0x7D], "invalid_json");
        Assert.IsType<StrictObject>(StrictJson.Parse("{}"u8));
    }

    [Fact]
    public void MessagesSayWhere()
    {
        Assert.Contains("byte 3", Refused("[1,]", "invalid_json").Message, StringComparison.Ordinal);
        Assert.Contains("byte 3", Refused("{} x", "invalid_json").Message, StringComparison.Ordinal);
        Assert.Contains("byte 1", Refused("[1.0000000000000001]", "invalid_number").Message, StringComparison.Ordinal);
    }
}
