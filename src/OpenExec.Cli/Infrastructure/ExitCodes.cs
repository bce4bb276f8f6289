namespace OpenExec.Cli.Infrastructure;

/// <summary>The tool's exit codes: one meaning each, so scripts and CI can branch on them.</summary>
internal static class ExitCodes
{
    /// <summary>Done; for verify and audit: every check held.</summary>
    public const int Ok = 0;

    /// <summary>Verification or audit ran and some check failed (the output names it): a receipt altered, or not one as the gateway writes it.</summary>
    public const int VerificationFailed = 1;

    /// <summary>Usage or input error: bad option, unreadable or malformed file, key or JSON; a gateway's 401 (audit token missing or refused).</summary>
    public const int BadInput = 2;

    /// <summary>Network or a gateway's other refusal: the URL could not be reached, timed out, answered an HTTP error other than 401, or did not answer as a gateway does.</summary>
    public const int Network = 3;

    /// <summary>Interrupted (Ctrl+C).</summary>
    public const int Canceled = 130;
}
