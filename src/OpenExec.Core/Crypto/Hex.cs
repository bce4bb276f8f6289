using System.Security.Cryptography;
using System.Text;

namespace OpenExec.Core.Crypto;

/// <summary>Lowercase hex, the only form hashes take on the wire (SPEC section 6).</summary>
public static class Hex
{
    /// <summary>Lowercase hex of the bytes.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>Lowercase hex SHA-256 of the bytes.</summary>
    public static string Sha256(ReadOnlySpan<byte> bytes)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(bytes, digest);
        return Convert.ToHexStringLower(digest);
    }

    /// <summary>Lowercase hex SHA-256 of the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static string Sha256Utf8(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Sha256(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>True when <paramref name="text"/> is exactly <paramref name="length"/> lowercase hex digits.</summary>
    public static bool IsLowerHex(string? text, int length)
    {
        if (text is null || text.Length != length)
        {
            return false;
        }
        foreach (var c in text)
        {
            if (!IsLowerHexDigit(c))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Decodes lowercase hex only: an upper-case digest is a different string on the wire, so it is
    /// refused rather than silently accepted.
    /// </summary>
    public static bool TryDecodeLower(string? text, out byte[] bytes)
    {
        bytes = [];
        if (text is null || text.Length % 2 != 0)
        {
            return false;
        }
        foreach (var c in text)
        {
            if (!IsLowerHexDigit(c))
            {
                return false;
            }
        }
        bytes = Convert.FromHexString(text);
        return true;
    }

    private static bool IsLowerHexDigit(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f');
}
