using System.Globalization;

namespace OpenExec.Core.Json;

/// <summary>
/// Decimal views of number text and of doubles, shared by the strict reader (precision check)
/// and both canonical writers (Python <c>repr</c> and ECMAScript <c>Number.prototype.toString</c>).
/// A finite value is held as <c>±0.d1d2…dn × 10^pointPosition</c> with no leading or trailing zero
/// digits, so two texts denote the same decimal exactly when their decompositions are equal.
/// </summary>
internal static class DecimalText
{
    /// <summary>A shortest round-trip double never needs more than 17 significant digits.</summary>
    internal const int MaxDoubleDigits = 17;

    /// <summary>Longest text <see cref="FormatPython"/> or <see cref="FormatEcmaScript"/> produce.</summary>
    internal const int MaxFormattedLength = 32;

    // Exponents are clamped here while reading: any literal beyond it is far outside the double
    // range, and the clamp keeps the arithmetic below from overflowing on hostile input.
    private const long ExponentClamp = 1_000_000_000;

    /// <summary>
    /// Splits number text (JSON grammar, or .NET's "R" output such as <c>1.5E-05</c>) into its
    /// significant digits and decimal point position. Returns false when the text has more
    /// significant digits than <paramref name="digits"/> holds. Zero gives a count of 0.
    /// </summary>
    internal static bool TryDecompose(
        ReadOnlySpan<byte> text, Span<byte> digits, out int count, out long pointPosition, out bool negative)
    {
        int i = 0;
        negative = text.Length > 0 && text[0] == (byte)'-';
        if (negative)
        {
            i++;
        }

        count = 0;
        pointPosition = 0;
        long integerDigits = 0;
        long leadingZeros = 0;
        int pendingZeros = 0;
        bool inFraction = false;
        for (; i < text.Length; i++)
        {
            byte b = text[i];
            if (b == (byte)'.')
            {
                inFraction = true;
                continue;
            }
            if (b is (byte)'e' or (byte)'E')
            {
                break;
            }
            if (!inFraction)
            {
                integerDigits++;
            }
            if (b == (byte)'0')
            {
                // Zeros before the first significant digit only move the point; zeros after it
                // count only if a non-zero digit follows (trailing zeros are not significant).
                if (count == 0)
                {
                    leadingZeros++;
                }
                else
                {
                    pendingZeros++;
                }
                continue;
            }
            if (count + pendingZeros >= digits.Length)
            {
                return false;
            }
            digits.Slice(count, pendingZeros).Fill((byte)'0');
            count += pendingZeros;
            pendingZeros = 0;
            digits[count++] = b;
        }

        long exponent = 0;
        if (i < text.Length)
        {
            i++;
            bool negativeExponent = false;
            if (i < text.Length && text[i] is (byte)'+' or (byte)'-')
            {
                negativeExponent = text[i] == (byte)'-';
                i++;
            }
            for (; i < text.Length; i++)
            {
                exponent = Math.Min(exponent * 10 + (text[i] - '0'), ExponentClamp);
            }
            if (negativeExponent)
            {
                exponent = -exponent;
            }
        }

        if (count > 0)
        {
            pointPosition = integerDigits - leadingZeros + exponent;
        }
        return true;
    }

    /// <summary>
    /// True when the literal denotes exactly the decimal that <paramref name="value"/>'s shortest
    /// round-trip form denotes (the strict reader's "no more precision than a double keeps").
    /// </summary>
    internal static bool DenotesShortest(ReadOnlySpan<byte> literal, double value)
    {
        Span<byte> literalDigits = stackalloc byte[MaxDoubleDigits];
        if (!TryDecompose(literal, literalDigits, out int literalCount, out long literalPoint, out bool literalNegative))
        {
            return false;
        }
        Span<byte> shortest = stackalloc byte[MaxDoubleDigits];
        int count = ShortestDigits(value, shortest, out int point);
        if (count == 0 || literalCount == 0)
        {
            // Zero of either sign: equal only when both are zero.
            return count == literalCount;
        }
        return literalNegative == double.IsNegative(value)
            && literalPoint == point
            && literalDigits[..literalCount].SequenceEqual(shortest[..count]);
    }

