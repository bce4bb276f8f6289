using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// The gateway's ActivitySource and Meter (<c>OpenExec.Gateway</c>, SPEC section 7). Spans and
/// tags carry names, ids, decisions and codes only: never payloads, results, nonces,
/// signatures or approval headers. With no listener, starting a span costs a null check.
/// </summary>
internal static class GatewayTelemetry
{
    public const string Name = "OpenExec.Gateway";

    public static readonly ActivitySource Source = new(Name, typeof(GatewayTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly Meter Meter = new(Name);

    private static readonly Counter<long> Executions = Meter.CreateCounter<long>("openexec.executions", "{attempt}", "Attempts that reached a decision, by decision and action");

    private static readonly Counter<long> Denials = Meter.CreateCounter<long>("openexec.denials", "{attempt}", "Attempts refused, by code");

    /// <summary>
    /// Bucket bounds in seconds for the duration histograms, ASP.NET Core's for
    /// <c>http.server.request.duration</c>: given as advice, so every SDK that honours it uses them.
    /// Without it an SDK picks its default bounds, meant for milliseconds (0, 5, 10, ... 10000),
    /// and every call of under 5 s fell in one bucket.
    /// </summary>
    public static readonly IReadOnlyList<double> SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private static readonly InstrumentAdvice<double> SecondsAdvice = new() { HistogramBucketBoundaries = SecondsBuckets };

    private static readonly Histogram<double> PipelineDuration = Meter.CreateHistogram("openexec.pipeline.duration", "s", "Time from request to recorded decision, by decision", tags: null, SecondsAdvice);

    private static readonly Histogram<double> StoreDuration = Meter.CreateHistogram("openexec.store.duration", "s", "Store operation latency, by operation", tags: null, SecondsAdvice);

    public static class Spans
    {
        public const string Validate = "openexec.validate";
        public const string ApprovalVerify = "openexec.approval.verify";
        public const string NonceClaim = "openexec.nonce.claim";
        public const string ActionInvoke = "openexec.action.invoke";
        public const string ReceiptWrite = "openexec.receipt.write";
    }

    public static class Tags
    {
        public const string Action = "openexec.action";
        public const string ExecId = "openexec.exec_id";
        public const string Decision = "openexec.decision";
        public const string Code = "openexec.code";
        public const string Tenant = "openexec.tenant";
        public const string Receipt = "openexec.receipt";
    }

    public static Activity? Start(string name) => Source.StartActivity(name, ActivityKind.Internal);

    /// <summary>
    /// A span (a child of the current one) that began when <paramref name="since"/> did: a part of
    /// one operation that is known to have happened only once the operation returned.
    /// </summary>
    public static Activity? StartSince(string name, Activity? since)
    {
        var span = Start(name);
        if (span is not null && since is not null)
        {
            span.SetStartTime(since.StartTimeUtc);
        }
        return span;
    }

    /// <summary>
    /// Records a decided attempt: tags on the request's server span (so one span answers "what
    /// happened"), the counters and the duration.
    /// </summary>
    /// <param name="answered">The agent was answered before this receipt was written (a record
    /// retried in the background): its refusal was counted then, so no denial is counted again.</param>
    public static void Decided(string action, string execId, string tenant, string decision, string? code, string? receipt, long startTimestamp, bool answered = false)
    {
        var span = Activity.Current;
        while (span is not null && span.Source.Name == Name)
        {
            // Tag the server span, not one of ours that happens to be current.
            span = span.Parent;
        }
        // Without an SDK the server span only carries trace context (nothing records it): no tags.
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag(Tags.Action, action);
            span.SetTag(Tags.ExecId, execId);
            span.SetTag(Tags.Tenant, tenant);
            span.SetTag(Tags.Decision, decision);
            span.SetTag(Tags.Code, code);
            span.SetTag(Tags.Receipt, receipt);
            if (decision != Pipeline.Decisions.Executed)
            {
                span.SetStatus(ActivityStatusCode.Error, code);
            }
        }
        var actionTag = new KeyValuePair<string, object?>(Tags.Action, action);
        var decisionTag = new KeyValuePair<string, object?>(Tags.Decision, decision);
        Executions.Add(1, decisionTag, actionTag);
        if (code is not null && decision != Pipeline.Decisions.Executed && !answered)
        {
            Denials.Add(1, new KeyValuePair<string, object?>(Tags.Code, code));
        }
        PipelineDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, decisionTag);
    }

    /// <summary>
    /// The outcome_unknown receipt of a claim whose holder died (written at start, or by the
    /// instance that took the claim over): a decision, counted in <c>openexec.executions</c>. Not a
    /// denial (no agent is answered with it) and no duration (the attempt began in another life
    /// of the gateway, maybe hours ago).
    /// </summary>
    public static void Recovered(Core.Receipts.ReceiptBody body)
        => Executions.Add(1, new KeyValuePair<string, object?>(Tags.Decision, body.Decision), new KeyValuePair<string, object?>(Tags.Action, body.Action));

    /// <summary>
    /// A refusal before the pipeline (steps 1–2, limits): counted, no receipt; the code goes on
    /// the request's server span (<paramref name="requestSpan"/>), not on whichever of our spans
    /// is open when the problem is written.
    /// </summary>
    public static void Refused(string code, Activity? requestSpan)
    {
        Denials.Add(1, new KeyValuePair<string, object?>(Tags.Code, code));
        if ((requestSpan ?? Activity.Current) is { IsAllDataRequested: true } span)
        {
            span.SetTag(Tags.Code, code);
            span.SetStatus(ActivityStatusCode.Error, code);
        }
    }

    public static void StoreOperation(string operation, long startTimestamp)
        => StoreDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, new KeyValuePair<string, object?>("openexec.store.operation", operation));

    /// <summary>
    /// The code an agent is answered with when a store operation throws <paramref name="exception"/>
    /// (503 <c>store_unavailable</c>, or 504 <c>outcome_unknown</c> once the action ran: see
    /// <see cref="Http.GatewayErrorMiddleware"/>), or null when it is no store failure.
    /// </summary>
    public static string? StoreFailureCode(Exception exception) => exception switch
    {
        Store.OutcomeNotRecordedException => "outcome_unknown",
        Store.StoreUnavailableException => "store_unavailable",
        _ => null,
    };

    /// <summary>
    /// A call to a backend (<c>openexec.action.invoke</c>) ended in <paramref name="outcome"/>: failed,
    /// with its code, unless the action executed (nothing sent, a backend 5xx, an outcome unknown).
    /// </summary>
    public static void Invoked(Activity? span, Pipeline.ExecutionOutcome outcome)
    {
        if (outcome.Decision != Pipeline.Decisions.Executed)
        {
            Fail(span, outcome.Code ?? outcome.Decision);
        }
    }

    /// <summary>Marks one of our spans as failed with a code.</summary>
    public static void Fail(Activity? span, string code)
    {
        if (span is null)
        {
            return;
        }
        span.SetTag(Tags.Code, code);
        span.SetStatus(ActivityStatusCode.Error, code);
    }
}
