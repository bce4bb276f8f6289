namespace OpenExec.Core.Crypto;

/// <summary>The array form of a strict decoder into a span (<see cref="Base64Url"/>, <see cref="StrictBase64"/>).</summary>
internal static class DecodedArray
{
    public delegate bool SpanDecoder(ReadOnlySpan<char> text, Span<byte> destination, out int written);

    public static bool TryDecode(string? text, Func<int, int> maxDecodedLength, SpanDecoder decode, out byte[] bytes)
    {
        bytes = [];
        if (text is null)
        {
            return false;
        }
        var decoded = new byte[maxDecodedLength(text.Length)];
        if (!decode(text, decoded, out var written))
        {
            return false;
        }
        bytes = written == decoded.Length ? decoded : decoded[..written];
        return true;
    }
}
