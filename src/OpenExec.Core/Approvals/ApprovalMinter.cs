using NSec.Cryptography;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Approvals;

/// <summary>
/// Issues signed v1 approval artifacts the way the governance layer does: for tests, local
/// development and the CLI. The gateway itself never mints.
/// </summary>
public sealed class ApprovalMinter
{
    private readonly Key _key;

    public ApprovalMinter(ReceiptSigningKey key)
        : this((key ?? throw new ArgumentNullException(nameof(key))).Key)
    {
    }

    public ApprovalMinter(Key key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Algorithm != SignatureAlgorithm.Ed25519)
        {
            throw new ArgumentException("Approvals are signed with Ed25519 keys.", nameof(key));
        }
        _key = key;
    }

    /// <summary>
    /// A signed artifact; timestamps are written as Python's <c>isoformat()</c> of naive UTC
    /// datetimes, approval_id is a new GUID unless given.
    /// </summary>
    public ApprovalArtifact Mint(string tenantId, string actionHash, DateTimeOffset issuedAt, DateTimeOffset expiresAt, string? approvalId = null) =>
        MintRaw(approvalId ?? Guid.NewGuid().ToString(), tenantId, actionHash, ApprovalTime.Format(issuedAt), ApprovalTime.Format(expiresAt));

    /// <summary>Signs the fields exactly as given (e.g. timestamps with an offset, or deliberately malformed ones in tests).</summary>
    public ApprovalArtifact MintRaw(string approvalId, string tenantId, string actionHash, string issuedAt, string expiresAt)
    {
        ArgumentNullException.ThrowIfNull(approvalId);
        ArgumentNullException.ThrowIfNull(tenantId);
        ArgumentNullException.ThrowIfNull(actionHash);
        ArgumentNullException.ThrowIfNull(issuedAt);
        ArgumentNullException.ThrowIfNull(expiresAt);
        var unsigned = new ApprovalArtifact(approvalId, tenantId, actionHash, issuedAt, expiresAt, "");
        var signature = SignatureAlgorithm.Ed25519.Sign(_key, unsigned.SignedMessage());
        return unsigned with { Signature = Convert.ToBase64String(signature) };
    }
}