    /// <summary>
    /// The shortest round-trip significant digits of a finite double (.NET Core 3.0+ "R" is the
    /// shortest form that parses back to the same double, the same digits Python's repr and
    /// ECMAScript choose). Returns the digit count (0 for zero).
    /// </summary>
    internal static int ShortestDigits(double value, Span<byte> digits, out int pointPosition)
    {
        Span<byte> text = stackalloc byte[MaxFormattedLength];
        if (!value.TryFormat(text, out int written, "R", CultureInfo.InvariantCulture)
            || !TryDecompose(text[..written], digits, out int count, out long point, out _))
        {
            throw new InvalidOperationException("Unexpected shortest round-trip form of a double.");
        }
        pointPosition = (int)point;
        return count;
    }

    /// <summary>Python's <c>repr(float)</c> of a finite double, e.g. <c>100.0</c>, <c>1e-05</c>.</summary>
    internal static int FormatPython(double value, Span<byte> destination)
    {
        int o = 0;
        if (double.IsNegative(value))
        {
            destination[o++] = (byte)'-';
        }
        Span<byte> digits = stackalloc byte[MaxDoubleDigits];
        int n = ShortestDigits(value, digits, out int point);
        if (n == 0)
        {
            "0.0"u8.CopyTo(destination[o..]);
            return o + 3;
        }

        // CPython (format_float_short, mode 'r'): fixed notation unless point <= -4 or point > 16.
        if (point > -4 && point <= 16)
        {
            return o + WriteFixed(digits[..n], point, destination[o..], appendPointZero: true);
        }
        return o + WriteExponent(digits[..n], point - 1, destination[o..], minExponentDigits: 2);
    }

    /// <summary>ECMAScript <c>Number.prototype.toString</c> of a finite double (RFC 8785 section 3.2.2.3).</summary>
    internal static int FormatEcmaScript(double value, Span<byte> destination)
    {
        Span<byte> digits = stackalloc byte[MaxDoubleDigits];
        int k = ShortestDigits(value, digits, out int n);
        if (k == 0)
        {
            // Both zeros print as "0".
            destination[0] = (byte)'0';
            return 1;
        }
        int o = 0;
        if (value < 0)
        {
            destination[o++] = (byte)'-';
        }
        if (n > -6 && n <= 21)
        {
            return o + WriteFixed(digits[..k], n, destination[o..], appendPointZero: false);
        }
        return o + WriteExponent(digits[..k], n - 1, destination[o..], minExponentDigits: 1);
    }

    private static int WriteFixed(ReadOnlySpan<byte> digits, int point, Span<byte> destination, bool appendPointZero)
    {
        int o = 0;
        if (point <= 0)
        {
            destination[o++] = (byte)'0';
            destination[o++] = (byte)'.';
            destination.Slice(o, -point).Fill((byte)'0');
            o += -point;
            digits.CopyTo(destination[o..]);
            return o + digits.Length;
        }
        if (point >= digits.Length)
        {
            digits.CopyTo(destination);
            o = digits.Length;
            destination.Slice(o, point - digits.Length).Fill((byte)'0');
            o = point;
            if (appendPointZero)
            {
                destination[o++] = (byte)'.';
                destination[o++] = (byte)'0';
            }
            return o;
        }
        digits[..point].CopyTo(destination);
        o = point;
        destination[o++] = (byte)'.';
        digits[point..].CopyTo(destination[o..]);
        return o + digits.Length - point;
    }

    private static int WriteExponent(ReadOnlySpan<byte> digits, int exponent, Span<byte> destination, int minExponentDigits)
    {
        int o = 0;
        destination[o++] = digits[0];
        if (digits.Length > 1)
        {
            destination[o++] = (byte)'.';
            digits[1..].CopyTo(destination[o..]);
            o += digits.Length - 1;
        }
        destination[o++] = (byte)'e';
        destination[o++] = exponent < 0 ? (byte)'-' : (byte)'+';
        int magnitude = Math.Abs(exponent);
        int width = magnitude >= 100 ? 3 : magnitude >= 10 ? 2 : 1;
        width = Math.Max(width, minExponentDigits);
        for (int w = width - 1; w >= 0; w--)
        {
            destination[o + w] = (byte)('0' + magnitude % 10);
            magnitude /= 10;
        }
        return o + width;
    }
}
