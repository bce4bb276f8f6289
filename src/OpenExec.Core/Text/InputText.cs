namespace OpenExec.Core.Text;

/// <summary>
/// What a request sent, as an error message may quote it: a key, a field name, a path or an id,
/// cut to a prefix so that a message (and the log line that may repeat it) stays short whatever
/// the input's size, and never cut inside a surrogate pair.
/// </summary>
public static class InputText
{
    /// <summary>Quoted text's usual bound: its first 64 UTF-16 units.</summary>
    public const int DefaultLength = 64;

    /// <summary>
    /// <paramref name="text"/> itself when it has at most <paramref name="length"/> UTF-16 units;
    /// otherwise its first <paramref name="length"/> (one fewer when the last would be the first
    /// half of a surrogate pair) followed by <c>…</c>.
    /// </summary>
    public static string Abbreviate(string text, int length = DefaultLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (text.Length <= length)
        {
            return text;
        }
        var cut = char.IsHighSurrogate(text[length - 1]) ? length - 1 : length;
        return string.Concat(text.AsSpan(0, cut), "…");
    }
}
