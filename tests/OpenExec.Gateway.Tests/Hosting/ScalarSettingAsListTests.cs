using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>
/// A one-value setting written as a JSON list binds to nothing: "Mode": ["clawshield"] leaves the
/// default, so the gateway starts in demo mode (no approvals) when clawshield was asked for;
/// "AllowedActions": ["echo"] is refused only with the binder's "Cannot create instance of type
/// 'System.String'". Like AuditTokens given as one value, it must be refused, naming the setting.
/// </summary>
public sealed class ScalarSettingAsListTests
{
    [Theory]
    [InlineData("OpenExec:AllowedActions")]
    [InlineData("OpenExec:Mode")]
    public void A_one_value_setting_given_as_a_list_is_refused(string setting)
    {
        var dataDir = TempDir.Create();
        var configDir = TempDir.Create();
        try
        {
            var name = setting["OpenExec:".Length..];
            var value = name == "Mode" ? "clawshield" : "echo";
            var file = Path.Combine(configDir, "openexec.json");
            File.WriteAllText(file, "{\"OpenExec\": {\"" + name + "\": [\"" + value + "\"]}}");

            var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--config", file], out var problems, new Dictionary<string, string?>());

            Assert.Null(app);
            Assert.Contains(problems, p => p.Contains(setting, StringComparison.Ordinal));
        }
        finally
        {
            TempDir.Delete(dataDir);
            TempDir.Delete(configDir);
        }
    }

    [Theory]
    [InlineData("RateLimit", "0", "PerClientPerSecond")]
    [InlineData("RateLimit", "100", "PerClientPerSecond")]
    [InlineData("Telemetry", "true", "Enabled")] // every group, not only the first one written down
    public void A_group_of_settings_given_one_value_is_refused_naming_the_setting_to_use(string group, string value, string setting)
    {
        // OpenExec__RateLimit=0 meant "off"; it bound to nothing and the default limit ran.
        var dataDir = TempDir.Create();
        try
        {
            // The same key as the environment's OpenExec__RateLimit.
            var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", $"--OpenExec:{group}={value}"], out var problems, new Dictionary<string, string?>());

            Assert.Null(app);
            Assert.Contains(problems, p => p.Contains($"OpenExec:{group} is a group of settings", StringComparison.Ordinal) && p.Contains($"OpenExec__{group}__{setting}", StringComparison.Ordinal));
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }
}
