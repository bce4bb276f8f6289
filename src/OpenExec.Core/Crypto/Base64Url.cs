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
        // The alphabet is checked; the decoder then only sees what it decodes without padding.
        var decoded = new byte[System.Buffers.Text.Base64Url.GetMaxDecodedLength(text.Length)];
        if (System.Buffers.Text.Base64Url.DecodeFromChars(text, decoded, out var consumed, out var written) != System.Buffers.OperationStatus.Done
            || consumed != text.Length)
        {
            return false;
        }
        if (written != decoded.Length)
        {
            decoded = decoded[..written];
        }
        // Unused low bits of the last character must be zero; otherwise two strings decode alike.
        // Re-encoded without a string: on the stack for header-sized values.
        var again = text.Length <= 2048 ? stackalloc char[text.Length] : new char[text.Length];
        if (!System.Buffers.Text.Base64Url.TryEncodeToChars(decoded, again, out var length) || !again[..length].SequenceEqual(text))
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
