namespace OpenExec.Core.Text;

/// <summary>
/// Setting values as a message may show them: never a credential they may hold. Start-up
/// refusals, logs and CLI errors name what is wrong; a password in an address, or a key pasted
/// where a path was expected, must not reach a terminal or a log collector with them.
/// </summary>
public static class SecretText
{
    /// <summary>
    /// An address with its user info (<c>user:password@</c>) and its query and fragment
    /// (<c>?api_key=...</c>) replaced by <c>***</c>; the scheme, host, port and path kept.
    /// </summary>
    public static string Address(string? address)
    {
        if (string.IsNullOrEmpty(address))
        {
            return "";
        }
        var text = address;
        var tail = text.AsSpan().IndexOfAny('?', '#');
        if (tail >= 0)
        {
            text = text[..(tail + 1)] + "***";
        }
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        var authorityStart = scheme >= 0 ? scheme + 3 : 0;
        var authorityEnd = text.AsSpan(authorityStart).IndexOfAny('/', '?', '#');
        authorityEnd = authorityEnd < 0 ? text.Length : authorityStart + authorityEnd;
        var at = text.AsSpan(authorityStart, authorityEnd - authorityStart).LastIndexOf('@');
        if (at >= 0)
        {
            text = text[..authorityStart] + "***" + text[(authorityStart + at)..];
        }
        return text;
    }

    /// <summary>True when a value meant as a file path holds a PEM block (a key pasted in its place).</summary>
    public static bool IsPem(string? value)
        => value is not null && value.Contains("-----BEGIN", StringComparison.Ordinal);
}
