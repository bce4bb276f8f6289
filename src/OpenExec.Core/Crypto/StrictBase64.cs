namespace OpenExec.Core.Crypto;

/// <summary>
/// Standard padded base64 (RFC 4648 section 4), strictly: <see cref="Convert.TryFromBase64String"/>
/// skips whitespace, so the alphabet and padding are checked first.
/// </summary>
public static class StrictBase64
{
    public static bool TryDecode(string? text, out byte[] bytes) => DecodedArray.TryDecode(text, MaxDecodedLength, TryDecode, out bytes);

    /// <summary>The most bytes <paramref name="chars"/> characters decode to.</summary>
    public static int MaxDecodedLength(int chars) => chars / 4 * 3;

    /// <summary>
    /// As <see cref="TryDecode(string?, out byte[])"/>, into <paramref name="destination"/> (at
    /// least <see cref="MaxDecodedLength"/> long), with no string or array of its own (a signature
    /// checked on every request).
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<char> text, Span<byte> destination, out int written)
    {
        written = 0;
        if (text.Length % 4 != 0)
        {
            return false;
        }
        var padding = text.EndsWith("==") ? 2 : text.EndsWith('=') ? 1 : 0;
        for (var i = 0; i < text.Length - padding; i++)
        {
            var c = text[i];
            if (!(c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '+' or '/'))
            {
                return false;
            }
        }
        if (!Convert.TryFromBase64Chars(text, destination, out var length))
        {
            return false;
        }
        // Refuse stray bits in the last character: one value, one spelling.
        var again = text.Length <= 1024 ? stackalloc char[text.Length] : new char[text.Length];
        if (!Convert.TryToBase64Chars(destination[..length], again, out var encoded) || !again[..encoded].SequenceEqual(text))
        {
            return false;
        }
        written = length;
        return true;
    }
}
