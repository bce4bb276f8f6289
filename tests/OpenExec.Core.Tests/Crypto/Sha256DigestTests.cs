using System.Security.Cryptography;
using System.Text;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Tests.Crypto;

public class Sha256DigestTests
{
    [Fact]
    public void Its_hex_is_the_lowercase_hex_of_SHA256_whichever_way_it_is_written()
    {
        var random = new Random(256);
        Span<byte> utf8 = stackalloc byte[Sha256Digest.HexLength];
        Span<byte> bytes = stackalloc byte[Sha256Digest.Size];
        for (var i = 0; i < 500; i++)
        {
            var data = new byte[random.Next(0, 200)];
            random.NextBytes(data);
            var expected = Convert.ToHexStringLower(SHA256.HashData(data));
            var digest = Sha256Digest.Of(data);

            Assert.Equal(expected, digest.ToString());
            digest.WriteHexUtf8(utf8);
            Assert.Equal(expected, Encoding.ASCII.GetString(utf8));
            digest.CopyTo(bytes);
            Assert.Equal(SHA256.HashData(data), bytes.ToArray());
            Assert.Equal(digest, Sha256Digest.FromBytes(bytes));
            Assert.Equal(digest, Sha256Digest.ParseHex(expected));
            Assert.True(digest.IsHex(expected));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824")]
    [InlineData("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982")]
    [InlineData("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240")]
    [InlineData("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982g")]
    [InlineData("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982 ")]
    public void Only_64_lowercase_hex_digits_read_as_a_digest(string text)
    {
        Assert.False(Sha256Digest.TryParseHex(text, out _));
        Assert.Throws<FormatException>(() => Sha256Digest.ParseHex(text));
        Assert.False(Sha256Digest.Of("hello"u8).IsHex(text));
    }

    [Fact]
    public void Another_digest_or_no_text_is_not_its_hex()
    {
        var hello = Sha256Digest.Of("hello"u8);
        Assert.False(hello.IsHex(null));
        Assert.False(hello.IsHex(Sha256Digest.Of("hellp"u8).ToString()));
        Assert.NotEqual(hello, Sha256Digest.Of("hellp"u8));
        Assert.True(hello == Sha256Digest.ParseHex("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"));
        Assert.Throws<ArgumentException>(() => Sha256Digest.FromBytes(new byte[31]));
    }

    [Fact]
    public void Hashing_and_writing_hex_allocate_nothing()
    {
        Span<byte> utf8 = stackalloc byte[Sha256Digest.HexLength];
        Sha256Digest.Of("warm"u8).WriteHexUtf8(utf8);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var digest = Sha256Digest.Of("hello"u8);
        digest.WriteHexUtf8(utf8);
        var same = digest.IsHex("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(same);
    }
}
