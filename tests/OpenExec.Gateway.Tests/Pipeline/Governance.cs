using System.Text.Json;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Gateway.Tests.Pipeline;

/// <summary>
/// Stands in for the ClawShield governance layer in functional tests: an Ed25519 key, the tenant
/// it approves for, the gateway variables that trust it, and approvals for exact requests.
/// </summary>
public sealed class Governance : IDisposable
{
    public const string Tenant = "tenant-001";

    public Governance()
    {
        Key = ReceiptSigningKey.Generate();
        Minter = new ApprovalMinter(Key);
    }

    public ReceiptSigningKey Key { get; }

    public ApprovalMinter Minter { get; }

    public string PublicPem => Key.ExportPublicPem();

    /// <summary>The seed's variables for a clawshield gateway that trusts this key.</summary>
    public Dictionary<string, string?> Environment(string? allowedActions = "echo,add", string? tenant = Tenant, string? publicKeys = null) => new()
    {
        ["OPENEXEC_MODE"] = "clawshield",
        ["CLAWSHIELD_PUBLIC_KEY"] = publicKeys ?? PublicPem,
        ["CLAWSHIELD_TENANT_ID"] = tenant,
        ["OPENEXEC_ALLOWED_ACTIONS"] = allowedActions,
    };

    /// <summary>An approval for exactly this request, valid from a minute before <paramref name="now"/> for five minutes after.</summary>
    public ApprovalArtifact Approve(string action, string payloadJson, DateTimeOffset now, string tenant = Tenant, string? approvalId = null)
        => Minter.Mint(tenant, Hash(action, payloadJson), now.AddMinutes(-1), now.AddMinutes(5), approvalId);

    /// <summary>The action hash of <c>{"action", "payload"}</c> as the governance layer computes it.</summary>
    public static string Hash(string action, string payloadJson) => ActionHash.Compute(action, StrictJson.Parse(payloadJson));

    /// <summary>An <c>/execute</c> body with the payload and artifact embedded verbatim.</summary>
    public static string Body(string action, string payloadJson, string nonce, ApprovalArtifact? approval)
        => Body(action, payloadJson, nonce, approval?.ToJson());

    public static string Body(string action, string payloadJson, string nonce, string? approvalJson)
    {
        var approval = approvalJson is null ? "" : $",\"approval_artifact\":{approvalJson}";
        return $"{{\"action\":{JsonSerializer.Serialize(action)},\"payload\":{payloadJson},\"nonce\":{JsonSerializer.Serialize(nonce)}{approval}}}";
    }

    public void Dispose() => Key.Dispose();
}
