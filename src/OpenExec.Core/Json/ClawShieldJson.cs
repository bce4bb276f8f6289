using System.Buffers;
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

    public static byte[] Serialize(StrictValue value) => CanonicalWriter<Form>.Serialize(value);

    public static string SerializeToString(StrictValue value) => Encoding.ASCII.GetString(Serialize(value));

    /// <summary>Writes the canonical form (always ASCII) of <paramref name="value"/>.</summary>
    public static void Write(StrictValue value, IBufferWriter<byte> output)
        => CanonicalWriter<Form>.Write(value, output);

    private static void WriteNumber(StrictNumber number, IBufferWriter<byte> output)
    {
        string literal = number.Literal;
        if (number.IsInteger)
        {
            // Python's int keeps every digit; the only respelling JSON grammar allows is -0 → 0.
            CanonicalSupport.RequireIntegerLiteral(literal);
            if (literal == "-0")
            {
                CanonicalSupport.WriteByte(output, (byte)'0');
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

    /// <summary>Writes <paramref name="value"/> as a canonical JSON string.</summary>
    internal static void WriteString(string value, IBufferWriter<byte> output)
    {
        CanonicalSupport.WriteByte(output, (byte)'"');
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
            CanonicalSupport.WriteEscape(rest[0], output);
            rest = rest[1..];
        }
        CanonicalSupport.WriteByte(output, (byte)'"');
    }

    /// <summary>This form's rules for the shared canonical walk.</summary>
    private readonly struct Form : ICanonicalForm
    {
        public static Comparison<KeyValuePair<string, StrictValue>> KeyOrder => CanonicalSupport.ByCodePoint;

        public static void WriteString(string value, IBufferWriter<byte> output) => ClawShieldJson.WriteString(value, output);

        public static void WriteNumber(StrictNumber number, IBufferWriter<byte> output) => ClawShieldJson.WriteNumber(number, output);
    }
}
