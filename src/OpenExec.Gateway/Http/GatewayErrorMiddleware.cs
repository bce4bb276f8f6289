using OpenExec.Core.Text;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Http;

/// <summary>
/// The last line: a store that cannot answer means 503 and nothing executed (fail closed);
/// Kestrel's own refusals and routing misses get a problem body with a code too. It also keeps
/// the in-flight limit (<paramref name="maxConcurrentRequests"/>: past it, 503 <c>overloaded</c>
/// instead of queueing without bound), counting every request it lets in until that request's
/// answer is done; the rate limiter, when on, runs after it. One middleware rather than two: each
/// that waits for the rest of the pipeline costs a Task per request.
/// </summary>
internal sealed partial class GatewayErrorMiddleware(RequestDelegate next, ILogger<GatewayErrorMiddleware> log, int maxConcurrentRequests)
{
    private int _inFlight;

    /// <summary>A store failure is logged with its exception (its stack, Redis's diagnostics) once per outage burst, not per request.</summary>
    private readonly Hosting.LogThrottle _storeLog = new(TimeSpan.FromSeconds(10));

    // A pooled state machine (PerRequestAsync): an async Task here was ~0.15 KB per request that waits.
    public Task InvokeAsync(HttpContext context) => GuardedAsync(context).AsTask();

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(Pipeline.PerRequestAsync))]
    private async ValueTask GuardedAsync(HttpContext context)
    {
        if (RemovedDotSegments(context))
        {
            // Kestrel removes "." and ".." segments ("%2E" ones too) before routing: "/api/../execute"
            // reached /execute, "/api/%2e%2e/x" a 404, where the path as sent names a route.
            await Problem.WriteAsync(context, 400, "path_not_canonical", "The request path must be canonical: no '.' or '..' segments (encoded or not); the gateway routes the path as sent. Nothing was executed.").ConfigureAwait(false);
            return;
        }
        var counted = false;
        try
        {
            if (context.GetEndpoint()?.Metadata.GetMetadata<OutsideConcurrencyLimit>() is null)
            {
                counted = true;
                if (Interlocked.Increment(ref _inFlight) > maxConcurrentRequests)
                {
                    await ServiceEndpoints.WriteLimitedAsync(context, 503, "overloaded", "Too many requests in flight; nothing was executed. Retry later.").ConfigureAwait(false);
                    return;
                }
            }
            await next(context).ConfigureAwait(false);
        }
        catch (OutcomeNotRecordedException ex)
        {
            LogStore(ex);
            if (CutIfStarted(context))
            {
                return;
            }
            // Whatever a backend said is withheld: it was never receipted.
            context.Response.Headers.Clear();
            context.Response.Headers["OpenExec-Exec-Id"] = ex.ExecId;
            await Problem.WriteAsync(context, 504, "outcome_unknown", "The action may have run but its outcome could not be recorded (store unavailable); its nonce stays used and will read as outcome_unknown").ConfigureAwait(false);
            return;
        }
        catch (StoreUnavailableException ex)
        {
            LogStore(ex);
            if (CutIfStarted(context))
            {
                return;
            }
            await Problem.WriteAsync(context, 503, "store_unavailable", Actions.GatewayPaths.ReadsEvidence(context.Request.Path)
                ? "The store is unavailable: receipts and keys cannot be read now. Retry later."
                : "The store is unavailable; nothing was executed. Retry later.").ConfigureAwait(false);
            return;
        }
        catch (BadHttpRequestException ex)
        {
            if (CutIfStarted(context))
            {
                return;
            }
            var (code, detail) = ex.StatusCode switch
            {
                413 => ("body_too_large", "Request body is larger than the limit"),
                408 => ("invalid_request", "The request body arrived too slowly; nothing was executed."),
                _ => ("invalid_request", "The HTTP request is malformed"),
            };
            await Problem.WriteAsync(context, ex.StatusCode, code, detail).ConfigureAwait(false);
            return;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // The agent went (over HTTP/2 a reset stream or a faulted connection fails the body
            // read with an IOException): nothing is left to answer, and no error to log: one
            // client resetting streams mid-body wrote a stack per stream at Error level.
            return;
        }
        catch (Exception ex)
        {
            LogUnhandled(log, ex);
            if (CutIfStarted(context))
            {
                return;
            }
            await Problem.WriteAsync(context, 500, "internal_error", "Internal error; nothing more was executed for this request").ConfigureAwait(false);
            return;
        }
        finally
        {
            if (counted)
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        // Only the gateway's own misses: a backend's answer on a proxied route passes unchanged.
        if (!context.Response.HasStarted && context.Response.ContentLength is null or 0
            && context.Features.Get<Yarp.ReverseProxy.Model.IReverseProxyFeature>() is null)
        {
            switch (context.Response.StatusCode)
            {
                case 404:
                    await Problem.WriteAsync(context, 404, "not_found", $"No endpoint at {context.Request.Method} {Path(context)}").ConfigureAwait(false);
                    break;
                case 405:
                    await Problem.WriteAsync(context, 405, "method_not_allowed", $"Method {context.Request.Method} is not allowed here").ConfigureAwait(false);
                    break;
            }
        }
    }

    /// <summary>
    /// True when the request target's path holds a "." or ".." segment, written or encoded
    /// (<c>%2E</c>): a path Kestrel normalized before routing, so the request would reach another
    /// endpoint or route than the one its path names.
    /// </summary>
    internal static bool RemovedDotSegments(HttpContext context)
    {
        var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(target) || (!target.Contains('.', StringComparison.Ordinal) && !target.Contains("%2", StringComparison.Ordinal)))
        {
            return false;
        }
        var path = target.AsSpan();
        if (path[0] != '/')
        {
            // Absolute form: the path begins after the authority.
            var authority = path.IndexOf("://", StringComparison.Ordinal);
            if (authority < 0)
            {
                return false;
            }
            path = path[(authority + 3)..];
            var slash = path.IndexOf('/');
            path = slash < 0 ? [] : path[slash..];
        }
        var end = path.IndexOfAny('?', '#');
        if (end >= 0)
        {
            path = path[..end];
        }
        foreach (var range in path.Split('/'))
        {
            if (OpenExec.Core.Approvals.ProxiedRequestPayload.IsDotSegment(path[range]))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// An answer already under way cannot become a problem: its end is cut instead (the connection
    /// aborted, an HTTP/2 stream reset), so a client never takes the part it got for the whole (a
    /// receipt listing that ended cleanly after its first page audited clean).
    /// </summary>
    private static bool CutIfStarted(HttpContext context)
    {
        if (!context.Response.HasStarted)
        {
            return false;
        }
        context.Abort();
        return true;
    }

    // The path of a proxied call is part of its payload: keep it out of error text beyond a prefix.
    private static string Path(HttpContext context) => InputText.Abbreviate(context.Request.Path.Value ?? "/");

    /// <summary>
    /// One line per refused request, naming its exec id and the cause; the exception itself (a
    /// stack, and with Redis a screenful of connection diagnostics) at most every 10 s: an outage
    /// under load was thousands of lines a second.
    /// </summary>
    private void LogStore(Exception ex)
    {
        var execId = ex is OutcomeNotRecordedException unrecorded ? unrecorded.ExecId : "-";
        _storeLog.Log(ex, (log, Kind: ex.GetType().Name, execId),
            static (s, e) => LogStoreUnavailable(s.log, s.Kind, s.execId, e),
            static (s, reason) => LogStoreStillUnavailable(s.log, s.Kind, s.execId, reason));
    }

    [LoggerMessage(1, LogLevel.Warning, "Store unavailable ({Kind}, exec id {ExecId}): 503 store_unavailable, or 504 outcome_unknown for a call that ran")]
    private static partial void LogStoreUnavailable(ILogger logger, string kind, string execId, Exception exception);

    [LoggerMessage(3, LogLevel.Warning, "Store unavailable ({Kind}, exec id {ExecId}: {Reason})")]
    private static partial void LogStoreStillUnavailable(ILogger logger, string kind, string execId, string reason);

    [LoggerMessage(2, LogLevel.Error, "Unhandled error")]
    private static partial void LogUnhandled(ILogger logger, Exception exception);
}

/// <summary>Endpoint metadata: the request is not counted against <c>OpenExec:MaxConcurrentRequests</c>.</summary>
internal sealed class OutsideConcurrencyLimit
{
    public static readonly OutsideConcurrencyLimit Instance = new();
}
