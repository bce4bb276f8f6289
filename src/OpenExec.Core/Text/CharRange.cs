namespace OpenExec.Core.Text;

/// <summary>
/// Range searches over UTF-16 text, written by hand: MemoryExtensions' char overloads
/// (<c>ContainsAnyInRange</c>, <c>ContainsAnyExceptInRange</c>) box their bounds on every call,
/// which on the request path was about 1 KB per clawshield request.
/// </summary>
internal static class CharRange
{
    /// <summary>True when a character of <paramref name="text"/> lies in [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static bool ContainsAnyIn(ReadOnlySpan<char> text, char low, char high)
    {
        foreach (var c in text)
        {
            if ((uint)(c - low) <= (uint)(high - low))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>True when a character of <paramref name="text"/> lies outside [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static bool ContainsAnyExcept(ReadOnlySpan<char> text, char low, char high)
    {
        foreach (var c in text)
        {
            if ((uint)(c - low) > (uint)(high - low))
            {
                return true;
            }
        }
        return false;
    }
}
