namespace OpenExec.Core.Crypto;

/// <summary>
/// Unpadded base64url (RFC 4648 section 5). Decoding is strict: no padding, no whitespace, no
/// characters outside the alphabet and no stray bits, so one value has exactly one spelling.
/// </summary>
public static class Base64Url
{
    public static string Encode(ReadOnlySpan<byte> bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

    /// <summary>Decodes strictly; false on any character outside <c>A-Z a-z 0-9 - _</c>, padding or a non-canonical tail.</summary>
    public static bool TryDecode(string? text, out byte[] bytes) => DecodedArray.TryDecode(text, MaxDecodedLength, TryDecode, out bytes);

    /// <summary>The most bytes <paramref name="chars"/> characters decode to.</summary>
    public static int MaxDecodedLength(int chars) => System.Buffers.Text.Base64Url.GetMaxDecodedLength(chars);

    /// <summary>
    /// As <see cref="TryDecode(string?, out byte[])"/>, into <paramref name="destination"/> (at
    /// least <see cref="MaxDecodedLength"/> long): for a value read at once and not kept.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<char> text, Span<byte> destination, out int written)
    {
        written = 0;
        if (text.Length % 4 == 1)
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
        if (System.Buffers.Text.Base64Url.DecodeFromChars(text, destination, out var consumed, out var length) != System.Buffers.OperationStatus.Done
            || consumed != text.Length)
        {
            return false;
        }
        // Unused low bits of the last character must be zero; otherwise two strings decode alike.
        // Re-encoded without a string: on the stack for header-sized values.
        var again = text.Length <= 2048 ? stackalloc char[text.Length] : new char[text.Length];
        if (!System.Buffers.Text.Base64Url.TryEncodeToChars(destination[..length], again, out var encoded) || !again[..encoded].SequenceEqual(text))
        {
            return false;
        }
        written = length;
        return true;
    }

    /// <summary>Decodes strictly or throws <see cref="FormatException"/>.</summary>
    public static byte[] Decode(string text) =>
        TryDecode(text, out var bytes) ? bytes : throw new FormatException("Invalid base64url: use the unpadded URL-safe alphabet (A-Z a-z 0-9 - _).");

    private static bool IsAlphabet(char c) =>
        c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_';
}
