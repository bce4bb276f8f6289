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
    /// (<c>?api_key=...</c>) replaced by <c>***</c>; the scheme, host, port and path kept. Anything
    /// before the last '@' counts as user info, whatever it holds (a password may hold '/'), so a
    /// path with an '@' is hidden too: a message may show less, never a password.
    /// </summary>
    public static string Address(string? address)
    {
        if (string.IsNullOrEmpty(address))
        {
            return "";
        }
        var text = address;
        // User info first, over the whole text: a password may hold '/', '?' or '#' too.
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        var authorityStart = scheme >= 0 ? scheme + 3 : 0;
        var at = text.LastIndexOf('@');
        if (at >= authorityStart)
        {
            text = text[..authorityStart] + "***" + text[at..];
        }
        var tail = text.AsSpan().IndexOfAny('?', '#');
        if (tail >= 0)
        {
            text = text[..(tail + 1)] + "***";
        }
        return text;
    }

    /// <summary>True when a value holds a PEM block: a key file's text, or a key pasted where its path was expected.</summary>
    public static bool IsPem(string? value)
        => value is not null && value.Contains("-----BEGIN", StringComparison.Ordinal);
}
