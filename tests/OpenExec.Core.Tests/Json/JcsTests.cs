using System.Globalization;
using System.Text;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Json;

/// <summary>RFC 8785 vectors: Appendix B numbers and the worked examples of section 3.2.</summary>
public class JcsTests
{
    private static string Canonical(string json) => Encoding.UTF8.GetString(Jcs.Serialize(StrictJson.Parse(json)));

    private static string CanonicalNumber(double value) =>
        Encoding.UTF8.GetString(Jcs.Serialize(new StrictNumber(value.ToString("R", CultureInfo.InvariantCulture))));

    // RFC 8785 Appendix B (NaN and Infinity rows are the separate test below), plus -2^63, which
    // ECMAScript prints from its shortest digits (9.223372036854776e18), not as the exact integer.
    [Theory]
    [InlineData(0x0000000000000000UL, "0")]
    [InlineData(0x8000000000000000UL, "0")]
    [InlineData(0x0000000000000001UL, "5e-324")]
    [InlineData(0x8000000000000001UL, "-5e-324")]
    [InlineData(0x7fefffffffffffffUL, "1.7976931348623157e+308")]
    [InlineData(0xffefffffffffffffUL, "-1.7976931348623157e+308")]
    [InlineData(0x4340000000000000UL, "9007199254740992")]
    [InlineData(0xc340000000000000UL, "-9007199254740992")]
    [InlineData(0x4430000000000000UL, "295147905179352830000")]
    [InlineData(0x44b52d02c7e14af5UL, "9.999999999999997e+22")]
    [InlineData(0x44b52d02c7e14af6UL, "1e+23")]
    [InlineData(0x44b52d02c7e14af7UL, "1.0000000000000001e+23")]
    [InlineData(0x444b1ae4d6e2ef4eUL, "999999999999999700000")]
    [InlineData(0x444b1ae4d6e2ef4fUL, "999999999999999900000")]
    [InlineData(0x444b1ae4d6e2ef50UL, "1e+21")]
    [InlineData(0x3eb0c6f7a0b5ed8cUL, "9.999999999999997e-7")]
    [InlineData(0x3eb0c6f7a0b5ed8dUL, "0.000001")]
    [InlineData(0x41b3de4355555553UL, "333333333.3333332")]
    [InlineData(0x41b3de4355555554UL, "333333333.33333325")]
    [InlineData(0x41b3de4355555555UL, "333333333.3333333")]
    [InlineData(0x41b3de4355555556UL, "333333333.3333334")]
    [InlineData(0x41b3de4355555557UL, "333333333.33333343")]
    [InlineData(0xbecbf647612f3696UL, "-0.0000033333333333333333")]
    [InlineData(0x43143ff3c1cb0959UL, "1424953923781206.2")]
    [InlineData(0xc3e0000000000000UL, "-9223372036854776000")]
    public void AppendixBNumbers(ulong bits, string expected)
    {
        double value = BitConverter.UInt64BitsToDouble(bits);
        Assert.Equal(expected, CanonicalNumber(value));
        // The expected text read back by the strict reader and re-serialized is stable.
        Assert.Equal(expected, Canonical(expected));
    }

    [Theory]
    [InlineData("1e21", "1e+21")]
    [InlineData("1e20", "100000000000000000000")]
    [InlineData("1e-7", "1e-7")]
    [InlineData("1e-6", "0.000001")]
    [InlineData("-0", "0")]
    [InlineData("-0.0", "0")]
    [InlineData("1.50", "1.5")]
    [InlineData("1E2", "100")]
    [InlineData("123.456e-2", "1.23456")]
    [InlineData("9007199254740993", "9007199254740992")]
    [InlineData("1.2345678901234568e17", "123456789012345680")]
    public void NumbersAreEcmaScriptDoubles(string literal, string expected) => Assert.Equal(expected, Canonical(literal));

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    public void NonFiniteNumbersThrow(string literal)
    {
        Assert.Throws<ArgumentException>(() => Jcs.Serialize(new StrictNumber(literal)));
    }

