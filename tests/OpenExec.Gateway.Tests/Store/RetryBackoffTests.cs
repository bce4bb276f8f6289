using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Tests.Store;

public sealed class RetryBackoffTests
{
    [Fact]
    public async Task No_attempt_is_made_once_the_wait_has_crossed_the_limit()
    {
        // The limit holds when the wait starts and has passed when it ends (a lease that ended
        // meanwhile: another instance may have taken the claim over).
        var checks = 0;
        var attempts = 0;
        await RetryBackoff.RunAsync(
            () => { attempts++; return Task.CompletedTask; },
            _ => true,
            () => checks++ == 0,
            waitFirst: true);

        Assert.Equal(0, attempts);
    }

    [Fact]
    public async Task A_transient_failure_is_retried_until_it_succeeds()
    {
        var attempts = 0;
        await RetryBackoff.RunAsync(
            () => ++attempts < 3 ? throw new StoreUnavailableException("away") : Task.CompletedTask,
            ex => ex is StoreUnavailableException,
            () => true);

        Assert.Equal(3, attempts);
    }
}
