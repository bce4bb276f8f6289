using System.Text.Json;
using OpenExec.Core.Buffers;
using OpenExec.Gateway.Pipeline;

namespace OpenExec.Gateway.Http;

/// <summary>
/// Errors as RFC 9457 problem details, each with its machine <c>code</c> (SPEC section 3) and,
/// where a receipt was written, its <c>id</c> and <c>receipt</c>.
/// </summary>
internal static class Problem
{
    public const string ContentType = "application/problem+json";

    public static Task WriteAsync(HttpContext context, int status, string code, string detail)
        => WriteAsync(context, status, code, detail, null);

    public static Task WriteAsync(HttpContext context, Denial denial)
    {
        if (denial.AskAgainLater)
        {
            context.Response.Headers.RetryAfter = "1";
        }
        return WriteAsync(context, denial.Status, denial.Code, denial.Detail, denial);
    }

    /// <summary>Writes a problem for an attempt that was receipted (e.g. a failed execution).</summary>
    public static Task WriteAsync(HttpContext context, int status, string code, string detail, string execId, string receipt, int? upstreamStatus = null)
        => WriteAsync(context, status, code, detail, new Denial(status, code, detail, execId, receipt, null), upstreamStatus);

    private static async Task WriteAsync(HttpContext context, int status, string code, string detail, Denial? denial, int? upstreamStatus = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }
        if (denial is null)
        {
            // Refused before the pipeline (input, limits, store): no receipt, but counted.
            Telemetry.GatewayTelemetry.Refused(code, context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpActivityFeature>()?.Activity);
        }
        response.StatusCode = status;
        response.ContentType = ContentType;
        response.Headers.CacheControl = "no-store";
        using var buffer = new PooledBufferWriter();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "urn:openexec:problem:" + code);
            json.WriteString("title", TitleFor(status));
            json.WriteNumber("status", status);
            json.WriteString("detail", detail);
            json.WriteString("code", code);
            if (denial is not null)
            {
                json.WriteString("id", denial.ExecId);
                json.WriteString("receipt", denial.Receipt);
                if (denial.Original is { } original)
                {
                    json.WriteStartObject("original");
                    json.WriteString("id", original.Id);
                    if (original.Receipt is null)
                    {
                        json.WriteNull("receipt");
                    }
                    else
                    {
                        json.WriteString("receipt", original.Receipt);
                    }
                    json.WriteString("decision", original.Decision);
                    json.WriteEndObject();
                }
            }
            if (upstreamStatus is { } upstream)
            {
                json.WriteNumber("upstream_status", upstream);
            }
            json.WriteEndObject();
        }
        response.ContentLength = buffer.WrittenCount;
        await response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    private static string TitleFor(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
}
