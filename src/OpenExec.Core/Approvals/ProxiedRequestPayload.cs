using System.Globalization;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Core.Approvals;

/// <summary>
/// The payload a proxied request's action hash covers (SPEC section 5):
/// <c>{"method": M, "path": P, "query": Q, "body": B}</c>. One implementation, used by the
/// gateway when it reads a request and by the CLI when it mints an approval for one.
/// </summary>
public static class ProxiedRequestPayload
{
    /// <summary>The payload: upper-case method, the raw path and query (no <c>?</c>) as sent, and the body value.</summary>
    public static StrictObject Create(string method, string rawPath, string rawQuery, StrictValue body)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(rawPath);
        ArgumentNullException.ThrowIfNull(rawQuery);
        ArgumentNullException.ThrowIfNull(body);
        return new StrictObject(
        [
            new("method", new StrictString(method.ToUpperInvariant())),
            new("path", new StrictString(rawPath)),
            new("query", new StrictString(rawQuery)),
            new("body", body),
        ]);
    }

    /// <summary>
    /// The body's value in the payload: for a JSON media type the strictly parsed body
    /// (<c>null</c> when empty); otherwise <c>{"content_type", "length", "sha256"}</c>.
    /// </summary>
    /// <exception cref="StrictJsonException">A JSON media type whose body is not strict JSON.</exception>
    public static StrictValue Body(string? contentType, ReadOnlySpan<byte> body)
    {
        if (IsJsonMediaType(contentType))
        {
            return body.IsEmpty ? StrictLiteral.Null : StrictJson.Parse(body);
        }
        return new StrictObject(
        [
            new("content_type", MediaType(contentType) is { } media ? new StrictString(media) : StrictLiteral.Null),
            new("length", new StrictNumber(body.Length.ToString(CultureInfo.InvariantCulture))),
            new("sha256", new StrictString(Hex.Sha256(body))),
        ]);
    }

    /// <summary><c>application/json</c> or any <c>application/*+json</c>, parameters ignored.</summary>
    public static bool IsJsonMediaType(string? contentType)
    {
        var media = MediaType(contentType);
        return media is not null
            && (media == "application/json" || (media.StartsWith("application/", StringComparison.Ordinal) && media.EndsWith("+json", StringComparison.Ordinal)));
    }

    /// <summary>
    /// True when the header names a charset other than UTF-8 (any parameter <c>charset</c>, quoted
    /// or not, any case; <c>utf-8</c> or <c>utf8</c> is UTF-8). The body is hashed as the UTF-8 JSON the gateway parses; a backend that
    /// decodes it with the named charset (aiohttp, Spring) would read other JSON from the same
    /// bytes: under utf-7, <c>+ACI-</c> is a quote.
    /// </summary>
    public static bool NamesOtherCharset(string? contentType)
    {
        if (contentType is null || !contentType.Contains(';', StringComparison.Ordinal))
        {
            return false; // no parameters (the usual case, now read on every /execute): nothing split
        }
        var parameters = contentType.Split(';');
        for (var i = 1; i < parameters.Length; i++)
        {
            var equals = parameters[i].IndexOf('=', StringComparison.Ordinal);
            if (equals < 0 || !parameters[i][..equals].Trim().Equals("charset", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var value = parameters[i][(equals + 1)..].Trim();
            if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
            {
                value = value[1..^1].Trim();
            }
            // "utf8": a common spelling that every decoder which knows it reads as UTF-8.
            if (!value.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !value.Equals("utf8", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The media type without parameters, trimmed and lower-case; null when the header is absent or blank.</summary>
    public static string? MediaType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
        {
            return null;
        }
        var semicolon = contentType.IndexOf(';', StringComparison.Ordinal);
        return (semicolon < 0 ? contentType : contentType[..semicolon]).Trim().ToLowerInvariant();
    }

    /// <summary>Splits a raw request target at the first <c>?</c>: the path, and the query without <c>?</c> (<c>""</c> if none).</summary>
    public static (string Path, string Query) SplitTarget(string rawTarget)
    {
        ArgumentNullException.ThrowIfNull(rawTarget);
        var queryStart = rawTarget.IndexOf('?', StringComparison.Ordinal);
        return queryStart < 0 ? (rawTarget, "") : (rawTarget[..queryStart], rawTarget[(queryStart + 1)..]);
    }

    /// <summary>
    /// RFC 3986 pchar without percent-escapes, and '/': what the gateway's forwarder (Kestrel's
    /// decoded path re-encoded by YARP, System.Uri) sends unchanged.
    /// </summary>
    public static readonly System.Buffers.SearchValues<char> PlainPathChars =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/");

    /// <summary>
    /// The same for a query, where '?' is plain too, and '[' and ']', which System.Uri (and so the
    /// forwarder) keeps in a query as written (fetch and curl -g send them so: <c>page[size]=10</c>).
    /// </summary>
    public static readonly System.Buffers.SearchValues<char> PlainQueryChars =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?[]");

    /// <summary>
    /// True when the gateway would forward <paramref name="rawPath"/> byte for byte (up to the
    /// case of escapes' hex digits): only plain path characters and escapes of characters that
    /// must be escaped (an escaped unreserved or sub-delim character is forwarded decoded, a '%'
    /// that starts no escape as <c>%25</c>), and escapes that decode to UTF-8.
    /// </summary>
    public static bool ForwardsAsSentPath(string rawPath)
    {
        ArgumentNullException.ThrowIfNull(rawPath);
        var decoded = new List<byte>(rawPath.Length);
        for (var i = 0; i < rawPath.Length; i++)
        {
            var c = rawPath[i];
            if (c == '%')
            {
                if (!TryEscape(rawPath, i, out var b) || (b < 0x80 && PlainPathChars.Contains((char)b)))
                {
                    return false;
                }
                decoded.Add(b);
                i += 2;
                continue;
            }
            if (!PlainPathChars.Contains(c))
            {
                return false;
            }
            decoded.Add((byte)c);
        }
        return System.Text.Unicode.Utf8.IsValid(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(decoded));
    }

    /// <summary>
    /// As <see cref="ForwardsAsSentPath"/> for the raw query (without <c>?</c>): plain query
    /// characters and escapes, but no escape of an unreserved character (System.Uri decodes those)
    /// and no '%' that starts no escape.
    /// </summary>
    public static bool ForwardsAsSentQuery(string rawQuery)
    {
        ArgumentNullException.ThrowIfNull(rawQuery);
        for (var i = 0; i < rawQuery.Length; i++)
        {
            var c = rawQuery[i];
            if (c == '%')
            {
                if (!TryEscape(rawQuery, i, out var b) || (b < 0x80 && (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~')))
                {
                    return false;
                }
                i += 2;
                continue;
            }
            if (!PlainQueryChars.Contains(c))
            {
                return false;
            }
        }
        return true;
    }

    private static bool TryEscape(string text, int at, out byte value)
    {
        value = 0;
        if (at + 2 >= text.Length)
        {
            return false;
        }
        if (!char.IsAsciiHexDigit(text[at + 1]) || !char.IsAsciiHexDigit(text[at + 2]))
        {
            return false;
        }
        value = (byte)Convert.ToInt32(text.Substring(at + 1, 2), 16);
        return true;
    }

    /// <summary>
    /// A path that means exactly what it says: no encoded separators or dots, no empty or dot
    /// segments (also with path parameters: <c>..;x</c>). Anything else could reach a different
    /// backend path than the one approved.
    /// </summary>
    public static bool IsCanonicalPath(string rawPath)
    {
        ArgumentNullException.ThrowIfNull(rawPath);
        if (rawPath.Length == 0 || rawPath[0] != '/')
        {
            return false;
        }
        if (rawPath.Contains("//", StringComparison.Ordinal) || rawPath.Contains('\\', StringComparison.Ordinal))
        {
            return false;
        }
        foreach (var encoded in (ReadOnlySpan<string>)["%2f", "%5c", "%2e", "%00"])
        {
            if (rawPath.Contains(encoded, StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }
        foreach (var segment in rawPath.Split('/'))
        {
            // A dot segment with path parameters ("..;x") is a dot segment to servlet containers.
            var name = segment.IndexOf(';', StringComparison.Ordinal) is >= 0 and var p ? segment[..p] : segment;
            if (name is "." or "..")
            {
                return false;
            }
        }
        return true;
    }
}
