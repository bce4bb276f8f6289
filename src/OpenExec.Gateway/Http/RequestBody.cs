using Microsoft.AspNetCore.Http.Features;
using OpenExec.Core.Buffers;

namespace OpenExec.Gateway.Http;

/// <summary>
/// Reads a request body once, within the size limit, into a pooled buffer. The exact bytes
/// read are the bytes hashed and, for a proxied call, the bytes forwarded.
/// </summary>
internal static class RequestBody
{
    /// <summary>The result of reading: the bytes, or the problem to answer.</summary>
    internal readonly record struct ReadResult(PooledBufferWriter? Body, int Status, string? Code, string? Detail)
    {
        public bool Ok => Body is not null;
    }

    /// <summary>How many wire bytes per body byte a chunked request may take before Kestrel stops it.</summary>
    private const long ChunkedFramingAllowance = 8;

    /// <summary>Where Kestrel puts a Content-Length that arrived beside Transfer-Encoding.</summary>
    private const string KestrelMovedContentLength = "X-Content-Length";

    public static async ValueTask<ReadResult> ReadAsync(HttpContext context, long limit)
    {
        var request = context.Request;
        if (request.Headers.ContentEncoding.Count > 0)
        {
            return Fail(415, "unsupported_media_type", "Content-Encoding is not accepted: send the body uncompressed");
        }
        // Kestrel removes only the chunked framing and would hand us "gzip, chunked" content as
        // if it were plain: the bytes hashed would not be the bytes the client meant.
        if (request.Headers.TransferEncoding.Count > 0 && !IsChunkedOnly(request.Headers.TransferEncoding.ToString()))
        {
            return Fail(415, "unsupported_media_type", TransferCodingProblem(request.Headers.TransferEncoding.ToString()));
        }
        // Both Transfer-Encoding and Content-Length: Kestrel frames by the chunks and moves the
        // Content-Length aside (into X-Content-Length); a hop before the gateway may have framed
        // by the length. Which body the client meant is in doubt, and RFC 9112 section 6.3 says
        // to treat it as an error: nothing runs on a guess, and nothing is forwarded.
        if (request.Headers.TransferEncoding.Count > 0 && request.Headers.ContainsKey(KestrelMovedContentLength))
        {
            return Fail(400, "invalid_request", "The request has both Transfer-Encoding and Content-Length: its framing is ambiguous (RFC 9112 section 6.3); send one of them. Nothing was executed.");
        }
        if (request.ContentLength is { } declared && declared > limit)
        {
            // Answered from the declared length, the body unread. A client still sending it (no
            // Expect: 100-continue: fetch, requests) met the connection's close before it could
            // read the 413, as a broken pipe. Up to a bound, Kestrel reads the rest off and
            // discards it after the answer, and the connection stays usable; beyond, it closes.
            if (declared <= DrainedMultiple * limit && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } drained)
            {
                drained.MaxRequestBodySize = declared;
                return TooLarge(context, limit, drained: true);
            }
            return TooLarge(context, limit);
        }
        // Our own limit, on the body's bytes, is enforced below; Kestrel's is lifted so that it
        // does not throw first. Kestrel counts a chunked body's framing too (size lines, chunk
        // extensions, line ends), so for one it stays a bound on what is read off the wire, far
        // enough out that no honest chunking (5 bytes of framing per byte at worst) reaches it.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = request.ContentLength is null ? ChunkedFramingAllowance * (limit + 1) : limit + 1;
        }

        var buffer = new PooledBufferWriter((int)Math.Min(request.ContentLength ?? 4096, limit) + 1);
        try
        {
            while (true)
            {
                var memory = buffer.GetMemory(4096);
                int read;
                try
                {
                    read = await request.Body.ReadAsync(memory, context.RequestAborted).ConfigureAwait(false);
                }
                catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    buffer.Dispose();
                    return TooLarge(context, limit);
                }
                catch (IOException ex) when (ex is not BadHttpRequestException && !context.RequestAborted.IsCancellationRequested)
                {
                    // Kestrel reports some malformed chunked framing (a chunk size that overflows)
                    // as a bare IOException: the client's error, not ours.
                    buffer.Dispose();
                    return Fail(400, "invalid_request", "The request body's framing is malformed");
                }
                if (read == 0)
                {
                    break;
                }
                buffer.Advance(read);
                if (buffer.WrittenCount > limit)
                {
                    buffer.Dispose();
                    return TooLarge(context, limit);
                }
            }
            return new ReadResult(buffer, 0, null, null);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>The refusal of a JSON body that names a charset other than UTF-8.</summary>
    public const string Utf8Only = "A JSON body must be UTF-8: send no charset or charset=utf-8";

    /// <summary>
    /// Reads a JSON request body that must be an object: content type, size, strict JSON. On any
    /// failure the problem is already written and null is returned.
    /// </summary>
    public static async ValueTask<OpenExec.Core.Json.StrictObject?> ReadJsonObjectAsync(HttpContext context, long limit)
    {
        if (!IsJson(context.Request.ContentType))
        {
            await Problem.WriteAsync(context, 415, "unsupported_media_type", "Content-Type must be application/json").ConfigureAwait(false);
            return null;
        }
        if (OpenExec.Core.Approvals.ProxiedRequestPayload.NamesOtherCharset(context.Request.ContentType))
        {
            // The body is read as UTF-8: bytes a client wrote in another charset would run as
            // another request than it meant (as on the proxied door).
            await Problem.WriteAsync(context, 415, "unsupported_media_type", Utf8Only).ConfigureAwait(false);
            return null;
        }
        var read = await ReadAsync(context, limit).ConfigureAwait(false);
        if (!read.Ok)
        {
            await Problem.WriteAsync(context, read.Status, read.Code!, read.Detail!).ConfigureAwait(false);
            return null;
        }
        using (read.Body)
        {
            var (value, code, detail) = ParseObject(read.Body!.WrittenSpan);
            if (value is null)
            {
                await Problem.WriteAsync(context, 400, code!, detail!).ConfigureAwait(false);
            }
            return value;
        }
    }

    /// <summary>Strict JSON that must be an object; the refusal's code and detail otherwise.</summary>
    public static (OpenExec.Core.Json.StrictObject? Value, string? Code, string? Detail) ParseObject(ReadOnlySpan<byte> body)
    {
        try
        {
            return OpenExec.Core.Json.StrictJson.Parse(body) is OpenExec.Core.Json.StrictObject obj
                ? (obj, null, null)
                : (null, "invalid_json", "The request body must be a JSON object");
        }
        catch (OpenExec.Core.Json.StrictJsonException ex)
        {
            return (null, ex.Code, ex.Message);
        }
    }

    /// <summary>
    /// <c>application/json</c> (SPEC section 3), parameters aside: the gateway's own API, not a
    /// structured-syntax type (<c>application/*+json</c>) whose rules a client might take to apply.
    /// </summary>
    public static bool IsJson(string? contentType) => OpenExec.Core.Approvals.ProxiedRequestPayload.MediaType(contentType) == "application/json";

    /// <summary>What is wrong with a Transfer-Encoding other than a single <c>chunked</c>, said as it is.</summary>
    private static string TransferCodingProblem(string transferEncoding)
    {
        var codings = transferEncoding.Split(',', StringSplitOptions.TrimEntries);
        return codings.All(c => c.Equals("chunked", StringComparison.OrdinalIgnoreCase))
            ? $"Transfer-Encoding names chunked {codings.Length} times: chunk the body once (send Transfer-Encoding: chunked once) or send a Content-Length"
            : "Transfer-Encoding other than chunked is not accepted: send the body uncompressed, chunked or with a Content-Length";
    }

    private static bool IsChunkedOnly(string transferEncoding) =>
        string.Equals(transferEncoding.Trim(), "chunked", StringComparison.OrdinalIgnoreCase);

    private static ReadResult Fail(int status, string code, string detail) => new(null, status, code, detail);

    /// <summary>How large a declared body, in multiples of the limit, is still read off and discarded after its 413.</summary>
    internal const long DrainedMultiple = 8;

    /// <summary>
    /// 413. Unless the rest of the body is drained, the connection closes after it (Kestrel
    /// cannot read more than its limit either), and the answer says so: a client must not send
    /// its next request on it, and learns that from the answer, not from a broken pipe.
    /// </summary>
    private static ReadResult TooLarge(HttpContext context, long limit, bool drained = false)
    {
        // HTTP/2 and 3 have no Connection header (Kestrel strips it, with a warning each time):
        // there the rest of the stream is refused with a reset instead.
        if (!drained && !HttpProtocol.IsHttp2(context.Request.Protocol) && !HttpProtocol.IsHttp3(context.Request.Protocol))
        {
            context.Response.Headers.Connection = "close";
        }
        return Fail(413, "body_too_large", $"Request body is larger than the {limit}-byte limit");
    }
}
