using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Pipeline;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>A maximum approval lifetime near TimeSpan.MaxValue is a start-up problem naming the setting, never an exception.</summary>
public sealed class ApprovalLifetimeSettingTests
{
    [Theory]
    [InlineData("OpenExec:MaxApprovalLifetime", "10675199.02:48:00")]
    [InlineData("OpenExec:ClockSkew", "10675199.00:00:00")]
    public void A_huge_window_setting_is_refused_not_thrown(string setting, string value)
    {
        using var governance = new Governance();
        var dataDir = TempDir.Create();
        try
        {
            IReadOnlyList<string> problems = [];
            var built = Record.Exception(() => GatewayApp.Build(
                ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", $"--{setting}={value}"],
                out problems,
                governance.Environment()));
            Assert.Null(built);
            Assert.Contains(problems, p => p.Contains(setting, StringComparison.Ordinal));
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }
}
