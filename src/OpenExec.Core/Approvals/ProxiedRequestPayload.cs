using System.Globalization;
using System.Text;
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
        // An array, not a collection expression: one for an IReadOnlyList is an array in a wrapper.
        return new StrictObject(new KeyValuePair<string, StrictValue>[]
        {
            new("method", new StrictString(method.ToUpperInvariant())),
            new("path", new StrictString(rawPath)),
            new("query", new StrictString(rawQuery)),
            new("body", body),
        });
    }

    /// <summary>
    /// The body's value in the payload: for the JSON media type (<see cref="IsParsedJson"/>) the
    /// strictly parsed body (<c>null</c> when empty), whose objects may not hold keys that differ
    /// only in case; otherwise <c>{"content_type", "length", "sha256"}</c> with the whole
    /// Content-Type, parameters included (<see cref="TryCanonicalContentType"/>).
    /// </summary>
    /// <exception cref="StrictJsonException">A JSON body that is not strict JSON, or has keys that differ only in case.</exception>
    /// <exception cref="ArgumentException">A Content-Type that <see cref="TryCanonicalContentType"/> refuses.</exception>
    public static StrictValue Body(string? contentType, ReadOnlySpan<byte> body)
    {
        // One reading of the header for both questions: which form, and which Content-Type.
        string? canonical = null;
        var parsedJson = false;
        if (!string.IsNullOrWhiteSpace(contentType))
        {
            if (!TryParseContentType(contentType, out var media, out var parameters))
            {
                throw new ArgumentException($"Content-Type '{contentType}' cannot be read as a media type with parameters", nameof(contentType));
            }
            parsedJson = IsParsedJson(media, parameters);
            canonical = Canonical(contentType, media, parameters);
        }
        if (parsedJson)
        {
            if (body.IsEmpty)
            {
                return StrictLiteral.Null;
            }
            var value = StrictJson.Parse(body);
            RefuseKeysDifferingOnlyInCase(value);
            return value;
        }
        return new StrictObject(new KeyValuePair<string, StrictValue>[]
        {
            new("content_type", canonical is null ? StrictLiteral.Null : new StrictString(canonical)),
            new("length", new StrictNumber(body.Length.ToString(CultureInfo.InvariantCulture))),
            new("sha256", new StrictString(Hex.Sha256(body))),
        });
    }

    /// <summary>
    /// The forwarded body is the agent's own bytes, in the agent's key order, while the hash covers
    /// the parsed value: a backend that matches keys ignoring case, the last one winning (ASP.NET
    /// Core's web defaults, Go's encoding/json), would read <c>{"amount":10,"Amount":1000000}</c>
    /// and the same keys in the other order differently under one approval. Refused, as duplicate
    /// keys are.
    /// </summary>
    private static void RefuseKeysDifferingOnlyInCase(StrictValue value)
    {
        switch (value)
        {
            case StrictObject obj:
                if (obj.Count > 1)
                {
                    RefuseFoldedDuplicates(obj.Properties);
                }
                // By index: a foreach over the interface allocates an enumerator per object.
                for (var i = 0; i < obj.Properties.Count; i++)
                {
                    RefuseKeysDifferingOnlyInCase(obj.Properties[i].Value);
                }
                break;
            case StrictArray array:
                for (var i = 0; i < array.Items.Count; i++)
                {
                    RefuseKeysDifferingOnlyInCase(array.Items[i]);
                }
                break;
        }
    }

    private static void RefuseFoldedDuplicates(IReadOnlyList<KeyValuePair<string, StrictValue>> properties)
    {
        if (FoldedCollision(properties, static p => p.Key) is { } collision)
        {
            throw CaseCollision(collision.First, collision.Second);
        }
    }

    /// <summary>
    /// Two keys a backend that ignores case (or stops at a NUL) reads as one, but that differ as
    /// sent; the same key repeated is no collision. Pairwise for small lists (the usual case:
    /// nothing allocated), through a set for large ones (linear), both with <see cref="FoldedKeys"/>.
    /// </summary>
    private static (string First, string Second)? FoldedCollision<T>(IReadOnlyList<T> items, Func<T, string> keyOf)
    {
        const int PairwiseUpTo = 16;
        if (items.Count <= PairwiseUpTo)
        {
            for (var i = 1; i < items.Count; i++)
            {
                var key = keyOf(items[i]);
                for (var j = 0; j < i; j++)
                {
                    var earlier = keyOf(items[j]);
                    if (!string.Equals(key, earlier, StringComparison.Ordinal) && FoldedKeys.Instance.Equals(key, earlier))
                    {
                        return (earlier, key);
                    }
                }
            }
            return null;
        }
        var seen = new Dictionary<string, string>(items.Count, FoldedKeys.Instance);
        foreach (var item in items)
        {
            var key = keyOf(item);
            if (!seen.TryAdd(key, key) && !string.Equals(seen[key], key, StringComparison.Ordinal))
            {
                return (seen[key], key);
            }
        }
        return null;
    }

    /// <summary>
    /// Why a raw query (without <c>?</c>) is refused for keys that differ only in case (or up to a
    /// NUL), decoded as form data, or null. <c>AMOUNT=1000000&amp;amount=10</c> reads as one key to
    /// ASP.NET Core's query collection and to YARP's query transforms (which send
    /// <c>amount=1000000&amp;amount=10</c>): a backend taking the first value runs 1000000 where the
    /// approved query, read case-sensitively, says 10.
    /// </summary>
    public static string? QueryKeyCollision(string rawQuery)
    {
        ArgumentNullException.ThrowIfNull(rawQuery);
        if (rawQuery.Length == 0)
        {
            return null;
        }
        var keys = new List<string>();
        foreach (var pair in rawQuery.Split('&'))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? pair : pair[..equals];
            keys.Add(Uri.UnescapeDataString(key.Replace('+', ' ')));
        }
        return FoldedCollision(keys, static k => k) is { } c
            ? $"Query keys '{Escaped(c.First)}' and '{Escaped(c.Second)}' differ only in case{(CutAtNul(c.First, c.Second) ? " or after a NUL" : "")}: a backend (or a route's query transform) that matches keys ignoring case reads them as one key, whose first value may not be the one the approved query gives it; send one spelling"
            : null;
    }

    private static StrictJsonException CaseCollision(string first, string second)
        => new("duplicate_key", CutAtNul(first, second)
            ? $"Keys '{Escaped(first)}' and '{Escaped(second)}' are the same key up to a NUL (\\u0000): a backend that reads keys as C strings would read one of them, chosen by their order, which the approval does not cover"
            : $"Keys '{first}' and '{second}' differ only in case: a backend that matches keys ignoring case would read one of them, chosen by their order, which the approval does not cover");

    /// <summary>Whether a collision is one of keys cut at a NUL (its message says so).</summary>
    private static bool CutAtNul(string first, string second)
        => first.Contains('\0', StringComparison.Ordinal) || second.Contains('\0', StringComparison.Ordinal);

    private static string Escaped(string key) => key.Replace("\0", "\\u0000", StringComparison.Ordinal);

    /// <summary>
    /// Keys equal up to their first NUL (where a C-string parser stops reading them), under simple
    /// case folding, one code point at a time (astral letters such as
    /// Deseret's fold too): upper-cased then lower-cased (so 'ς' and 'σ' meet, as they do only
    /// upper-cased), after the letters .NET's invariant casing leaves alone but Unicode folding
    /// (Go's encoding/json) does not: long s, the Kelvin and Angstrom signs.
    /// </summary>
    private sealed class FoldedKeys : IEqualityComparer<string>
    {
        public static readonly FoldedKeys Instance = new();

        private static int Fold(Rune r)
        {
            if (r.IsAscii)
            {
                return r.Value is >= 'A' and <= 'Z' ? r.Value + 32 : r.Value;
            }
            var mapped = r.Value switch { 0x017F => new Rune('s'), 0x212A => new Rune('k'), 0x212B => new Rune('\u00E5'), _ => r };
            return Rune.ToLowerInvariant(Rune.ToUpperInvariant(mapped)).Value;
        }

        /// <summary>The key as a parser that stops at a NUL reads it (C string APIs: cJSON, jansson without JSON_ALLOW_NUL).</summary>
        private static ReadOnlySpan<char> Cut(string key)
        {
            var nul = key.IndexOf('\0');
            return nul < 0 ? key : key.AsSpan(0, nul);
        }

        public bool Equals(string? x, string? y)
        {
            if (x is null || y is null)
            {
                return ReferenceEquals(x, y);
            }
            var cx = Cut(x);
            var cy = Cut(y);
            if (cx.SequenceEqual(cy))
            {
                return true;
            }
            var ex = cx.EnumerateRunes();
            var ey = cy.EnumerateRunes();
            while (true)
            {
                var (more, moreY) = (ex.MoveNext(), ey.MoveNext());
                if (!more || !moreY)
                {
                    return more == moreY;
                }
                if (Fold(ex.Current) != Fold(ey.Current))
                {
                    return false;
                }
            }
        }

        public int GetHashCode(string obj)
        {
            var hash = new HashCode();
            foreach (var r in Cut(obj).EnumerateRunes())
            {
                hash.Add(Fold(r));
            }
            return hash.ToHashCode();
        }
    }

    /// <summary>
    /// True for the JSON media type, whose body is hashed parsed: <c>application/json</c> (any
    /// case) with no parameter but a UTF-8 <c>charset</c>. Other JSON-based types
    /// (<c>application/merge-patch+json</c>, vendor types) and other parameters tell a backend
    /// what to do with the same JSON, so they are hashed with their Content-Type, as bytes.
    /// </summary>
    public static bool IsParsedJson(string? contentType)
        => TryParseContentType(contentType, out var media, out var parameters) && IsParsedJson(media, parameters);

    private static bool IsParsedJson(string media, List<(string Name, string Value)>? parameters)
        => media == "application/json" && (parameters is null || parameters.TrueForAll(p => p.Name == "charset" && IsUtf8(p.Value)));

    /// <summary>
    /// The Content-Type a proxied request is hashed with (non-JSON bodies) and forwarded with:
    /// RFC 9110's media type, parameters included, as <c>type/subtype; name=value; ...</c>: type,
    /// subtype and parameter names lower-case, values as sent (a quoted string keeps its quotes),
    /// parameters in the order sent. <paramref name="canonical"/> is null when the header is
    /// absent or blank. False for a value that is not a media type, or names a parameter twice:
    /// a multipart boundary or a charset changes what the backend reads from the same bytes.
    /// </summary>
    public static bool TryCanonicalContentType(string? contentType, out string? canonical)
    {
        canonical = null;
        if (string.IsNullOrWhiteSpace(contentType))
        {
            return true;
        }
        if (!TryParseContentType(contentType, out var media, out var parameters))
        {
            return false;
        }
        canonical = Canonical(contentType, media, parameters);
        return true;
    }

    private static string Canonical(string contentType, string media, List<(string Name, string Value)>? parameters)
    {
        if (parameters is null && media == contentType)
        {
            return contentType; // the usual case ("application/json"): already canonical
        }
        var text = new StringBuilder(media);
        foreach (var (name, value) in parameters ?? [])
        {
            text.Append("; ").Append(name).Append('=').Append(value);
        }
        return text.ToString();
    }

    /// <summary>More parameters than any real media type has are refused.</summary>
    private const int MaxParameters = 16;

    /// <summary>The media type (lower-case) and its parameters (null when none: nothing allocated for the usual header).</summary>
    private static bool TryParseContentType(string? contentType, out string media, out List<(string Name, string Value)>? parameters)
    {
        media = "";
        parameters = null;
        if (string.IsNullOrWhiteSpace(contentType))
        {
            return false;
        }
        var end = contentType.IndexOf(';', StringComparison.Ordinal);
        var type = (end < 0 ? contentType : contentType[..end]).Trim();
        var slash = type.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == type.Length - 1 || !IsToken(type.AsSpan(0, slash)) || !IsToken(type.AsSpan(slash + 1)))
        {
            return false;
        }
        media = type.ToLowerInvariant();
        var i = end < 0 ? contentType.Length : end;
        while (i < contentType.Length)
        {
            i++; // past ';'
            while (i < contentType.Length && contentType[i] is ' ' or '\t')
            {
                i++;
            }
            if (i == contentType.Length || contentType[i] == ';')
            {
                continue; // an empty parameter (RFC 9110 allows them)
            }
            var equals = contentType.IndexOf('=', i);
            if (equals < 0 || !IsToken(contentType.AsSpan(i, equals - i)))
            {
                return false;
            }
            var name = contentType[i..equals].ToLowerInvariant();
            i = equals + 1;
            string value;
            if (i < contentType.Length && contentType[i] == '"')
            {
                var start = i++;
                while (i < contentType.Length && contentType[i] != '"')
                {
                    // RFC 9110 qdtext and quoted-pair: HTAB and visible ASCII only (no controls,
                    // and no obs-text, which the forwarder could not send).
                    var pair = contentType[i] == '\\' ? 2 : 1;
                    if (i + pair > contentType.Length || contentType[i + pair - 1] is not ('\t' or (>= ' ' and <= '~')))
                    {
                        return false;
                    }
                    i += pair;
                }
                if (i >= contentType.Length)
                {
                    return false; // an unterminated quoted string
                }
                value = contentType[start..++i];
            }
            else
            {
                var stop = contentType.IndexOf(';', i);
                value = (stop < 0 ? contentType[i..] : contentType[i..stop]).TrimEnd(' ', '\t');
                i = stop < 0 ? contentType.Length : stop;
                if (!IsToken(value))
                {
                    return false;
                }
            }
            while (i < contentType.Length && contentType[i] is ' ' or '\t')
            {
                i++;
            }
            if (i < contentType.Length && contentType[i] != ';')
            {
                return false; // text after a quoted string
            }
            parameters ??= [];
            // Bounded, so the duplicate check stays cheap (it runs before any approval check).
            if (parameters.Count == MaxParameters || parameters.Exists(p => p.Name == name))
            {
                return false;
            }
            parameters.Add((name, value));
        }
        return true;
    }

    /// <summary>RFC 9110 token: <c>!#$%&amp;'*+-.^_`|~</c>, digits and letters, at least one.</summary>
    private static bool IsToken(ReadOnlySpan<char> text) => !text.IsEmpty && !text.ContainsAnyExcept(TokenChars);

    private static readonly System.Buffers.SearchValues<char> TokenChars =
        System.Buffers.SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>A charset value that names UTF-8: <c>utf-8</c> or <c>utf8</c> (a common spelling every decoder that knows it reads as UTF-8), any case, quoted or not.</summary>
    private static bool IsUtf8(string value)
    {
        var bare = value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1].Trim() : value;
        return bare.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || bare.Equals("utf8", StringComparison.OrdinalIgnoreCase);
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
            if (!IsUtf8(parameters[i][(equals + 1)..].Trim()))
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

    /// <summary>At most this many characters are named in one piece of advice.</summary>
    private const int MaxNamedCharacters = 8;

    /// <summary>
    /// The characters of a raw path, or query without <c>?</c>, that travel only percent-encoded:
    /// neither plain (<see cref="PlainPathChars"/>, <see cref="PlainQueryChars"/>) nor '%', each
    /// once, in order of appearance, at most eight. fetch, browsers and curl send
    /// <c>| { } ^ ` " &lt; &gt;</c> (and <c>\</c> in a query) as typed, but the forwarder
    /// (System.Uri) sends them encoded (<c>%7C</c>), so the backend would get another target than
    /// the one the approval covers. Empty (nothing allocated) when there are none.
    /// </summary>
    public static IReadOnlyList<Rune> UnencodedCharacters(string rawPathOrQuery, bool query)
    {
        ArgumentNullException.ThrowIfNull(rawPathOrQuery);
        var plain = query ? PlainQueryChars : PlainPathChars;
        List<Rune>? found = null;
        foreach (var rune in rawPathOrQuery.EnumerateRunes())
        {
            if (rune.IsAscii && (rune.Value == '%' || plain.Contains((char)rune.Value)))
            {
                continue;
            }
            found ??= [];
            if (!found.Contains(rune))
            {
                found.Add(rune);
                if (found.Count == MaxNamedCharacters)
                {
                    break;
                }
            }
        }
        return found ?? (IReadOnlyList<Rune>)[];
    }

    /// <summary>
    /// What to do about <see cref="UnencodedCharacters"/>, for the gateway's refusal and the CLI's:
    /// <c>percent-encode '|' as %7C, '{' as %7B</c> (the UTF-8 bytes for a non-ASCII character).
    /// </summary>
    public static string EncodingAdvice(IReadOnlyList<Rune> characters)
    {
        ArgumentNullException.ThrowIfNull(characters);
        var text = new StringBuilder("percent-encode ");
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < characters.Count; i++)
        {
            text.Append(i == 0 ? "'" : ", '").Append(characters[i].ToString()).Append("' as ");
            var length = characters[i].EncodeToUtf8(utf8);
            foreach (var b in utf8[..length])
            {
                text.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return text.ToString();
    }

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
        var path = rawPath.AsSpan();
        foreach (var range in path.Split('/'))
        {
            // A dot segment with path parameters ("..;x") is a dot segment to servlet containers.
            var segment = path[range];
            var name = segment.IndexOf(';') is >= 0 and var p ? segment[..p] : segment;
            if (IsDotSegment(name))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// A "." or ".." path segment (RFC 3986 section 5.2.4), each dot written or encoded
    /// (<c>%2E</c>, either case): what a server resolving dot segments removes.
    /// </summary>
    public static bool IsDotSegment(ReadOnlySpan<char> segment)
    {
        var dots = 0;
        while (!segment.IsEmpty && dots <= 2)
        {
            if (segment[0] == '.')
            {
                segment = segment[1..];
            }
            else if (segment.Length >= 3 && segment[0] == '%' && segment[1] == '2' && (segment[2] | 0x20) == 'e')
            {
                segment = segment[3..];
            }
            else
            {
                return false;
            }
            dots++;
        }
        return segment.IsEmpty && dots is 1 or 2;
    }
}
