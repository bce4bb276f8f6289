using OpenExec.Gateway.Pipeline;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Pipeline;

public sealed class LeaseRenewalTests
{
    [Fact]
    public void A_gateway_clock_stepped_back_renews_at_once_and_every_interval_from_there()
    {
        // Leases run on Redis's clock: a call whose gateway clock stepped back an hour renewed
        // nothing until that clock caught up with its last renewal, and its lease ran out while
        // its stream still made progress.
        var clock = new SteppedClock();
        var pipeline = new ExecutionPipeline(null!, null!, new GatewayClock(clock), null!);
        var renewedAt = clock.GetUtcNow();
        Assert.False(pipeline.LeaseRenewalDue(ref renewedAt));

        clock.Offset = TimeSpan.FromHours(-1);

        Assert.True(pipeline.LeaseRenewalDue(ref renewedAt));
        Assert.False(pipeline.LeaseRenewalDue(ref renewedAt));
        clock.Offset += ExecutionPipeline.LeaseRenewal;
        Assert.True(pipeline.LeaseRenewalDue(ref renewedAt));
    }
}
