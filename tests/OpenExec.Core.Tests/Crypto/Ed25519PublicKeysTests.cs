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

    /// <summary>
    /// Every spelling of the 8-torsion points (sign bit set or not, y written at or above the
    /// prime) is unusable, checked against libsodium: it refuses to verify under each, while
    /// OpenSSL verifies R = identity, S = 0 for any message under some of them.
    /// </summary>
    [Theory]
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000")] // identity, y = 1
    [InlineData("0100000000000000000000000000000000000000000000000000000000000080")] // identity, sign bit set
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")] // y = 0, order 4
    [InlineData("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")] // y = p - 1, order 2
    [InlineData("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")] // order 8
    [InlineData("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")] // order 8, the other y
    [InlineData("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa")] // and with the sign bit
    [InlineData("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")] // y = p + 1: the identity again
    [InlineData("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")] // y = p: zero again
    [InlineData("0100000000000000000000000000000000000000000000000000000000")]       // 29 bytes
    public void Small_order_and_non_canonical_keys_are_unusable(string hex)
    {
        var raw = Convert.FromHexString(hex);
        Assert.True(Ed25519PublicKeys.IsUnusable(raw));
        if (raw.Length == 32 && PublicKey.TryImport(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey, out var key))
        {
            var forged = new byte[64];
            forged[0] = 1;
            Assert.False(SignatureAlgorithm.Ed25519.Verify(key!, "any receipt root"u8, forged));
        }
    }

    [Fact]
    public void Generated_keys_are_usable()
    {
        for (var i = 0; i < 50; i++)
        {
            using var signing = ReceiptSigningKey.Generate();
            Assert.False(Ed25519PublicKeys.IsUnusable(signing.PublicKeyRaw));
        }
    }

    [Theory]
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000")] // identity
    [InlineData("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")] // order 8
    [InlineData("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")] // order 2
    public void A_governance_key_of_small_order_is_refused_naming_its_block(string hex)
    {
        // It started clawshield mode, and every approval was refused as invalid_signature,
        // found only at the first request.
        using var good = ReceiptSigningKey.Generate();
        var spki = Convert.FromHexString("302a300506032b6570032100" + hex);
        var pem = good.ExportPublicPem() + PemEncoding.WriteString("PUBLIC KEY", spki);

        var e = Assert.Throws<KeyFormatException>(() => Ed25519PublicKeys.ParsePem(pem));

        Assert.Contains("PEM block 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("small order", e.Message, StringComparison.Ordinal);
    }
}
