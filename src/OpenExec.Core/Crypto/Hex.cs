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
    public static bool IsLowerHex(string? text, int length) => text is not null && text.Length == length && AllLowerHexDigits(text);

    /// <summary>
    /// Decodes lowercase hex only: an upper-case digest is a different string on the wire, so it is
    /// refused rather than silently accepted.
    /// </summary>
    public static bool TryDecodeLower(string? text, out byte[] bytes)
    {
        bytes = [];
        if (text is null || text.Length % 2 != 0 || !AllLowerHexDigits(text))
        {
            return false;
        }
        bytes = Convert.FromHexString(text);
        return true;
    }

    /// <summary>
    /// Decodes exactly 2 × <paramref name="bytes"/>.Length lowercase hex digits into
    /// <paramref name="bytes"/>, no allocation; false for anything else (upper case included).
    /// </summary>
    public static bool TryDecodeLower(ReadOnlySpan<char> text, Span<byte> bytes)
        => text.Length == 2 * bytes.Length
            && AllLowerHexDigits(text)
            && Convert.FromHexString(text, bytes, out _, out var written) == System.Buffers.OperationStatus.Done
            && written == bytes.Length;

    private static bool AllLowerHexDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }
        return true;
    }
}
