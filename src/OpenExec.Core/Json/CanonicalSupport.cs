using System.Globalization;

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
            || digits.ContainsAnyExceptInRange('0', '9')
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
