using Microsoft.AspNetCore.Http.Features;
using OpenExec.Core.Approvals;
using OpenExec.Core.Buffers;
using OpenExec.Core.Json;
using OpenExec.Gateway.Http;
using OpenExec.Gateway.Pipeline;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// Step 1 for a proxied call (SPEC section 5): the nonce and approval from headers, the raw
/// request target, the body read once, and the <c>{"method","path","query","body"}</c> payload
/// that the action hash covers.
/// </summary>
internal static class ProxiedRequestReader
{
    /// <summary>
    /// A proxied request as read (a value: no object per request besides its parts): the
    /// pipeline's request, the exact body bytes, and the Content-Type as hashed, which it is
    /// forwarded with (null: none); or, with no request, the refusal.
    /// </summary>
    internal readonly record struct ReadResult(ExecutionRequest? Request, PooledBufferWriter? Body, string? ContentType, int Status, string? Code, string? Detail);

    public static async ValueTask<ReadResult> ReadAsync(HttpContext context, string action, bool clawShield, bool anyApprovalId, long bodyLimit)
    {
        var http = context.Request;
        if (PathProblem(context, out var rawPath, out var rawQuery) is { } pathProblem)
        {
            return Fail(400, "path_not_canonical", pathProblem);
        }
        if (!QueryForwardsAsSent(http, rawQuery))
        {
            // The query goes out as System.Uri writes it: "%41" as "A", a broken "%zz" as "%25zz".
            return Fail(400, "invalid_query", UnencodedProblem("query", "query", rawQuery, query: true)
                ?? "The query must be forwarded exactly as sent: no escapes of unreserved characters, no '%' that does not start an escape" + EscapeAdvice(rawQuery, query: true));
        }
        if (ProxiedRequestPayload.QueryKeyCollision(rawQuery) is { } collision)
        {
            return Fail(400, "invalid_query", collision);
        }

        var nonce = ReadNonce(http.Headers, out var nonceProblem);
        if (nonceProblem is not null)
        {
            return nonceProblem.Value;
        }

        ApprovalArtifact? approval = null;
        if (clawShield && http.Headers.TryGetValue("OpenExec-Approval", out var approvalHeader))
        {
            if (approvalHeader.Count != 1)
            {
                return Fail(400, "invalid_approval", "Send exactly one OpenExec-Approval header");
            }
            try
            {
                approval = ApprovalArtifact.FromHeader(approvalHeader.ToString(), anyApprovalId);
            }
            catch (ApprovalFormatException ex)
            {
                return Fail(400, "invalid_approval", ex.Message);
            }
        }

        // The Content-Type is hashed (but for JSON) and forwarded whole, parameters included: two
        // headers (which Kestrel joins with a comma) or one that is no media type are refused.
        if (http.Headers.ContentType.Count > 1 || !ProxiedRequestPayload.TryCanonicalContentType(http.ContentType, out var contentType))
        {
            return Fail(415, "unsupported_media_type", "Send one Content-Type header, a media type with parameters written once each (type/subtype; name=value)");
        }
        if (ProxiedRequestPayload.IsJsonMediaType(http.ContentType) && ProxiedRequestPayload.NamesOtherCharset(http.ContentType))
        {
            // The hash covers the body read as UTF-8; a backend that honours the charset would
            // run another document from the same bytes.
            return Fail(415, "unsupported_media_type", RequestBody.Utf8Only);
        }
        if (http.Headers.ContainsKey("Content-Range"))
        {
            // A partial write (RFC 9110 section 14.5): the approval covers the body's bytes, not
            // the offset where a backend that honours it would write them.
            return Fail(400, "invalid_request", "Content-Range (a partial write) cannot be approved: the approval covers the body, not where it goes. Send the whole representation without Content-Range. Nothing was executed.");
        }

        var read = await RequestBody.ReadAsync(context, bodyLimit).ConfigureAwait(false);
        if (!read.Ok)
        {
            return Fail(read.Status, read.Code!, read.Detail!);
        }
        var body = read.Body!;
        StrictValue bodyValue;
        try
        {
            bodyValue = ProxiedRequestPayload.Body(http.ContentType, body.WrittenSpan);
        }
        catch (StrictJsonException ex)
        {
            body.Dispose();
            return Fail(400, ex.Code, ex.Message);
        }

        // The payload (ProxiedRequestPayload.Create's object) is only hashed: written, not built.
        var actionSha256 = ActionHash.OfProxied(action, http.Method, rawPath, rawQuery, bodyValue);
        return new ReadResult(new ExecutionRequest(action, null, nonce!, approval, actionSha256), body, contentType, 0, null, null);
    }

