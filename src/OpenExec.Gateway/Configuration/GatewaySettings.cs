using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;

namespace OpenExec.Gateway.Configuration;

/// <summary>
/// The options as the running gateway uses them: validated once, keys parsed once (never per
/// request), the allow-list as a set, and the warnings /health shows.
/// </summary>
internal sealed class GatewaySettings
{
    private GatewaySettings(OpenExecOptions options, ApprovalVerifier? verifier, IReadOnlyList<string> warnings)
    {
        Options = options;
        Verifier = verifier;
        AllowList = options.AllowList;
        Warnings = warnings;
    }

    public OpenExecOptions Options { get; }

    /// <summary>The ClawShield keys; null in demo mode.</summary>
    public ApprovalVerifier? Verifier { get; }

    public IReadOnlySet<string>? AllowList { get; }

    public IReadOnlyList<string> Warnings { get; }

    /// <summary>The longest <c>OpenExec:NonceRetention</c>: a century (unset keeps nonces forever in the embedded store).</summary>
    public static readonly TimeSpan MaxNonceRetention = TimeSpan.FromDays(36500);

    /// <summary>The largest <c>OpenExec:MaxApprovalLifetime</c> accepted (lifetime + twice the skew must stay a usable span).</summary>
    public static readonly TimeSpan MaxApprovalLifetimeLimit = TimeSpan.FromDays(365);

    private static bool LifetimeInRange(OpenExecOptions options)
        => options.MaxApprovalLifetime > TimeSpan.Zero && options.MaxApprovalLifetime <= MaxApprovalLifetimeLimit;

    private static bool SkewInRange(OpenExecOptions options)
        => options.ClockSkew >= TimeSpan.Zero && options.ClockSkew <= TimeSpan.FromMinutes(10);

    /// <summary>
    /// Validates everything at once. Returns the settings, or every problem found, each naming
    /// the setting to change.
    /// </summary>
    public static GatewaySettings Create(OpenExecOptions options, IEnumerable<string> listenUrls, out IReadOnlyList<string> errors)
    {
        var problems = new List<string>();
        var warnings = new List<string>();
        ApprovalVerifier? verifier = null;

        var mode = options.NormalizedMode;
        if (mode is not ("demo" or "clawshield"))
        {
            problems.Add($"OpenExec:Mode (OPENEXEC_MODE) is '{options.Mode}'; use 'demo' or 'clawshield'");
        }
        else if (mode == "clawshield")
        {
            if (string.IsNullOrWhiteSpace(options.PublicKey))
            {
                problems.Add("CLAWSHIELD_PUBLIC_KEY (OpenExec:PublicKey) is required in clawshield mode: one or more Ed25519 public keys in PEM");
            }
            else
            {
                try
                {
                    verifier = new ApprovalVerifier(Ed25519PublicKeys.ParsePem(options.PublicKey));
                }
                catch (KeyFormatException ex)
                {
                    problems.Add($"CLAWSHIELD_PUBLIC_KEY (OpenExec:PublicKey) is not usable: {ex.Message}");
                }
            }
            if (string.IsNullOrWhiteSpace(options.TenantId) && !options.AllowAnyTenant)
            {
                problems.Add("CLAWSHIELD_TENANT_ID (OpenExec:TenantId) is required in clawshield mode (or set OpenExec:AllowAnyTenant=true to accept any tenant)");
            }
            else if (!string.IsNullOrWhiteSpace(options.TenantId) && options.TenantId.Trim().Length != options.TenantId.Length)
            {
                // An env file written with CRLF leaves "tenant-001\r": compared exactly, no approval's
                // tenant would ever match, and every request would be refused as another tenant's.
                problems.Add("CLAWSHIELD_TENANT_ID (OpenExec:TenantId) begins or ends with whitespace (a carriage return from a CRLF file?): no approval's tenant would match it; remove the whitespace");
            }
            if (options.AllowAnyTenant)
            {
                warnings.Add("Any tenant accepted: OpenExec:AllowAnyTenant is true, so approvals for every tenant of the governance key execute here");
            }
            if (options.AllowAnyApprovalId)
            {
                warnings.Add(options.AllowAnyTenant
                    ? "Any approval_id accepted: OpenExec:AllowAnyApprovalId is true, so an approval can have characters moved between approval_id and tenant_id and keep its signature: it then runs, and is receipted and scoped, under another tenant (for example one for 'eu-tenant-001' as 'tenant-001')"
                    : "Any approval_id accepted: OpenExec:AllowAnyApprovalId is true, so an approval for a tenant whose id ends with this gateway's tenant id can have characters moved from tenant_id into approval_id, keep its signature and run here (for example one for 'eu-tenant-001' at a gateway for 'tenant-001')");
            }
            if (options.AuditTokens.Length == 0)
            {
                warnings.Add("Receipt endpoints are open: set OpenExec:AuditTokens to require a bearer token for /receipts");
            }
            var longest = LifetimeInRange(options) && SkewInRange(options) ? ApprovalWindow.LongestUse(options.MaxApprovalLifetime, options.ClockSkew) : TimeSpan.Zero;
            if (options.NonceRetention is { } retention && retention < longest)
            {
                problems.Add($"OpenExec:NonceRetention ({retention}) is shorter than the longest approval lifetime plus twice the skew ({longest}): a used approval could run again");
            }
        }
        else
        {
            warnings.Add("Demo mode: requests execute without approval; do not expose this gateway");
            // Given a governance key or tenant, the operator meant approvals to be checked: that
            // they are not must be said where it is seen (the start-up log, /health).
            var meant = new[] { ("CLAWSHIELD_PUBLIC_KEY (OpenExec:PublicKey)", options.PublicKey), ("CLAWSHIELD_TENANT_ID (OpenExec:TenantId)", options.TenantId) }
                .Where(s => !string.IsNullOrWhiteSpace(s.Item2)).Select(s => s.Item1).ToList();
            if (meant.Count > 0)
            {
                warnings.Add($"Demo mode, yet {string.Join(" and ", meant)} {(meant.Count == 1 ? "is" : "are")} set: ignored, and requests execute WITHOUT approval; set OPENEXEC_MODE=clawshield to check approvals");
            }
            if (!options.AllowDemoOnNetwork && !Hosting.ListenAddresses.IsLoopbackOnly(listenUrls))
            {
                problems.Add($"Demo mode listens on a non-loopback address ({string.Join(", ", listenUrls)}); bind to 127.0.0.1, use clawshield mode, or set OpenExec:AllowDemoOnNetwork=true");
            }
        }

        // An empty token (an unset shell variable) matches no bearer token: every auditor would
        // be locked out, with nothing saying why.
        for (var i = 0; i < options.AuditTokens.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(options.AuditTokens[i]))
            {
                problems.Add($"OpenExec:AuditTokens:{i} is empty: no bearer token can match it (remove it, or give it a value)");
            }
            else if (options.AuditTokens[i].Trim().Length != options.AuditTokens[i].Length)
            {
                // A presented token is read trimmed (HTTP drops the spaces around a header value):
                // one with a trailing space or carriage return (an env file with CRLF) never matches.
                problems.Add($"OpenExec:AuditTokens:{i} begins or ends with whitespace: no bearer token can match it (remove the whitespace)");
            }
        }

