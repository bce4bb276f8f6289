using System.Net;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Pipeline;

public sealed class ReceiptTimesTests
{
    [Fact]
    public async Task A_wall_clock_stepped_back_during_a_call_never_makes_it_finish_before_it_started()
    {
        // An hour's step back during a six-second call gave started_at 21:14:04 and finished_at
        // 20:14:12: evidence of a call that ended before it began.
        await using var backend = await SlowBackend.StartAsync(TimeSpan.FromMilliseconds(500));
        var clock = new SteppedClock();
        var settings = ProxyConfig.Route("slow", "slow_op", "slow", backend.Address.ToString(), executePath: "/run");
        await using var gateway = await GatewayServer.StartAsync(settings, time: clock);

        var call = gateway.PostJsonAsync("/execute", Governance.Body("slow_op", "{}", "stepped-back", approvalJson: null));
        await backend.FirstCall.WaitAsync(TimeSpan.FromSeconds(10));
        clock.Offset = TimeSpan.FromHours(-1);
        var answer = await call;

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var id = (await Json.ReadAsync(answer)).Str("id");
        var body = (await gateway.ReceiptsAsync()).Single(r => r.GetProperty("body").Str("exec_id") == id).GetProperty("body");
        var (started, finished) = (DateTimeOffset.Parse(body.Str("started_at"), System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.Parse(body.Str("finished_at"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(finished >= started, $"started_at {body.Str("started_at")}, finished_at {body.Str("finished_at")}");
    }
}
