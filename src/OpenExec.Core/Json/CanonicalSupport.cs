using System.Buffers;
using System.Globalization;
using OpenExec.Core.Text;

namespace OpenExec.Core.Json;

/// <summary>Pieces both canonical writers share: key ordering and number checks.</summary>
internal static class CanonicalSupport
{
    /// <summary>
    /// Orders strings by Unicode code point, as Python compares str. UTF-16 ordinal order
    /// differs only where a surrogate meets a unit in U+E000..U+FFFF: the surrogate belongs to an
    /// astral char (>= U+10000), so it must sort after. Remapping units at or above U+D800 so
    /// surrogates come last fixes that; both strings agree up to the first differing unit, so
    /// comparing that unit decides.
    /// </summary>
    internal static int CompareCodePoints(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }
        if (x is null || y is null)
        {
            return x is null ? -1 : 1;
        }
        int common = x.AsSpan().CommonPrefixLength(y);
        if (common == x.Length || common == y.Length)
        {
            return x.Length.CompareTo(y.Length);
        }
        return CodePointRank(x[common]).CompareTo(CodePointRank(y[common]));
    }

    /// <summary>RFC 8785 order: plain UTF-16 code unit comparison.</summary>
    internal static int CompareUtf16(string? x, string? y) => string.CompareOrdinal(x, y);

    private static int CodePointRank(char c) => c >= 0xE000 ? c - 0x800 : c >= 0xD800 ? c + 0x2000 : c;

    internal static readonly Comparison<KeyValuePair<string, StrictValue>> ByCodePoint =
        (a, b) => CompareCodePoints(a.Key, b.Key);

    internal static readonly Comparison<KeyValuePair<string, StrictValue>> ByUtf16 =
        (a, b) => CompareUtf16(a.Key, b.Key);

    /// <summary>
    /// The escape of one UTF-16 unit, as both canonical forms write it: the two-character form
    /// for <c>" \ \b \t \n \f \r</c>, else <c>\u</c> and four lower-case hex digits (so an
    /// astral char in ClawShield's ASCII form comes out as its two surrogate escapes, as Python
    /// prints them).
    /// </summary>
    internal static void WriteEscape(char c, IBufferWriter<byte> output)
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
        ((ushort)c).TryFormat(span[2..], out _, "x4", System.Globalization.CultureInfo.InvariantCulture);
        output.Advance(6);
    }

    internal static void WriteByte(IBufferWriter<byte> output, byte b)
    {
        output.GetSpan(1)[0] = b;
        output.Advance(1);
    }

    /// <summary>Sorts members by key; documents usually arrive sorted already, so check that first.</summary>
    internal static void Sort(Span<KeyValuePair<string, StrictValue>> members, Comparison<KeyValuePair<string, StrictValue>> comparison)
    {
        for (int i = 1; i < members.Length; i++)
        {
            if (comparison(members[i - 1], members[i]) > 0)
            {
                members.Sort(comparison);
                return;
            }
        }
    }

    /// <summary>
    /// An integer literal must follow JSON grammar (<c>-?(0|[1-9][0-9]*)</c>): the writers copy it
    /// verbatim, so a value built outside the strict reader must not smuggle other text in.
    /// </summary>
    internal static void RequireIntegerLiteral(string literal)
    {
        ReadOnlySpan<char> digits = literal.AsSpan();
        if (digits.StartsWith('-'))
        {
            digits = digits[1..];
        }
        if (digits.IsEmpty
            || CharRange.ContainsAnyExcept(digits, '0', '9')
            || (digits[0] == '0' && digits.Length > 1))
        {
            throw new ArgumentException($"'{literal}' is not a JSON integer literal.", nameof(literal));
        }
    }

    /// <summary>Parses a non-integer literal; non-finite values have no JSON form.</summary>
    internal static double ParseFiniteDouble(string literal)
    {
        if (!double.TryParse(literal, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            || !double.IsFinite(value))
        {
            throw new ArgumentException($"'{literal}' is not a finite JSON number.", nameof(literal));
        }
        return value;
    }
}

/// <summary>What distinguishes one canonical form from another: key order, strings, numbers.</summary>
internal interface ICanonicalForm
{
    static abstract Comparison<KeyValuePair<string, StrictValue>> KeyOrder { get; }

    static abstract void WriteString(string value, IBufferWriter<byte> output);

    static abstract void WriteNumber(StrictNumber number, IBufferWriter<byte> output);
}

/// <summary>
/// The structure both canonical forms share (no whitespace, members sorted, arrays in order,
/// literals as such); <typeparamref name="TForm"/> supplies the rest.
/// </summary>
internal static class CanonicalWriter<TForm>
    where TForm : ICanonicalForm
{
    public static byte[] Serialize(StrictValue value)
    {
        var output = new ArrayBufferWriter<byte>(256);
        Write(value, output);
        return output.WrittenSpan.ToArray();
    }

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
                CanonicalSupport.WriteByte(output, (byte)'[');
                for (int i = 0; i < array.Items.Count; i++)
                {
                    if (i > 0)
                    {
                        CanonicalSupport.WriteByte(output, (byte)',');
                    }
                    WriteValue(array.Items[i], output);
                }
                CanonicalSupport.WriteByte(output, (byte)']');
                break;
            case StrictString str:
                TForm.WriteString(str.Value, output);
                break;
            case StrictNumber number:
                TForm.WriteNumber(number, output);
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
        CanonicalSupport.WriteByte(output, (byte)'{');
        int count = obj.Properties.Count;
        var rented = ArrayPool<KeyValuePair<string, StrictValue>>.Shared.Rent(count);
        try
        {
            Span<KeyValuePair<string, StrictValue>> sorted = rented.AsSpan(0, count);
            for (int i = 0; i < count; i++)
            {
                sorted[i] = obj.Properties[i];
            }
            CanonicalSupport.Sort(sorted, TForm.KeyOrder);
            for (int i = 0; i < count; i++)
            {
                if (i > 0)
                {
                    CanonicalSupport.WriteByte(output, (byte)',');
                }
                TForm.WriteString(sorted[i].Key, output);
                CanonicalSupport.WriteByte(output, (byte)':');
                WriteValue(sorted[i].Value, output);
            }
        }
        finally
        {
            // Clear so the pool does not keep the document alive.
            ArrayPool<KeyValuePair<string, StrictValue>>.Shared.Return(rented, clearArray: true);
        }
        CanonicalSupport.WriteByte(output, (byte)'}');
    }
}
