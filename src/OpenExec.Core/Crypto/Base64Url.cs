namespace OpenExec.Core.Crypto;

/// <summary>
/// Unpadded base64url (RFC 4648 section 5). Decoding is strict: no padding, no whitespace, no
/// characters outside the alphabet and no stray bits, so one value has exactly one spelling.
/// </summary>
public static class Base64Url
{
    public static string Encode(ReadOnlySpan<byte> bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

    /// <summary>Decodes strictly; false on any character outside <c>A-Z a-z 0-9 - _</c>, padding or a non-canonical tail.</summary>
    public static bool TryDecode(string? text, out byte[] bytes)
    {
        bytes = [];
        if (text is null || text.Length % 4 == 1)
        {
            return false;
        }
        foreach (var c in text)
        {
            if (!IsAlphabet(c))
            {
                return false;
            }
        }
        // The alphabet is checked, so mapping to standard base64 cannot let anything else through.
        // (System.Buffers.Text.Base64Url throws instead of returning false on a non-canonical tail.)
        var standard = text.Replace('-', '+').Replace('_', '/') + new string('=', (4 - (text.Length % 4)) % 4);
        var decoded = new byte[standard.Length / 4 * 3];
        if (!Convert.TryFromBase64String(standard, decoded, out var written))
        {
            return false;
        }
        decoded = decoded[..written];
        // Unused low bits of the last character must be zero; otherwise two strings decode alike.
        if (!string.Equals(Encode(decoded), text, StringComparison.Ordinal))
        {
            return false;
        }
        bytes = decoded;
        return true;
    }

    /// <summary>Decodes strictly or throws <see cref="FormatException"/>.</summary>
    public static byte[] Decode(string text) =>
        TryDecode(text, out var bytes) ? bytes : throw new FormatException("Invalid base64url: use the unpadded URL-safe alphabet (A-Z a-z 0-9 - _).");

    private static bool IsAlphabet(char c) =>
        c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_';
}