        if (options.NonceRetention is { } kept && (kept <= TimeSpan.Zero || kept > MaxNonceRetention))
        {
            // Past a century the prune's cut-off (now - retention) nears year 1, which DateTime
            // cannot hold: 3 000 000 days aborted the process on its first prune.
            problems.Add($"OpenExec:NonceRetention ({kept}) must be above zero and at most {MaxNonceRetention.Days}.00:00:00 (unset: kept forever by the embedded store, 30 days by Redis)");
        }

        if (options.MaxRequestBodyBytes is < 1024 or > 64L << 20)
        {
            problems.Add("OpenExec:MaxRequestBodyBytes must be between 1024 and 67108864");
        }
        // Held in memory per request until its receipt is written: at least a small JSON answer,
        // at most 64 MiB, as a request body (an /execute answer is also rewritten as JSON, whose
        // writer refuses a string of more than ~166 MB: after its receipt said executed).
        if (options.MaxBufferedResponse is < 1024 or > 64L << 20)
        {
            problems.Add("OpenExec:MaxBufferedResponse must be between 1024 and 67108864");
        }
        if (!SkewInRange(options))
        {
            problems.Add("OpenExec:ClockSkew must be between 00:00:00 and 00:10:00");
        }
        if (!LifetimeInRange(options))
        {
            problems.Add($"OpenExec:MaxApprovalLifetime must be above 00:00:00 and at most {MaxApprovalLifetimeLimit}");
        }
        if (!Actions.BackendTimeouts.IsAllowed(options.BackendTimeout))
        {
            problems.Add("OpenExec:BackendTimeout must be above 00:00:00 and at most 01:00:00");
        }
        if (options.MaxConcurrentRequests is < 1 or > 1_000_000)
        {
            problems.Add("OpenExec:MaxConcurrentRequests must be between 1 and 1000000");
        }
        if (options.RateLimit.PerClientPerSecond < 0)
        {
            problems.Add("OpenExec:RateLimit:PerClientPerSecond must be 0 (off) or positive");
        }
        if (Core.Text.SecretText.IsPem(options.ReceiptKeyPath))
        {
            // Pasted as CLAWSHIELD_PUBLIC_KEY is: opening it as a path would print the private key
            // in the refusal ("Could not find a part of the path '-----BEGIN PRIVATE KEY-----...").
            problems.Add("OpenExec:ReceiptKeyPath holds a PEM key, not a file path: write the key to a file readable by the gateway only, and name that file");
        }
        if (string.IsNullOrWhiteSpace(options.DataDir))
        {
            problems.Add("OpenExec:DataDir (OPENEXEC_DATA_DIR) must name a directory");
        }
        if (options.ReceiptKeyPath is { } keyPath && string.IsNullOrWhiteSpace(keyPath))
        {
            // As an unset variable leaves it (OpenExec__ReceiptKeyPath=$KEY): read as unset, a
            // rotated gateway went back to the data dir's own key, its earlier one.
            problems.Add("OpenExec:ReceiptKeyPath is set but empty: name the key's PEM file, or unset it to use the data dir's own key");
        }

        errors = problems;
        return new GatewaySettings(options, verifier, warnings);
    }
}
