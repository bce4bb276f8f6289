using System.Security.Cryptography;
using NSec.Cryptography;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Tests.Crypto;

public sealed class Ed25519PublicKeysTests
{
    [Fact]
    public void ParsesOneBlock()
    {
        using var signing = ReceiptSigningKey.Generate();

        var keys = Ed25519PublicKeys.ParsePem(signing.ExportPublicPem());

        var key = Assert.Single(keys);
        Assert.Equal(signing.Kid, KeyId.For(key));
    }

    [Fact]
    public void ParsesSeveralBlocksInOrder()
    {
        using var first = ReceiptSigningKey.Generate();
        using var second = ReceiptSigningKey.Generate();
        var pem = first.ExportPublicPem() + "\n" + second.ExportPublicPem();

        var keys = Ed25519PublicKeys.ParsePem(pem);

        Assert.Equal([first.Kid, second.Kid], keys.Select(KeyId.For));
    }

    [Fact]
    public void ParsesOneLineFormWithLiteralBackslashN()
    {
        using var first = ReceiptSigningKey.Generate();
        using var second = ReceiptSigningKey.Generate();
        var oneLine = (first.ExportPublicPem() + second.ExportPublicPem()).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
        Assert.DoesNotContain('\n', oneLine);

        var keys = Ed25519PublicKeys.ParsePem(oneLine);

        Assert.Equal([first.Kid, second.Kid], keys.Select(KeyId.For));
    }

    [Theory]
    [InlineData("raw")]
    [InlineData("spki-base64")]
    [InlineData("four-dashes")]
    [InlineData("before")]
    public void RefusesTextBesideAGoodBlockThatWouldHideASecondKey(string form)
    {
        using var first = ReceiptSigningKey.Generate();
        using var second = ReceiptSigningKey.Generate();
        var secondPem = second.ExportPublicPem();
        var spki = string.Concat(secondPem.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('-')));
        var pem = form switch
        {
            "raw" => first.ExportPublicPem() + "\n" + Convert.ToBase64String(Convert.FromBase64String(spki)[^32..]),
            "spki-base64" => first.ExportPublicPem() + "\n" + spki,
            "four-dashes" => first.ExportPublicPem() + "\n" + secondPem.Replace("-----BEGIN", "----BEGIN", StringComparison.Ordinal),
            _ => "key B: " + spki + "\n" + first.ExportPublicPem(),
        };

        var e = Assert.Throws<KeyFormatException>(() => Ed25519PublicKeys.ParsePem(pem));

        Assert.Contains("not a PEM block", e.Message, StringComparison.Ordinal);
        // Whitespace around and between blocks is still fine.
        Assert.Equal(2, Ed25519PublicKeys.ParsePem("\n  " + first.ExportPublicPem() + "\n\n\t" + secondPem + "\n\n").Count);
    }

    [Fact]
    public void RefusesRsaKey()
    {
        using var rsa = RSA.Create(2048);

        var e = Assert.Throws<KeyFormatException>(() => Ed25519PublicKeys.ParsePem(rsa.ExportSubjectPublicKeyInfoPem()));

        Assert.Contains("RSA", e.Message, StringComparison.Ordinal);
        Assert.Contains("not Ed25519", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesEcKey()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var e = Assert.Throws<KeyFormatException>(() => Ed25519PublicKeys.ParsePem(ec.ExportSubjectPublicKeyInfoPem()));

        Assert.Contains("EC key", e.Message, StringComparison.Ordinal);
        Assert.Contains("not Ed25519", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesRsaAmongEd25519Keys()
    {
        using var good = ReceiptSigningKey.Generate();
        using var rsa = RSA.Create(2048);

        var e = Assert.Throws<KeyFormatException>(() => Ed25519PublicKeys.ParsePem(good.ExportPublicPem() + rsa.ExportSubjectPublicKeyInfoPem()));

        Assert.Contains("block 2", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a key")]
    [InlineData("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=")]
    public void RefusesTextWithoutPemBlock(string text)
    {
        var e = Assert.Throws<KeyFormatException>(() => Ed25519PublicKeys.ParsePem(text));

        Assert.Contains("BEGIN PUBLIC KEY", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesBlockThatIsNotSpki()
    {
        var pem = "-----BEGIN PUBLIC KEY-----\nAAECAwQFBgcICQ==\n-----END PUBLIC KEY-----\n";

        var e = Assert.Throws<KeyFormatException>(() => Ed25519PublicKeys.ParsePem(pem));

        Assert.Contains("block 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesPrivateKeyBlock()
    {
        using var signing = ReceiptSigningKey.Generate();

        var e = Assert.Throws<KeyFormatException>(() => Ed25519PublicKeys.ParsePem(signing.ExportPrivatePem()));

        Assert.Contains("PRIVATE KEY", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyIdIsFirst16HexOfSha256OfRawKey()
    {
        using var signing = ReceiptSigningKey.Generate();
        var raw = signing.PublicKey.Export(KeyBlobFormat.RawPublicKey);

        var expected = Convert.ToHexStringLower(SHA256.HashData(raw))[..16];

        Assert.Equal(expected, KeyId.For(signing.PublicKey));
        Assert.Equal(expected, signing.Kid);
        Assert.Equal(raw, signing.PublicKeyRaw.ToArray());
    }
}
