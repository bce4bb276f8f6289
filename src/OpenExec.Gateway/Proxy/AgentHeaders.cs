using System.Buffers;
using Microsoft.Extensions.Primitives;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// Which of the agent's request headers a backend gets (SPEC section 5): the ones never
/// forwarded, hop-by-hop ones, their look-alikes spelt with '_', and values the forwarder could
/// not send. Neither the scan nor the drop allocates for an ordinary request: the forwarder
/// enumerates the same headers afterwards, and Kestrel reuses one enumerator per request only
/// for the first enumeration (a second one, taken here, cost ~100 bytes per request).
/// </summary>
internal static class AgentHeaders
{
    /// <summary>Request headers that never reach a backend, pass-through routes included (SPEC section 5).</summary>
    public static readonly string[] Dropped =
    [
        "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "Expect", "OpenExec-Approval",
        // The gateway's own nonce header, on a pass-through too (nothing was claimed there); an
        // action route sends the nonce as Idempotency-Key, a pass-through the agent's own key.
        "OpenExec-Nonce",
        // Overrides of the path or method some backends honour (IIS-era rewrites, Symfony, Zend):
        // the approval covers the method and path as sent, not these.
        "X-Original-URL", "X-Rewrite-URL", "X-Original-Method", "X-Override-Method",
        // What a proxy says about where the request went; the gateway is that proxy (a route's
        // own transform may still set one: transforms run after this).
        "X-Forwarded-Host", "Forwarded", "X-Forwarded-Port", "X-Forwarded-Server", "X-Host", "X-Original-Host",
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer", "Upgrade",
        "HTTP2-Settings",
    ];

    /// <summary>The agent's nonce headers: an action's backend gets the nonce once, as <c>Idempotency-Key</c> (<c>OpenExec-Nonce</c> is dropped on every route).</summary>
    public static readonly string[] Nonce = ["OpenExec-Nonce", "Idempotency-Key"];

    /// <summary>Headers an action route's forwarding sets or has checked (besides the nonce).</summary>
    private static readonly string[] Controlled =
        ["Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Transfer-Encoding", "Accept-Encoding"];

    /// <summary>
    /// One pass over the request's headers: the name of the first the forwarder would send but
    /// could not (a character outside ASCII), or null; and whether any name has a '_' (then
    /// <see cref="Drop"/> looks for look-alikes). Headers it does not send are not looked at for
    /// ASCII (the ones dropped, those named in <c>Connection</c>, <c>Host</c>, on an action route
    /// the nonce and approval, the X-Forwarded ones YARP sets), and none is when
    /// <paramref name="checkAscii"/> is false (the cluster's client sends headers in an encoding of
    /// its own: YARP's <c>HttpClient:RequestHeaderEncoding</c>). The headers are copied into a
    /// pooled array rather than enumerated (see the class summary).
    /// </summary>
    public static (string? Unsendable, bool Underscored) Scan(IHeaderDictionary headers, bool actionRoute, bool checkAscii)
    {
        var count = headers.Count;
        var copy = ArrayPool<KeyValuePair<string, StringValues>>.Shared.Rent(count);
        try
        {
            headers.CopyTo(copy, 0);
            var underscored = false;
            for (var i = 0; i < count; i++)
            {
                var (name, values) = copy[i];
                underscored |= name.Contains('_', StringComparison.Ordinal);
                if (!checkAscii)
                {
                    continue;
                }
                for (var v = 0; v < values.Count; v++)
                {
                    if (values[v] is { } value && !System.Text.Ascii.IsValid(value) && !NotForwarded(name, headers, actionRoute))
                    {
                        return (name, underscored);
                    }
                }
            }
            return (null, underscored);
        }
        finally
        {
            Array.Clear(copy, 0, count);
            ArrayPool<KeyValuePair<string, StringValues>>.Shared.Return(copy);
        }
    }

    private static bool NotForwarded(string name, IHeaderDictionary headers, bool actionRoute)
    {
        if (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || StopsHere(name, actionRoute) || IsLookAlike(name, actionRoute))
        {
            return true;
        }
        return NamedInConnection(headers).Contains(name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A name spelt with '_' that a backend reading '_' as '-' takes for a header the gateway drops
    /// or controls. CGI-style servers (WSGI, Rack, PHP) turn both <c>X-HTTP-Method-Override</c> and
    /// <c>X_HTTP_Method_Override</c> into <c>HTTP_X_HTTP_METHOD_OVERRIDE</c>: the look-alike would
    /// carry what the gateway removed (a method override, another Host, a second Idempotency-Key)
    /// past it. On an action route the headers its forwarding sets count too.
    /// </summary>
    private static bool IsLookAlike(string name, bool actionRoute)
    {
        if (!name.Contains('_', StringComparison.Ordinal))
        {
            return false;
        }
        var reading = name.Replace('_', '-');
        return StopsHere(reading, actionRoute) || (actionRoute && Controlled.Contains(reading, StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>A header the gateway does not pass on: never forwarded (SPEC section 5), the X-Forwarded ones YARP sets, and on an action route the agent's nonce headers.</summary>
    private static bool StopsHere(string name, bool actionRoute)
        => name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase)
            || Dropped.Contains(name, StringComparer.OrdinalIgnoreCase)
            || (actionRoute && Nonce.Contains(name, StringComparer.OrdinalIgnoreCase));

    /// <summary>The header names the client listed in <c>Connection</c>: hop-by-hop too (RFC 9110 7.6.1).</summary>
    private static IEnumerable<string> NamedInConnection(IHeaderDictionary headers)
        => headers.Connection.SelectMany(value => (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>
    /// Removes hop-by-hop headers, those the agent named in <c>Connection</c>, the ones SPEC
    /// section 5 never forwards, and (when <paramref name="underscored"/>: some name has a '_')
    /// their look-alikes (<see cref="IsLookAlike"/>).
    /// </summary>
    public static void Drop(IHeaderDictionary headers, bool actionRoute, bool underscored)
    {
        if (underscored)
        {
            DropLookAlikes(headers, actionRoute);
        }
        if (headers.Connection.Count > 0)
        {
            foreach (var name in NamedInConnection(headers).ToList())
            {
                headers.Remove(name);
            }
        }
        foreach (var header in Dropped)
        {
            headers.Remove(header);
        }
    }

    // Apart, so that an ordinary request does not pay for the lambda's closure.
    private static void DropLookAlikes(IHeaderDictionary headers, bool actionRoute)
    {
        foreach (var name in headers.Keys.Where(name => IsLookAlike(name, actionRoute)).ToList())
        {
            headers.Remove(name);
        }
    }
}