    [Fact]
    public void Section322Example()
    {
        const string input = """
            {
              "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """;
        // 333333333.33333329 has more precision than a double keeps, so the strict reader refuses
        // it; serialize the RFC's DOM directly (its literals parsed as doubles, as the RFC does).
        Assert.Equal("invalid_number", Assert.Throws<StrictJsonException>(() => StrictJson.Parse(input)).Code);
        var dom = new StrictObject(
        [
            new("numbers", new StrictArray(
            [
                new StrictNumber("333333333.33333329"), new StrictNumber("1E30"), new StrictNumber("4.50"),
                new StrictNumber("2e-3"), new StrictNumber("0.000000000000000000000000001"),
            ])),
            new("string", new StrictString("\u20ac$\u000F\nA'B\"\\\\\"/")),
            new("literals", new StrictArray([StrictLiteral.Null, StrictLiteral.True, StrictLiteral.False])),
        ]);
        const string expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u20ac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        Assert.Equal(expected, Encoding.UTF8.GetString(Jcs.Serialize(dom)));

        // The same document with its numbers at double precision goes through the strict reader.
        Assert.Equal(expected, Canonical(input.Replace("333333333.33333329", "333333333.3333333", StringComparison.Ordinal)));
    }

    [Fact]
    public void Section323SortingExample()
    {
        const string input = """
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """;
        string expected =
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\"," +
            "\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\"," +
            "\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}";
        Assert.Equal(expected, Canonical(input));
    }

    [Fact]
    public void KeysSortByUtf16CodeUnits()
    {
        // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+E000 here (unlike ClawShield).
        Assert.Equal("{\"\U0001F600\":1,\"\ue000\":2}", Canonical("{\"\ue000\":2,\"\U0001F600\":1}"));
    }

    [Fact]
    public void StringsEscapeOnlyWhatJsonStringifyEscapes()
    {
        var all = new StringBuilder();
        for (int c = 0; c < 0x20; c++)
        {
            all.Append((char)c);
        }
        all.Append("\"\\/\u007f\u0080\u00e9\u2028\U0010FFFF");
        string actual = Encoding.UTF8.GetString(Jcs.Serialize(new StrictString(all.ToString())));
        Assert.Equal(
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f" +
            "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f" +
            "\\\"\\\\/\u007f\u0080\u00e9\u2028\U0010FFFF\"",
            actual);
    }

    [Fact]
    public void LoneSurrogateThrows()
    {
        Assert.Throws<ArgumentException>(() => Jcs.Serialize(new StrictString("a\ud800b")));
    }

    [Fact]
    public void LongStringsSurviveChunking()
    {
        string value = string.Concat(Enumerable.Repeat("x\U0001F600\u00e9", 5000));
        string actual = Encoding.UTF8.GetString(Jcs.Serialize(new StrictString(value)));
        Assert.Equal("\"" + value + "\"", actual);
    }

    /// <summary>
    /// One adversarial document whose RFC 8785 form was printed by the <c>canonicalize</c> npm
    /// package 4.0.0 (the RFC author's) over <c>JSON.parse</c>: UTF-16 key order (U+1F600 before
    /// U+E000 and U+FFFF, "a" before "a\u0000"), numbers as ECMAScript doubles (-0, 1E+0021,
    /// 1e-0007, 2^53+1, 1e16, 5e-324, the double maximum), DEL, U+2028 and U+2029 left raw, "\/"
    /// unescaped. The same text is <see cref="ClawShieldJsonTests.AdversarialDocument"/>.
    /// </summary>
    [Fact]
    public void AdversarialDocumentMatchesTheReference()
    {
        const string expected =
            "{\"\":1.7976931348623157e+308,\"a\":null,\"a\\u0000\":true," +
            "\"\u007f\":[0,0,0.30000000000000004,123456789012345680000,9007199254740992,1e+21,1e-7,100,100,0.000001,10000000000000000,-0.000015]," +
            "\"\u2028\":\"\\u0000\\u001f\u007f\u2028\u2029/\\\\\\\"\U0001F600\u00e9\"," +
            "\"\U0001F600\":1e-7,\"\ue000\":5e-324,\"\uffff\":1e+21}";
        byte[] actual = Jcs.Serialize(StrictJson.Parse(ClawShieldJsonTests.AdversarialDocument));
        Assert.Equal(expected, Encoding.UTF8.GetString(actual));
        // SHA-256 of the reference's UTF-8 bytes, as printed by the reference run.
        Assert.Equal(
            "b8c65aeaf4d91908062c78edcd49cea107345a1ad3da2653c88224e22644dca3",
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(actual)));
    }

    [Fact]
    public void StructuresAndLiterals()
    {
        Assert.Equal(
            "[56,{\"1\":[],\"10\":null,\"d\":true}]",
            Canonical("[\n  56,\n  {\n    \"d\": true,\n    \"10\": null,\n    \"1\": [ ]\n  }\n]"));
        Assert.Equal("{}", Canonical("{ }"));
        Assert.Equal("false", Canonical("false"));
    }
}
