using System.Buffers;
using System.Globalization;
using System.Text;

namespace OpenExec.Core.Json;

/// <summary>
/// ClawShield canonical JSON: byte for byte what Python prints for
/// <c>json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))</c> (SPEC section 4).
/// </summary>
public static class ClawShieldJson
{
    // Characters Python's ensure_ascii writes as themselves: printable ASCII except '"' and '\'.
    private static readonly SearchValues<char> PlainChars = SearchValues.Create(
        " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    // Plain runs are copied in chunks so one huge string never asks the writer for a huge span.
    private const int ChunkChars = 4096;

    public static byte[] Serialize(StrictValue value)
    {
        var output = new ArrayBufferWriter<byte>(256);
        Write(value, output);
        return output.WrittenSpan.ToArray();
    }

    public static string SerializeToString(StrictValue value) => Encoding.ASCII.GetString(Serialize(value));

    /// <summary>Writes the canonical form (always ASCII) of <paramref name="value"/>.</summary>
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
            CanonicalSupport.Sort(sorted, CanonicalSupport.ByCodePoint);
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

    private static void WriteNumber(StrictNumber number, IBufferWriter<byte> output)
    {
        string literal = number.Literal;
        if (number.IsInteger)
        {
            // Python's int keeps every digit; the only respelling JSON grammar allows is -0 → 0.
            CanonicalSupport.RequireIntegerLiteral(literal);
            if (literal == "-0")
            {
                WriteByte(output, (byte)'0');
                return;
            }
            Span<byte> span = output.GetSpan(literal.Length);
            int written = Encoding.ASCII.GetBytes(literal, span);
            output.Advance(written);
            return;
        }

        double value = CanonicalSupport.ParseFiniteDouble(literal);
        Span<byte> text = output.GetSpan(DecimalText.MaxFormattedLength);
        output.Advance(DecimalText.FormatPython(value, text));
    }

    private static void WriteString(string value, IBufferWriter<byte> output)
    {
        WriteByte(output, (byte)'"');
        ReadOnlySpan<char> rest = value;
        while (!rest.IsEmpty)
        {
            int plain = rest.IndexOfAnyExcept(PlainChars);
            if (plain < 0)
            {
                plain = rest.Length;
            }
            while (plain > 0)
            {
                int chunk = Math.Min(plain, ChunkChars);
                Span<byte> span = output.GetSpan(chunk);
                Encoding.ASCII.GetBytes(rest[..chunk], span);
                output.Advance(chunk);
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

    /// <summary>
    /// ensure_ascii escaping of one UTF-16 unit: astral chars come out as their two surrogate
    /// escapes, exactly as Python prints them, because each unit is escaped on its own.
    /// </summary>
    private static void WriteEscape(char c, IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(6);
        span[0] = (byte)'\\';
        byte shortForm = c switch
        {
            '"' => (byte)'"',
            '\\' => (byte)'\\',
            '\n' => (byte)'n',
            '\r' => (byte)'r',
            '\t' => (byte)'t',
            '\b' => (byte)'b',
            '\f' => (byte)'f',
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
