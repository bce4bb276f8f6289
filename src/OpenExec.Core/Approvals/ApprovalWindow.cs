namespace OpenExec.Core.Approvals;

/// <summary>Why an approval was refused: the wire code and the <c>detail</c> sentence.</summary>
public sealed record ApprovalRefusal(string Code, string Detail);

/// <summary>The approval's time window (SPEC section 4): expiry, not-yet-valid and maximum lifetime, with clock skew.</summary>
public static class ApprovalWindow
{
    /// <summary>Default clock skew allowed either way.</summary>
    public static readonly TimeSpan DefaultSkew = TimeSpan.FromSeconds(30);

    /// <summary>Default maximum lifetime (expires_at - issued_at).</summary>
    public static readonly TimeSpan DefaultMaxLifetime = TimeSpan.FromHours(24);

    // The first three sentences are the seed's, word for word: clients match on them.
    internal static readonly ApprovalRefusal MissingExpiry = new("invalid_timestamp", "Missing expires_at in approval artifact");
    internal static readonly ApprovalRefusal InvalidExpiry = new("invalid_timestamp", "Invalid expires_at timestamp");
    internal static readonly ApprovalRefusal Expired = new("approval_expired", "Approval artifact expired");
    internal static readonly ApprovalRefusal InvalidIssued = new("invalid_timestamp", "Invalid issued_at timestamp");
    internal static readonly ApprovalRefusal NotYetValid = new("approval_not_yet_valid", "Approval artifact is not yet valid");
    internal static readonly ApprovalRefusal Lifetime = new("approval_lifetime", "Approval lifetime exceeds the maximum allowed");
    internal static readonly ApprovalRefusal ExpiresBeforeIssued = new("approval_lifetime", "Approval expires_at is before its issued_at");

    /// <summary>
    /// How long after its claim an approval may still be presented: it is accepted from
    /// issued_at - skew until expires_at + skew, so at most the maximum lifetime plus twice the
    /// skew. Used nonces and consumed approvals must be kept at least this long.
    /// </summary>
    public static TimeSpan LongestUse(TimeSpan maxLifetime, TimeSpan skew) => maxLifetime + skew + skew;

    /// <summary>Characters a timestamp is read into without a string: the longest valid one is 38.</summary>
    private const int TimeScratch = 64;

    /// <summary>Null when the approval is inside its window at <paramref name="now"/>; otherwise the refusal.</summary>
    public static ApprovalRefusal? Check(ApprovalArtifact artifact, DateTimeOffset now, TimeSpan skew, TimeSpan maxLifetime)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        // Read from the artifact's own bytes when it keeps them (no string made for either).
        Span<char> scratch = stackalloc char[TimeScratch];
        var expiresText = artifact.TimeText(expires: true, scratch);
        if (expiresText.IsEmpty)
        {
            return MissingExpiry;
        }
        if (!ApprovalTime.TryParse(expiresText, out var expiresAt))
        {
            return InvalidExpiry;
        }
        if (!ApprovalTime.TryParse(artifact.TimeText(expires: false, scratch), out var issuedAt))
        {
            return InvalidIssued;
        }
        // Written as now - skew > expires_at: the same test as now > expires_at + skew, without
        // overflowing for an expires_at near year 9999.
        if (now - skew > expiresAt)
        {
            return Expired;
        }
        // Written as issued_at > now + skew: issued_at - skew would overflow for an issued_at
        // within the skew of year 1.
        if (issuedAt > now + skew)
        {
            return NotYetValid;
        }
        var lifetime = expiresAt - issuedAt;
        if (lifetime < TimeSpan.Zero)
        {
            return ExpiresBeforeIssued;
        }
        if (lifetime > maxLifetime)
        {
            return Lifetime;
        }
        return null;
    }
}
