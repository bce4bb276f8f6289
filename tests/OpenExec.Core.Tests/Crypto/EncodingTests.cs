using OpenExec.Core.Crypto;

namespace OpenExec.Core.Tests.Crypto;

public sealed class EncodingTests
{
    [Theory]
    [InlineData(new byte[] { }, "")]
    [InlineData(new byte[] { 0xfb }, "-w")]
    [InlineData(new byte[] { 0xfb, 0xff }, "-_8")]
    [InlineData(new byte[] { 1, 2, 3 }, "AQID")]
    public void Base64UrlRoundTrips(byte[] bytes, string text)
    {
        Assert.Equal(text, Base64Url.Encode(bytes));
        Assert.True(Base64Url.TryDecode(text, out var decoded));
        Assert.Equal(bytes, decoded);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1535)]
    [InlineData(1537)]
    [InlineData(4000)]
    public void Base64UrlDecodesLongValuesStrictlyToo(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        bytes[^1] = 0xfb;
        var text = Base64Url.Encode(bytes);

        Assert.True(Base64Url.TryDecode(text, out var decoded));
        Assert.Equal(bytes, decoded);
        // The same value with stray bits in its last character is refused.
        var stray = text[..^1] + (char)(text[^1] + 1);
        Assert.False(Base64Url.TryDecode(stray, out _));
    }

    [Theory]
    [InlineData("AQID=")]
    [InlineData("-w==")]
    [InlineData("+w")]
    [InlineData("/w")]
    [InlineData("AQ ID")]
    [InlineData("A")]
    [InlineData("-x")] // stray bits in the last character
    public void Base64UrlRefusesNonCanonicalText(string text) => Assert.False(Base64Url.TryDecode(text, out _));

    [Theory]
    [InlineData("AQID", true)]
    [InlineData("+/8=", true)]
    [InlineData("-_8=", false)]
    [InlineData("+/8", false)]
    [InlineData("AQ ID", false)]
    [InlineData("AQI=\n", false)]
    [InlineData("+/9=", false)]
    public void StrictBase64AcceptsOnlyPaddedStandardAlphabet(string text, bool ok) => Assert.Equal(ok, StrictBase64.TryDecode(text, out _));

    [Theory]
    [InlineData("AQID")]
    [InlineData("+/8=")]
    [InlineData("AQ==")]
    [InlineData("====")]
    [InlineData("A===")]
    [InlineData("-_8=")]
    [InlineData("+/9=")]
    [InlineData("AQI=\n")]
    [InlineData("-w")]
    [InlineData("-x")]
    [InlineData("A")]
    [InlineData("")]
    public void Decoding_into_a_span_reads_as_decoding_into_an_array(string text)
    {
        Span<byte> into = stackalloc byte[16];
        Assert.Equal(StrictBase64.TryDecode(text, out var strict), StrictBase64.TryDecode(text.AsSpan(), into, out var strictLength));
        Assert.Equal(strict, into[..strictLength].ToArray());
        Assert.Equal(Base64Url.TryDecode(text, out var url), Base64Url.TryDecode(text.AsSpan(), into, out var urlLength));
        Assert.Equal(url, into[..urlLength].ToArray());
    }

    [Fact]
    public void HexIsLowercaseSha256()
    {
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Hex.Sha256([]));
        Assert.Equal("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", Hex.Sha256Utf8("hello"));
        Assert.True(Hex.TryDecodeLower("00ff", out var bytes));
        Assert.Equal(new byte[] { 0, 255 }, bytes);
        Assert.False(Hex.TryDecodeLower("00FF", out _));
        Assert.False(Hex.TryDecodeLower("0", out _));
        Assert.True(Hex.IsLowerHex(new string('a', 64), 64));
        Assert.False(Hex.IsLowerHex(new string('A', 64), 64));
        Assert.False(Hex.IsLowerHex(new string('a', 63), 64));
    }
}
