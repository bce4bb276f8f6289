using System.Diagnostics;
using System.Net;
using OpenExec.Gateway.Telemetry;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenTelemetry.Metrics;

namespace OpenExec.Gateway.Tests.Telemetry;

/// <summary>
/// The duration histograms are in seconds and bucketed in seconds: with the SDK's default bounds
/// (meant for milliseconds: 0, 5, 10, ... 10000) every call under 5 s fell in one bucket and no
/// percentile could be read from them.
/// </summary>
[Collection(MeterListenerCollection.Name)]
public sealed class DurationHistogramTests
{
    private static readonly double[] SecondsBounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    [Fact]
    public async Task Duration_histograms_have_seconds_buckets_and_a_call_of_milliseconds_lands_in_a_low_one()
    {
        var exported = new List<MetricSnapshot>();
        await using var gateway = await GatewayServer.StartAsync(
            settings: new Dictionary<string, string?> { ["OpenExec:Telemetry:Enabled"] = "true" },
            configure: b => b.Services.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(exported)));
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { msg = "hi" }, "buckets-1")).StatusCode);
        // A store operation of 20 ms, measured as the gateway measures its own.
        GatewayTelemetry.StoreOperation("bucket_probe", Stopwatch.GetTimestamp() - Stopwatch.Frequency / 50);
        Assert.True(gateway.Services.GetRequiredService<MeterProvider>().ForceFlush());

        foreach (var name in new[] { "openexec.pipeline.duration", "openexec.store.duration" })
        {
            var metric = exported.Last(m => m.Name == name);
            Assert.Equal("s", metric.Unit);
            Assert.NotEmpty(metric.MetricPoints);
            foreach (var point in metric.MetricPoints)
            {
                var bounds = new List<double>();
                foreach (var bucket in point.GetHistogramBuckets())
                {
                    bounds.Add(bucket.ExplicitBound);
                }
                Assert.Equal([.. SecondsBounds, double.PositiveInfinity], bounds);
            }
        }

        var probe = Assert.Single(exported.Last(m => m.Name == "openexec.store.duration").MetricPoints, p => Tag(p, "openexec.store.operation") == "bucket_probe");
        Assert.Equal(1, probe.GetHistogramCount());
        // In (0.01, 0.025], or a little later on a busy machine: well below the old first bound of 5.
        var landedIn = 0.0;
        foreach (var bucket in probe.GetHistogramBuckets())
        {
            if (bucket.BucketCount == 1)
            {
                landedIn = bucket.ExplicitBound;
            }
        }
        Assert.InRange(landedIn, 0.025, 0.1);
    }

    private static string? Tag(MetricPoint point, string key)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key)
            {
                return tag.Value as string;
            }
        }
        return null;
    }
}
