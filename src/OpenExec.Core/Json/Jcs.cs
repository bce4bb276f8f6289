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

    public static byte[] Serialize(StrictValue value)
    {
        var output = new ArrayBufferWriter<byte>(256);
        Write(value, output);
        return output.WrittenSpan.ToArray();
    }

    public static string SerializeToString(StrictValue value) => Encoding.UTF8.GetString(Serialize(value));

    /// <summary>
    /// Writes the RFC 8785 form of <paramref name="value"/>. Throws <see cref="ArgumentException"/>
    /// for numbers with no finite double value and for strings holding lone surrogates.
    /// </summary>
    public static void Write(StrictValue value, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(output);
        WriteValue(value, output);
    }

    private static void WriteValue(StrictValue value, IBufferWriter<byte> output)
    {
        switch (value)
        {
            case StrictObject obj:
                WriteObject(obj, output);
                break;
            case StrictArray array:
                WriteByte(output, (byte)'[');
                for (int i = 0; i < array.Items.Count; i++)
                {
                    if (i > 0)
                    {
                        WriteByte(output, (byte)',');
                    }
                    WriteValue(array.Items[i], output);
                }
                WriteByte(output, (byte)']');
                break;
            case StrictString str:
                WriteString(str.Value, output);
                break;
            case StrictNumber number:
                WriteNumber(number, output);
                break;
            case StrictLiteral literal:
                output.Write(literal == StrictLiteral.True ? "true"u8 : literal == StrictLiteral.False ? "false"u8 : "null"u8);
                break;
            default:
                throw new ArgumentException($"Unsupported JSON value type {value.GetType().Name}", nameof(value));
        }
    }

    private static void WriteObject(StrictObject obj, IBufferWriter<byte> output)
    {
        WriteByte(output, (byte)'{');
        int count = obj.Properties.Count;
        var rented = ArrayPool<KeyValuePair<string, StrictValue>>.Shared.Rent(count);
        try
        {
            Span<KeyValuePair<string, StrictValue>> sorted = rented.AsSpan(0, count);
            for (int i = 0; i < count; i++)
            {
                sorted[i] = obj.Properties[i];
            }
            CanonicalSupport.Sort(sorted, CanonicalSupport.ByUtf16);
            for (int i = 0; i < count; i++)
            {
                if (i > 0)
                {
                    WriteByte(output, (byte)',');
                }
                WriteString(sorted[i].Key, output);
                WriteByte(output, (byte)':');
                WriteValue(sorted[i].Value, output);
            }
        }
        finally
        {
            // Clear so the pool does not keep the document alive.
            ArrayPool<KeyValuePair<string, StrictValue>>.Shared.Return(rented, clearArray: true);
        }
        WriteByte(output, (byte)'}');
    }

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

    private static void WriteString(string value, IBufferWriter<byte> output)
    {
        WriteByte(output, (byte)'"');
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
            WriteEscape(rest[0], output);
            rest = rest[1..];
        }
        WriteByte(output, (byte)'"');
    }

    private static void WriteEscape(char c, IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(6);
        span[0] = (byte)'\\';
        byte shortForm = c switch
        {
            '"' => (byte)'"',
            '\\' => (byte)'\\',
            '\b' => (byte)'b',
            '\t' => (byte)'t',
            '\n' => (byte)'n',
            '\f' => (byte)'f',
            '\r' => (byte)'r',
            _ => 0,
        };
        if (shortForm != 0)
        {
            span[1] = shortForm;
            output.Advance(2);
            return;
        }
        span[1] = (byte)'u';
        ((ushort)c).TryFormat(span[2..], out _, "x4", CultureInfo.InvariantCulture);
        output.Advance(6);
    }

    private static void WriteByte(IBufferWriter<byte> output, byte b)
    {
        output.GetSpan(1)[0] = b;
        output.Advance(1);
    }
}