    /// <summary>
    /// <c>Idempotency-Key</c> (a structured-field string is unquoted) or <c>OpenExec-Nonce</c>;
    /// both with different values is a conflict; none is refused before anything else happens.
    /// </summary>
    internal static string? ReadNonce(IHeaderDictionary headers, out ReadResult? problem)
    {
        problem = null;
        string? key = null;
        if (headers.TryGetValue("Idempotency-Key", out var idempotency))
        {
            if (idempotency.Count != 1)
            {
                problem = Fail(400, "invalid_nonce", "Send exactly one Idempotency-Key header");
                return null;
            }
            key = Unquote(idempotency.ToString());
        }
        string? openExec = null;
        if (headers.TryGetValue("OpenExec-Nonce", out var nonceHeader))
        {
            if (nonceHeader.Count != 1)
            {
                problem = Fail(400, "invalid_nonce", "Send exactly one OpenExec-Nonce header");
                return null;
            }
            openExec = nonceHeader.ToString();
        }
        if (key is not null && openExec is not null && !string.Equals(key, openExec, StringComparison.Ordinal))
        {
            problem = Fail(400, "nonce_conflict", "Idempotency-Key and OpenExec-Nonce differ; send one nonce");
            return null;
        }
        var nonce = key ?? openExec;
        if (nonce is null)
        {
            problem = Fail(400, "nonce_required", "A proxied call needs a nonce: send an Idempotency-Key (or OpenExec-Nonce) header");
            return null;
        }
        if (!RequestRules.IsNonce(nonce))
        {
            problem = Fail(400, "invalid_nonce", "The nonce must be 1 to 255 printable ASCII characters");
            return null;
        }
        return nonce;
    }

    /// <summary>RFC 8941 sf-string: <c>"..."</c> with <c>\"</c> and <c>\\</c> escapes; anything else verbatim.</summary>
    private static string Unquote(string value)
    {
        if (value.Length < 2 || value[0] != '"' || value[^1] != '"')
        {
            return value;
        }
        var inner = value.AsSpan(1, value.Length - 2);
        var result = new System.Text.StringBuilder(inner.Length);
        for (var i = 0; i < inner.Length; i++)
        {
            var c = inner[i];
            if (c == '\\')
            {
                if (i + 1 >= inner.Length || inner[i + 1] is not ('"' or '\\'))
                {
                    return value;
                }
                c = inner[++i];
            }
            else if (c == '"')
            {
                return value;
            }
            result.Append(c);
        }
        return result.ToString();
    }

    /// <summary>
    /// Why the request target is not one the gateway forwards (answered <c>400
    /// path_not_canonical</c>), or null. Made on every proxied route, a pass-through one too: a
    /// dot segment (<c>..;</c> to servlet containers), an encoded '/' or a path re-encoded on the
    /// way would take a read routed to one place to another path of the backend, an action's own
    /// included.
    /// </summary>
    internal static string? PathProblem(HttpContext context, out string rawPath, out string rawQuery)
    {
        var http = context.Request;
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (http.PathBase + http.Path + http.QueryString).ToString();
        rawPath = rawQuery = "";
        if (!rawTarget.StartsWith('/'))
        {
            // Absolute form ("POST http://host/path", as a client sends to a forward proxy): the
            // gateway is the tool API's base URL, not a proxy; the hash covers the path as sent.
            return "The request target must be a path starting with '/': use the gateway as the tool API's base URL, not as an HTTP proxy";
        }
        (rawPath, rawQuery) = ProxiedRequestPayload.SplitTarget(rawTarget);
        if (!ProxiedRequestPayload.IsCanonicalPath(rawPath))
        {
            return "The request path must be canonical: no encoded '/', '\\' or '.', no '//', no '.' or '..' segments";
        }
        if (!ForwardsAsSent(http, rawPath))
        {
            // The forwarder sends the decoded path re-encoded: "%3B" would reach the backend as
            // ";" (a path parameter to many servers), "%FF" as "%25FF". The hash covers the raw
            // path, so a path that would not reach the backend byte for byte is refused.
            return UnencodedProblem("request path", "path", rawPath, query: false)
                ?? "The request path must be forwarded exactly as sent: percent-encode only characters that must be encoded" + EscapeAdvice(rawPath, query: false);
        }
        return null;
    }

