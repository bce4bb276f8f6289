using System.Diagnostics;
using System.Net;
using OpenExec.Gateway.Tests.Infrastructure;
using Xunit.Abstractions;

namespace OpenExec.Gateway.Tests.Chaos;

/// <summary>
/// Chaos, bounded in time and run by the normal test command: load with overlapping nonces
/// while the gateway process is SIGKILLed and restarted, and while Redis is. A counting backend
/// proves that no nonce ran twice; every answered 200 still has its receipt; every chain passes
/// the independent audit (<see cref="Core.Receipts.ChainAudit"/>, keys from
/// <c>/.well-known/openexec-keys</c>); every call the backend saw is accounted for by a receipt.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = TempDir.Create();

    public void Dispose() => TempDir.Delete(_root);

    [Fact]
    public async Task Gateway_process_sigkilled_and_restarted_under_overlapping_load_runs_no_nonce_twice_and_loses_no_receipt()
    {
        await using var backend = await CountingBackend.StartAsync(TimeSpan.FromMilliseconds(30));
        var config = ChaosLoad.WriteConfig(_root, ChaosLoad.RouteConfig(backend.Address));
        var args = new[] { "--config", config, "--OpenExec:RateLimit:PerClientPerSecond=0", "--Logging:LogLevel:Default=Warning" };
        var dataDir = Path.Combine(_root, "data");
        var load = new ChaosLoad(backend, poolSize: 5000);
        var generations = new List<GatewayProcess>();
        GatewayProcess? current = await GatewayProcess.StartAsync(dataDir, args);
        generations.Add(current);
        var watch = Stopwatch.StartNew();

        try
        {
            using var stop = new CancellationTokenSource();
            var running = load.RunAsync(6, _ => Volatile.Read(ref current)?.Client, stop.Token);
            for (var kill = 0; kill < 4; kill++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(1500 + (kill * 300)));
                var victim = Volatile.Read(ref current)!;
                Volatile.Write(ref current, null);
                victim.KillHard();
                var next = await GatewayProcess.StartAsync(dataDir, args);
                generations.Add(next);
                Volatile.Write(ref current, next);
            }
            await Task.Delay(1000);
            await stop.CancelAsync();
            await running;

            var last = generations[^1];
            var summary = await load.AssertNothingRanTwiceAndNothingWasLostAsync([last.Client], _ => last.Client);
            output.WriteLine($"{generations.Count - 1} kills in {watch.Elapsed.TotalSeconds:0.0} s; {summary}");
            Assert.True(load.Executed.Count >= 20, $"only {load.Executed.Count} executions were answered: the load did not run");
            Assert.Equal(HttpStatusCode.OK, (await last.Client.GetAsync("/health")).StatusCode);
        }
        finally
        {
            foreach (var gateway in generations)
            {
                await gateway.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Redis_killed_and_restarted_under_load_on_two_gateways_runs_no_nonce_twice_and_loses_no_receipt()
    {
        using var redis = RedisServer.Start();
        await using var backend = await CountingBackend.StartAsync(TimeSpan.FromMilliseconds(30));
        var settings = ProxyConfig.Route("count", "count_op", "count", backend.Address.ToString(), executePath: "/run");
        settings["ConnectionStrings:Redis"] = redis.Configuration;
        settings["OpenExec:RateLimit:PerClientPerSecond"] = "0";
        await using var a = await GatewayServer.StartAsync(settings);
        await using var b = await GatewayServer.StartAsync(settings);
        var load = new ChaosLoad(backend, poolSize: 5000);
        var watch = Stopwatch.StartNew();

        using (var stop = new CancellationTokenSource())
        {
            var running = load.RunAsync(6, pick => pick % 2 == 0 ? a.Client : b.Client, stop.Token);
            for (var kill = 0; kill < 3; kill++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(1500));
                redis.Kill();
                await Task.Delay(TimeSpan.FromMilliseconds(800));
                redis.Restart();
            }
            await WaitReadyAsync(a, b);
            await Task.Delay(1500);
            await stop.CancelAsync();
            await running;
        }

        var summary = await load.AssertNothingRanTwiceAndNothingWasLostAsync([a.Client, b.Client]);
        output.WriteLine($"3 Redis kills in {watch.Elapsed.TotalSeconds:0.0} s; {summary}");
        Assert.True(load.Executed.Count >= 20, $"only {load.Executed.Count} executions were answered: the load did not run");
        Assert.True(load.Statuses.GetValueOrDefault(500) == 0, "a Redis outage produced 500s");
    }

    private static async Task WaitReadyAsync(params GatewayServer[] gateways)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var gateway in gateways)
        {
            while ((await gateway.Client.GetAsync("/ready")).StatusCode != HttpStatusCode.OK)
            {
                Assert.True(DateTime.UtcNow < deadline, "a gateway did not become ready after Redis came back");
                await Task.Delay(100);
            }
        }
    }
}
