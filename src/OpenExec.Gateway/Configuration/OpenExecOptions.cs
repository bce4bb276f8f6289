namespace OpenExec.Gateway.Configuration;

/// <summary>
/// The gateway's settings (configuration section <c>OpenExec</c>). Defaults and ranges are
/// here and in the README's configuration table; <see cref="OpenExecOptionsValidator"/> checks
/// them all at start-up and reports every problem at once.
/// </summary>
internal sealed record OpenExecOptions
{
    public const string Section = "OpenExec";

    /// <summary><c>demo</c> (default: no approval needed, loopback only) or <c>clawshield</c>.</summary>
    public string Mode { get; init; } = "demo";

    /// <summary>Embedded store, gateway id and receipt-signing key. Default <c>./data</c>.</summary>
    public string DataDir { get; init; } = "./data";

    /// <summary>ClawShield public keys: one or more Ed25519 SubjectPublicKeyInfo PEM blocks. Required in clawshield mode.</summary>
    public string? PublicKey { get; init; }

    /// <summary>The tenant approvals must name. Required in clawshield mode unless <see cref="AllowAnyTenant"/>.</summary>
    public string? TenantId { get; init; }

    /// <summary>Accept approvals for any tenant (warned about in /health). Default false.</summary>
    public bool AllowAnyTenant { get; init; }

    /// <summary>
    /// Accept any approval_id, not only a UUID (warned about in /health). Default false: with any
    /// id, an approval for a tenant whose id ends with the pinned one can be re-cut to run here.
    /// </summary>
    public bool AllowAnyApprovalId { get; init; }

    /// <summary>Comma-separated action allow-list; empty means every known action may run (warned about).</summary>
    public string? AllowedActions { get; init; }

    /// <summary>Let demo mode listen on a non-loopback address. Default false.</summary>
    public bool AllowDemoOnNetwork { get; init; }

    /// <summary>Largest request body accepted, bytes. Default 1 MiB; 1 KiB..64 MiB.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;

    /// <summary>Clock skew allowed on approval timestamps. Default 30 s; 0..10 min.</summary>
    public TimeSpan ClockSkew { get; init; } = Core.Approvals.ApprovalWindow.DefaultSkew;

    /// <summary>Longest approval lifetime (expires_at - issued_at) accepted. Default 24 h (the CLI's approve warns above it).</summary>
    public TimeSpan MaxApprovalLifetime { get; init; } = Core.Approvals.ApprovalWindow.DefaultMaxLifetime;

    /// <summary>
    /// How long used nonces are kept. Embedded store default: forever (unset); Redis: 30 days.
    /// Never shorter than the longest approval lifetime plus twice the skew in clawshield mode.
    /// </summary>
    public TimeSpan? NonceRetention { get; init; }

    /// <summary>Bound on one routed backend call. Default 30 s.</summary>
    public TimeSpan BackendTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Per-client rate limit (<c>OpenExec:RateLimit</c>).</summary>
    public RateLimitOptions RateLimit { get; init; } = new();

    /// <summary>Requests in flight before 503 <c>overloaded</c>. Default 4096; 1..1,000,000.</summary>
    public int MaxConcurrentRequests { get; init; } = 4096;

    /// <summary>Bearer tokens for the /receipts endpoints; none set = open (warned in clawshield mode).</summary>
    public string[] AuditTokens { get; init; } = [];

    /// <summary>A PKCS#8 PEM file with the receipt-signing key; default: generated into the data dir.</summary>
    public string? ReceiptKeyPath { get; init; }

    /// <summary>Largest routed response buffered before its receipt is written. Default 1 MiB.</summary>
    public long MaxBufferedResponse { get; init; } = 1 << 20;

    /// <summary><c>OpenExec:Telemetry</c> (read where telemetry is set up; here so that it is a known setting, of its type).</summary>
    public TelemetryOptions Telemetry { get; init; } = new();

    /// <summary>
    /// The mode as start-up validated it (trimmed, any case): one reading for the check and for
    /// every decision after it, so a value the check took for clawshield never runs as demo.
    /// </summary>
    public string? NormalizedMode => Mode?.Trim().ToLowerInvariant();

    public bool IsClawShield => NormalizedMode == "clawshield";

    public string ModeName => IsClawShield ? "clawshield" : "demo";

    /// <summary>The allow-list as a set; null when no allow-list is configured.</summary>
    public IReadOnlySet<string>? AllowList
    {
        get
        {
            if (string.IsNullOrWhiteSpace(AllowedActions))
            {
                return null;
            }
            return Entries(AllowedActions).ToHashSet(StringComparer.Ordinal);
        }
    }

    /// <summary>The names an allow-list setting gives: split on commas, trimmed, empty ones dropped.</summary>
    public static string[] Entries(string allowedActions)
        => allowedActions.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// What is wrong with an allow-list, named as the operator gave it (<paramref name="name"/>:
    /// the setting or the seed's variable): none named, which would allow every action, and every
    /// entry that is no action name (it could never match). <paramref name="removal"/> says how to
    /// allow every action on purpose.
    /// </summary>
    public static IEnumerable<string> AllowListProblems(string allowedActions, string name, string removal)
    {
        var entries = Entries(allowedActions);
        if (entries.Length == 0)
        {
            yield return $"{name} is set but empty, which would allow every action: name the actions (comma-separated), or {removal} to allow all";
        }
        foreach (var entry in entries.Where(e => !OpenExec.Core.Approvals.ActionName.IsValid(e)))
        {
            yield return $"{name} names '{entry}', which is not an action name ({OpenExec.Core.Approvals.ActionName.Rule}); separate actions with commas";
        }
    }
}

/// <summary><c>OpenExec:RateLimit</c>.</summary>
internal sealed record RateLimitOptions
{
    /// <summary>Requests per second per client address before 429 <c>rate_limited</c>. Default 5000; 0 = off.</summary>
    public int PerClientPerSecond { get; init; } = 5000;
}

/// <summary><c>OpenExec:Telemetry</c>.</summary>
internal sealed record TelemetryOptions
{
    /// <summary>Load the OpenTelemetry SDK without an OTLP endpoint (for in-process exporters).</summary>
    public bool Enabled { get; init; }
}
