using System.Text;
using NSec.Cryptography;

namespace OpenExec.Core.Crypto;

/// <summary>
/// The gateway's Ed25519 receipt-signing key. Generated once into the data directory and reused
/// across restarts, so a chain keeps one key id.
/// </summary>
public sealed class ReceiptSigningKey : IDisposable
{
    private readonly Key _key;
    private readonly byte[] _publicKeyRaw;

    private ReceiptSigningKey(Key key)
    {
        _key = key;
        _publicKeyRaw = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        Kid = KeyId.ForRaw(_publicKeyRaw);
    }

    /// <summary>Key id (SPEC section 6).</summary>
    public string Kid { get; }

    /// <summary>The raw 32-byte public key (the JWK <c>x</c>).</summary>
    public ReadOnlySpan<byte> PublicKeyRaw => _publicKeyRaw;

    public PublicKey PublicKey => _key.PublicKey;

    /// <summary>The private key, for other signers in this assembly (<see cref="Approvals.ApprovalMinter"/>).</summary>
    internal Key Key => _key;

    public static ReceiptSigningKey Generate() => new(Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));

    /// <summary>Reads a PKCS#8 <c>-----BEGIN PRIVATE KEY-----</c> Ed25519 key.</summary>
    public static ReceiptSigningKey FromPem(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        // Exportable, so that the generated key can be written to the data directory.
        var parameters = new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
        if (!Key.TryImport(SignatureAlgorithm.Ed25519, Encoding.ASCII.GetBytes(pem), KeyBlobFormat.PkixPrivateKeyText, out var key, in parameters)
            || key is null)
        {
            throw new KeyFormatException("The receipt-signing key is not an Ed25519 PKCS#8 PEM private key ('-----BEGIN PRIVATE KEY-----').");
        }
        return new ReceiptSigningKey(key);
    }

    /// <summary>
    /// Loads the key at <paramref name="pemPath"/>, or generates one and writes it there with
    /// owner-only permissions. The write is atomic and never replaces a file another process
    /// created first: the loser of that race loads the winner's key.
    /// </summary>
    public static ReceiptSigningKey LoadOrCreate(string pemPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(pemPath);
        if (File.Exists(pemPath))
        {
            return Load(pemPath);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(pemPath))!);
        var created = Generate();
        try
        {
            // Owner-only from creation; on disk, directory entry included, before any receipt is
            // signed with it.
            IO.DurableFile.Write(pemPath, Encoding.ASCII.GetBytes(created.ExportPrivatePem()), ownerOnly: true, overwrite: false);
            return created;
        }
        catch (IOException) when (File.Exists(pemPath))
        {
            created.Dispose();
            return Load(pemPath);
        }
        catch
        {
            created.Dispose();
            throw;
        }
    }

    public byte[] Sign(ReadOnlySpan<byte> data) => SignatureAlgorithm.Ed25519.Sign(_key, data);

    /// <summary>PKCS#8 PEM of the private key.</summary>
    public string ExportPrivatePem() => Encoding.ASCII.GetString(_key.Export(KeyBlobFormat.PkixPrivateKeyText));

    /// <summary>SubjectPublicKeyInfo PEM of the public key.</summary>
    public string ExportPublicPem() => Encoding.ASCII.GetString(_key.PublicKey.Export(KeyBlobFormat.PkixPublicKeyText));

    public void Dispose() => _key.Dispose();

    private static ReceiptSigningKey Load(string pemPath)
    {
        try
        {
            return FromPem(File.ReadAllText(pemPath));
        }
        catch (KeyFormatException e)
        {
            throw new KeyFormatException($"{e.Message} File: {pemPath}", e);
        }
    }
}
