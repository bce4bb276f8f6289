using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace OpenExec.Core.Json;

/// <summary>RFC 8785 JSON Canonicalization Scheme, used to hash receipt bodies.</summary>
public static class Jcs
{
    // What JSON.stringify escapes: the quote, the backslash and controls below U+0020.
    private static readonly SearchValues<char> EscapedChars = SearchValues.Create(
        "\"\\\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000A\u000B\u000C\u000D\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F");

    // Plain runs are transcoded in chunks so one huge string never asks the writer for a huge span.
    private const int ChunkChars = 4096;

    public static byte[] Serialize(StrictValue value) => CanonicalWriter<Form>.Serialize(value);

    public static string SerializeToString(StrictValue value) => Encoding.UTF8.GetString(Serialize(value));

    /// <summary>
    /// Writes the RFC 8785 form of <paramref name="value"/>. Throws <see cref="ArgumentException"/>
    /// for numbers with no finite double value and for strings holding lone surrogates.
    /// </summary>
    public static void Write(StrictValue value, IBufferWriter<byte> output)
        => CanonicalWriter<Form>.Write(value, output);

    /// <summary>
    /// RFC 8785 section 3.2.2.3: every number, integer literals included, is the double it
    /// denotes, printed as ECMAScript does (so 2^68 prints as 295147905179352830000).
    /// </summary>
    private static void WriteNumber(StrictNumber number, IBufferWriter<byte> output)
    {
        if (number.IsInteger)
        {
            CanonicalSupport.RequireIntegerLiteral(number.Literal);
        }
        double value = CanonicalSupport.ParseFiniteDouble(number.Literal);
        Span<byte> text = output.GetSpan(DecimalText.MaxFormattedLength);
        output.Advance(DecimalText.FormatEcmaScript(value, text));
    }

    /// <summary>
    /// The RFC 8785 form of an integer: its decimal digits within ±2^53, beyond that the double it
    /// rounds to (as <see cref="WriteNumber"/> prints the same literal).
    /// </summary>
    internal static void WriteInteger(long value, IBufferWriter<byte> output)
    {
        const long MaxExact = 1L << 53;
        Span<byte> text = output.GetSpan(DecimalText.MaxFormattedLength);
        if (value is >= -MaxExact and <= MaxExact)
        {
            value.TryFormat(text, out var written, default, CultureInfo.InvariantCulture);
            output.Advance(written);
        }
        else
        {
            output.Advance(DecimalText.FormatEcmaScript(value, text));
        }
    }

    internal static void WriteString(string value, IBufferWriter<byte> output)
    {
        CanonicalSupport.WriteByte(output, (byte)'"');
        ReadOnlySpan<char> rest = value;
        while (!rest.IsEmpty)
        {
            int plain = rest.IndexOfAny(EscapedChars);
            if (plain < 0)
            {
                plain = rest.Length;
            }
            while (plain > 0)
            {
                int chunk = Math.Min(plain, ChunkChars);
                if (chunk < plain && char.IsHighSurrogate(rest[chunk - 1]))
                {
                    // Keep a surrogate pair within one chunk.
                    chunk--;
                }
                Span<byte> span = output.GetSpan(chunk * 3);
                if (Utf8.FromUtf16(rest[..chunk], span, out _, out int written, replaceInvalidSequences: false)
                    != OperationStatus.Done)
                {
                    throw new ArgumentException("A string holds a lone surrogate, which RFC 8785 cannot encode.", nameof(value));
                }
                output.Advance(written);
                rest = rest[chunk..];
                plain -= chunk;
            }
            if (rest.IsEmpty)
            {
                break;
            }
            CanonicalSupport.WriteEscape(rest[0], output);
            rest = rest[1..];
        }
        CanonicalSupport.WriteByte(output, (byte)'"');
    }

    /// <summary>This form's rules for the shared canonical walk.</summary>
    private readonly struct Form : ICanonicalForm
    {
        public static Comparison<KeyValuePair<string, StrictValue>> KeyOrder => CanonicalSupport.ByUtf16;

        public static void WriteString(string value, IBufferWriter<byte> output) => Jcs.WriteString(value, output);

        public static void WriteNumber(StrictNumber number, IBufferWriter<byte> output) => Jcs.WriteNumber(number, output);
    }
}