    /// <summary>
    /// True when the path the forwarder will send (Kestrel's decoded path, re-encoded by YARP and
    /// canonicalized by <see cref="Uri"/>, as HttpClient writes it) is the raw path as sent, up to
    /// the case of percent-escapes' hex digits (RFC 3986 section 6.2.2.1).
    /// </summary>
    internal static bool ForwardsAsSent(HttpRequest http, string rawPath)
    {
        if (!rawPath.AsSpan().ContainsAnyExcept(ProxiedRequestPayload.PlainPathChars))
        {
            // Nothing to decode and nothing the encoder would escape: sent as written (the usual
            // path, checked without building the URI).
            return true;
        }
        var forwarded = Yarp.ReverseProxy.Forwarder.RequestUtilities.MakeDestinationAddress("http://forwarded.invalid", http.PathBase.Add(http.Path), QueryString.Empty).AbsolutePath;
        return string.Equals(UpperCaseEscapes(rawPath), forwarded, StringComparison.Ordinal);
    }

    /// <summary>As <see cref="ForwardsAsSent"/>, for the query (taken by YARP as sent, then canonicalized by <see cref="Uri"/>).</summary>
    internal static bool QueryForwardsAsSent(HttpRequest http, string rawQuery)
    {
        if (!rawQuery.AsSpan().ContainsAnyExcept(ProxiedRequestPayload.PlainQueryChars))
        {
            return true;
        }
        var forwarded = Yarp.ReverseProxy.Forwarder.RequestUtilities.MakeDestinationAddress("http://forwarded.invalid", new PathString("/"), http.QueryString).Query;
        return string.Equals("?" + UpperCaseEscapes(rawQuery), UpperCaseEscapes(forwarded), StringComparison.Ordinal);
    }

    private static string UpperCaseEscapes(string path)
    {
        if (!path.Contains('%', StringComparison.Ordinal))
        {
            return path;
        }
        var chars = path.ToCharArray();
        for (var i = 0; i + 2 < chars.Length; i++)
        {
            if (chars[i] == '%' && char.IsAsciiHexDigit(chars[i + 1]) && char.IsAsciiHexDigit(chars[i + 2]))
            {
                chars[i + 1] = char.ToUpperInvariant(chars[i + 1]);
                chars[i + 2] = char.ToUpperInvariant(chars[i + 2]);
                i += 2;
            }
        }
        return new string(chars);
    }

    /// <summary>
    /// The refusal for a target with characters a client left unencoded (<c>|</c>, <c>{</c>: fetch
    /// and curl send them so), naming each and its escape; null when the target has none, and
    /// the refusal is about its escapes.
    /// </summary>
    private static string? UnencodedProblem(string what, string approved, string raw, bool query)
    {
        var characters = ProxiedRequestPayload.UnencodedCharacters(raw, query);
        if (characters.Count == 0)
        {
            return null;
        }
        var which = characters.Count == 1 ? "a character" : "characters";
        return $"The {what} has {which} the forwarder would send percent-encoded, so the backend would not get the approved {approved}: {ProxiedRequestPayload.EncodingAdvice(characters)}, both in the request and in the {approved} the approval covers";
    }

    /// <summary>
    /// The escapes the forwarder would not send as written, named with what to write instead: one
    /// of a character that needs none (sent decoded: in a path every such character, as Kestrel
    /// decodes the path; in a query the unreserved ones, as System.Uri does), and a '%' that starts
    /// no escape (sent as %25). Empty when there is none to name (a non-UTF-8 escape, say).
    /// </summary>
    private static string EscapeAdvice(string raw, bool query)
    {
        var named = new List<string>();
        for (var i = 0; i < raw.Length && named.Count < 8; i++)
        {
            if (raw[i] != '%')
            {
                continue;
            }
            if (i + 2 >= raw.Length || !char.IsAsciiHexDigit(raw[i + 1]) || !char.IsAsciiHexDigit(raw[i + 2]))
            {
                named.Add("a '%' that starts no escape as %25");
                continue;
            }
            var c = (char)Convert.ToByte(raw.Substring(i + 1, 2), 16);
            var decoded = query ? char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' : c != '/' && ProxiedRequestPayload.PlainPathChars.Contains(c);
            if (decoded)
            {
                named.Add($"'{raw.AsSpan(i, 3)}' as '{c}'");
            }
            i += 2;
        }
        return named.Count == 0 ? "" : $" (write {string.Join(", ", named.Distinct())}: that is how the forwarder sends {(named.Count == 1 ? "it" : "them")}, in the request and in what the approval covers)";
    }

    private static ReadResult Fail(int status, string code, string detail) => new(null, null, null, status, code, detail);
}
