namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// <c>OTEL_EXPORTER_OTLP_HEADERS</c> (and its <c>_TRACES_</c>, <c>_METRICS_</c>, <c>_LOGS_</c> forms) read
/// as the OTLP exporter reads it, so that a value it cannot take is refused at start-up, naming
/// the setting: the exporter throws while the host starts, and the unhandled ArgumentException
/// aborted the process (exit 134). The exporter (1.20) URL-decodes the whole value, splits it at
/// every ',' (a trailing one ends the list) and needs a '=' in each pair; it trims key and value
/// and adds them to a dictionary that also holds its own <c>User-Agent</c>, so a key given twice, or
/// <c>User-Agent</c> spelt exactly so, throws too. A pair with no name, a name that is no HTTP
/// token, or a value HttpClient will not send, it takes, but then fails every export (adding the
/// header or sending it throws, reported only to an EventSource): refused too. HttpClient refuses
/// a value holding CR, LF or NUL as the header is added, and one holding any character outside
/// ASCII as the request is sent (over HTTP/1.1 and HTTP/2 alike); other control characters
/// (a tab, %01, %7F) it sends.
/// </summary>
internal static class OtlpHeaders
{
    private const string ExporterOwn = "User-Agent";

    /// <summary>
    /// Why the exporter would refuse <paramref name="value"/>, or null. Pairs are named by position,
    /// never quoted: keys and values may hold API keys (a value with a ',' splits there, and its
    /// rest reads as a key).
    /// </summary>
    public static string? Problem(string value)
    {
        // What the exporter reads as unset.
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }
        var keys = new Dictionary<string, int>(StringComparer.Ordinal) { [ExporterOwn] = 0 };
        var rest = Uri.UnescapeDataString(value).AsSpan();
        for (var position = 1; !rest.IsEmpty; position++)
        {
            var comma = rest.IndexOf(',');
            var pair = comma < 0 ? rest : rest[..comma];
            rest = comma < 0 ? [] : rest[(comma + 1)..];
            var equals = pair.IndexOf('=');
            if (equals < 0)
            {
                return $"pair {position} has no '=': write key=value pairs separated by commas (key1=value1,key2=value2); a value cannot hold a ',', not even as %2C (the exporter decodes the whole value before it splits it)";
            }
            var key = pair[..equals].Trim().ToString();
            // Taken at start-up, but each export adds the pairs as HTTP headers, which throws for
            // these: every export then failed, reported only to an EventSource nobody reads.
            if (key.Length == 0)
            {
                return $"pair {position} has no header name before its '='";
            }
            if (!IsToken(key))
            {
                return $"pair {position}'s name is no HTTP header name: use letters, digits and !#$%&'*+-.^_`|~ only (no spaces)";
            }
            // Trimmed as the exporter trims it (a trailing line break, or a non-breaking space, goes).
            var headerValue = pair[(equals + 1)..].Trim();
            if (headerValue.IndexOfAny('\r', '\n', '\0') >= 0)
            {
                return $"pair {position}'s value holds a line break or NUL (%0D, %0A or %00), which no header value may";
            }
            if (!System.Text.Ascii.IsValid(headerValue))
            {
                return $"pair {position}'s value holds a character outside ASCII (such as %C3%A9, an é), which HttpClient does not send in a header: use ASCII characters only";
            }
            if (keys.TryGetValue(key, out var first))
            {
                return first == 0
                    ? $"pair {position} sets {ExporterOwn}, which the exporter sets itself: remove it"
                    : $"pairs {first} and {position} name the same header: give each header once";
            }
            keys[key] = position;
        }
        return null;
    }

    /// <summary>An RFC 9110 token: what a header name may be made of.</summary>
    private static bool IsToken(string name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }
        return true;
    }
}
