using System.Net;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Pipeline;
using OpenExec.Gateway.Tests.Store;
using OpenTelemetry.Metrics;

namespace OpenExec.Gateway.Tests.Telemetry;

/// <summary>
/// A claim whose holder died ends in an outcome_unknown receipt, written at the next start or by
/// the instance that takes it over: that decision is counted in <c>openexec.executions</c> (with
/// its action) like every other, and not as a denial (no agent is answered with it).
/// </summary>
[Collection(MeterListenerCollection.Name)]
public sealed class RecoveredClaimCountTests
{
    private const string Payload = """{"msg":"hello"}""";

    [Fact]
    public async Task A_claim_recovered_at_start_is_counted_as_its_decision()
    {
        var dataDir = TempDir.Create();
        try
        {
            var action = "recovered_at_start_" + Guid.NewGuid().ToString("N")[..8];
            using (var identity = GatewayIdentity.Open(dataDir, null))
            using (var store = SqliteExecutionStoreTests.Open(identity))
            {
                var claim = ExecutionStoreContract.Claim(ExecutionStoreContract.Hex64()) with { Action = action };
                Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);
            } // the process died while the action ran

            using var counts = new DecisionCounts();
            await using var gateway = await GatewayServer.StartAsync(dataDir: dataDir);

            Assert.Single(counts.Executions, e => e == ("outcome_unknown", action));
            Assert.DoesNotContain("outcome_unknown", counts.Denials);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task A_claim_recovered_at_start_reaches_the_metrics_exporter()
    {
        // Recovery runs before the host starts, and the OpenTelemetry SDK's meter provider is
        // otherwise built only then: a count made before it listens is lost to the exporter.
        var dataDir = TempDir.Create();
        try
        {
            var action = "recovered_exported_" + Guid.NewGuid().ToString("N")[..8];
            using (var identity = GatewayIdentity.Open(dataDir, null))
            using (var store = SqliteExecutionStoreTests.Open(identity))
            {
                var claim = ExecutionStoreContract.Claim(ExecutionStoreContract.Hex64()) with { Action = action };
                Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);
            } // the process died while the action ran

            var exported = new List<MetricSnapshot>();
            await using var gateway = await GatewayServer.StartAsync(
                settings: new Dictionary<string, string?> { ["OpenExec:Telemetry:Enabled"] = "true" },
                dataDir: dataDir,
                configure: b => b.Services.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(exported)));
            Assert.True(gateway.Services.GetRequiredService<MeterProvider>().ForceFlush());

            var counted = 0L;
            foreach (var metric in exported.Where(m => m.Name == "openexec.executions"))
            {
                foreach (var point in metric.MetricPoints)
                {
                    var tags = new Dictionary<string, object?>();
                    foreach (var tag in point.Tags)
                    {
                        tags[tag.Key] = tag.Value;
                    }
                    if (Equals(tags.GetValueOrDefault("openexec.action"), action) && Equals(tags.GetValueOrDefault("openexec.decision"), "outcome_unknown"))
                    {
                        counted += point.GetSumLong();
                    }
                }
            }
            Assert.Equal(1, counted);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task A_claim_taken_over_from_a_dead_holder_is_counted_as_its_decision()
    {
        using var redis = RedisServer.Start();
        var settings = new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = redis.Configuration };
        await using var gateway = await GatewayServer.StartAsync(settings: settings);
        var store = gateway.Services.GetRequiredService<IExecutionStore>();
        var now = DateTimeOffset.UtcNow;
        // A holder that claimed, then died: its lease ran out without an outcome.
        var claim = new ClaimRequest(NonceHash.Compute("default", "orphan-counted"), Governance.Hash("echo", Payload), null, Guid.NewGuid().ToString("N"), "echo", "default", now.AddMinutes(-2), TimeSpan.FromSeconds(-1));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);
        using var counts = new DecisionCounts();

        var replay = await gateway.PostJsonAsync("/execute", Governance.Body("echo", Payload, "orphan-counted", approvalJson: null));

        Assert.Equal(HttpStatusCode.Conflict, replay.StatusCode);
        // The orphan's outcome_unknown, and the replay's own refusal.
        Assert.Single(counts.Executions, e => e == ("outcome_unknown", "echo"));
        Assert.Single(counts.Executions, e => e == ("replay_denied", "echo"));
        Assert.Equal(["replay_denied"], counts.Denials);
    }
}
