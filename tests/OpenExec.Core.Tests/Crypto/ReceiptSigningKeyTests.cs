using NSec.Cryptography;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Tests.Crypto;

public sealed class ReceiptSigningKeyTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "openexec-key-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void CreatesOwnerOnlyKeyFileAndReloadsSameKid()
    {
        var path = Path.Combine(_dir, "nested", "receipt-key.pem");

        string kid;
        using (var created = ReceiptSigningKey.LoadOrCreate(path))
        {
            kid = created.Kid;
        }

        Assert.True(File.Exists(path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        Assert.Contains("-----BEGIN PRIVATE KEY-----", File.ReadAllText(path), StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));

        using var reloaded = ReceiptSigningKey.LoadOrCreate(path);
        Assert.Equal(kid, reloaded.Kid);
    }

    [Fact]
    public void ConcurrentCreatorsEndWithOneKey()
    {
        var path = Path.Combine(_dir, "receipt-key.pem");

        var kids = Enumerable.Range(0, 8).AsParallel().Select(_ =>
        {
            using var key = ReceiptSigningKey.LoadOrCreate(path);
            return key.Kid;
        }).Distinct().ToList();

        using var onDisk = ReceiptSigningKey.LoadOrCreate(path);
        Assert.Equal([onDisk.Kid], kids);
    }

    [Fact]
    public void RefusesCorruptKeyFileNamingIt()
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "receipt-key.pem");
        File.WriteAllText(path, "garbage");

        var e = Assert.Throws<KeyFormatException>(() => ReceiptSigningKey.LoadOrCreate(path));

        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PemRoundTripKeepsKeyAndSignatures()
    {
        using var key = ReceiptSigningKey.Generate();
        using var copy = ReceiptSigningKey.FromPem(key.ExportPrivatePem());
        var message = "root"u8.ToArray();

        var signature = copy.Sign(message);

        Assert.Equal(key.Kid, copy.Kid);
        Assert.Equal(64, signature.Length);
        Assert.True(SignatureAlgorithm.Ed25519.Verify(key.PublicKey, message, signature));
        var published = Assert.Single(Ed25519PublicKeys.ParsePem(key.ExportPublicPem()));
        Assert.True(SignatureAlgorithm.Ed25519.Verify(published, message, signature));
    }
}
