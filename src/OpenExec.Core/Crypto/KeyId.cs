using System.Security.Cryptography;
using NSec.Cryptography;

namespace OpenExec.Core.Crypto;

/// <summary>Key id: the first 16 hex digits of the SHA-256 of the raw public key (SPEC section 6).</summary>
public static class KeyId
{
    public static string For(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return ForRaw(key.Export(KeyBlobFormat.RawPublicKey));
    }

    public static string ForRaw(ReadOnlySpan<byte> rawPublicKey)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(rawPublicKey, digest);
        return Convert.ToHexStringLower(digest[..8]);
    }
}
