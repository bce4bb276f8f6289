using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Store;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>The receipt a gateway writes at start for a claim a dead process left unfinished.</summary>
public sealed class RecoveredReceiptTests
{
    [Fact]
    public async Task The_outcome_unknown_receipt_of_a_claim_cut_off_by_a_crash_names_its_verified_approval_id()
    {
        // SPEC section 6: approval_id once the signature verified, which it had before the claim.
        // The recovered receipt named only approval_sha256; the same call's receipt written
        // live (504 outcome_unknown) named both.
        var dataDir = TempDir.Create();
        var approvalIdentity = ExecutionStoreContract.Hex64();
        var approvalId = Guid.NewGuid().ToString();
        var claim = ExecutionStoreContract.Claim(ExecutionStoreContract.Hex64(), approval: approvalIdentity) with { ApprovalId = approvalId, Tenant = "tenant-001" };
        using (var identity = GatewayIdentity.Open(dataDir, null))
        using (var store = SqliteExecutionStoreTests.Open(identity))
        {
            Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);
        } // the process died while the action ran

        var gateway = await GatewayServer.StartAsync(dataDir: dataDir);
        try
        {
            var body = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{claim.ExecId}"))).GetProperty("body");

            Assert.Equal("outcome_unknown", body.Str("decision"));
            Assert.Equal(approvalIdentity, body.Str("approval_sha256"));
            Assert.Equal(approvalId, body.Str("approval_id"));
            Assert.Equal("tenant-001", body.Str("tenant"));
        }
        finally
        {
            await gateway.DisposeAsync();
            TempDir.Delete(dataDir);
        }
    }
}
