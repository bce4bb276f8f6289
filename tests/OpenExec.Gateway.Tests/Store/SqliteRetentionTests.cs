using Microsoft.Extensions.Logging;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>The embedded store keeps used nonces forever unless a retention is configured (SPEC section 3).</summary>
public sealed class SqliteRetentionTests
{
    private static async Task<HttpStatusCode> ExecuteAsync(GatewayServer gateway, string nonce)
        => (await gateway.ExecuteAsync("echo", new { msg = "retention" }, nonce)).StatusCode;

    private static Task<GatewayServer> StartWithRetentionAsync(FakeTimeProvider time)
        => GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:NonceRetention"] = "01:00:00" }, time: time);

    /// <summary>Asks again (the prune runs in the background) until the nonce is no longer refused as used.</summary>
    private static async Task<HttpStatusCode> RunAgainAsync(GatewayServer gateway, string nonce)
    {
        var status = HttpStatusCode.Conflict;
        for (var i = 0; i < 50 && status == HttpStatusCode.Conflict; i++)
        {
            await Task.Delay(50);
            status = await ExecuteAsync(gateway, nonce);
        }
        return status;
    }

    [Fact]
    public async Task Without_a_retention_a_used_nonce_stays_used()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayServer.StartAsync(time: time);

        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "kept"));
        time.Advance(TimeSpan.FromDays(3650));
        await Task.Delay(200);

        Assert.Equal(HttpStatusCode.Conflict, await ExecuteAsync(gateway, "kept"));
    }

    [Fact]
    public async Task In_demo_mode_a_nonce_older_than_the_retention_can_run_again()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartWithRetentionAsync(time);

        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "old"));
        time.Advance(TimeSpan.FromMinutes(30));
        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "young"));
        time.Advance(TimeSpan.FromMinutes(31));
        Assert.Equal(HttpStatusCode.OK, await RunAgainAsync(gateway, "old"));
        Assert.Equal(HttpStatusCode.Conflict, await ExecuteAsync(gateway, "young"));
    }

    /// <summary>A clock whose wall time can be stepped while its monotonic count goes on as before.</summary>
    private sealed class SteppedFakeTime(DateTimeOffset start) : FakeTimeProvider(start)
    {
        public TimeSpan Step { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Step;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => base.GetUtcNow().UtcTicks;
    }

    [Fact]
    public async Task A_wall_clock_stepped_forward_and_back_does_not_forget_a_nonce_early()
    {
        var time = new SteppedFakeTime(DateTimeOffset.UtcNow);
        await using var gateway = await StartWithRetentionAsync(time);
        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "stepped"));

        // Twelve minutes later by the monotonic count; the wall clock stepped 50 minutes ahead
        // meanwhile reads 62 minutes, past the hour's retention, when the timer ticks (every 6).
        time.Step = TimeSpan.FromMinutes(50);
        await KeptTwelveMinutesThenForgottenAtTheHourAsync(gateway, time, "stepped", stepBack: TimeSpan.Zero);
    }

    /// <summary>
    /// Twelve minutes on (two ticks of the retention timer, every 6), with the wall clock set to
    /// <paramref name="stepBack"/> after them: still used; once the hour has passed on both
    /// clocks, forgotten as configured.
    /// </summary>
    private static async Task KeptTwelveMinutesThenForgottenAtTheHourAsync(GatewayServer gateway, SteppedFakeTime time, string nonce, TimeSpan stepBack)
    {
        time.Advance(TimeSpan.FromMinutes(6));
        time.Advance(TimeSpan.FromMinutes(6));
        await Task.Delay(300);
        time.Step = stepBack;
        for (var i = 0; i < 5; i++)
        {
            await Task.Delay(50);
            Assert.Equal(HttpStatusCode.Conflict, await ExecuteAsync(gateway, nonce));
        }

        time.Advance(TimeSpan.FromMinutes(54));
        Assert.Equal(HttpStatusCode.OK, await RunAgainAsync(gateway, nonce));
    }

    [Fact]
    public async Task A_nonce_used_while_the_wall_clock_was_stepped_back_is_not_forgotten_early_once_it_is_put_right()
    {
        // Dated by a wall clock 50 minutes behind, the claim looked 50 minutes older once the
        // clock was put right, and was forgotten 12 minutes after its use.
        var time = new SteppedFakeTime(DateTimeOffset.UtcNow);
        await using var gateway = await StartWithRetentionAsync(time);
        time.Step = TimeSpan.FromMinutes(-50);
        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "stepped-back"));
        time.Step = TimeSpan.Zero;

        await KeptTwelveMinutesThenForgottenAtTheHourAsync(gateway, time, "stepped-back", stepBack: TimeSpan.Zero);
    }

    [Fact]
    public async Task A_clock_put_right_after_a_start_while_it_was_behind_is_logged_as_keeping_nonces_longer()
    {
        // Retention follows the time counted since start, so a clock a day behind at start and
        // put right later kept every nonce a day longer, without a word.
        var time = new SteppedFakeTime(DateTimeOffset.UtcNow) { Step = TimeSpan.FromDays(-1) };
        var logs = new LogCapture();
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:NonceRetention"] = "01:00:00" }, time: time,
            configure: builder => builder.Logging.AddProvider(logs));
        time.Step = TimeSpan.Zero;

        time.Advance(TimeSpan.FromMinutes(6));

        await Task.Delay(300);
        var warning = Assert.Single(logs.Lines, l => l.Contains("ahead of the time counted since the gateway started", StringComparison.Ordinal));
        Assert.Contains("86400 s", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_retention_tick_that_comes_while_a_prune_runs_is_not_lost()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartWithRetentionAsync(time);

        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "old"));
        // The ticks up to 59 minutes start a prune that forgets nothing yet; the tick at 60 minutes
        // comes while it still runs, and it is the one that forgets "old". The next is at 66 minutes.
        time.Advance(TimeSpan.FromMinutes(59));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(HttpStatusCode.OK, await RunAgainAsync(gateway, "old"));
    }
}
