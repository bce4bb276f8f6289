using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Configuration;

/// <summary>
/// The command line is refused where ASP.NET Core's command-line configuration would misread it
/// or skip part of it (a setting lost without a word), and every form it reads keeps working.
/// </summary>
public sealed class CommandLineArgumentsTests : IDisposable
{
    private readonly string _dataDir = TempDir.Create();

    public void Dispose() => TempDir.Delete(_dataDir);

    [Theory]
    // "verbose" took "--OpenExec:Mode=clawshield" as its value: demo mode ran, without approvals.
    [InlineData("--verbose|--OpenExec:Mode=clawshield", "'--verbose' has no '=', so it would take the argument after it, '--OpenExec:Mode=…'")]
    // "help" took "--urls": the gateway served on the default address.
    [InlineData("--help|--urls|http://127.0.0.1:1", "'--help' has no '=', so it would take the argument after it, argument 5,")]
    [InlineData("--OpenExec:Mode|--OpenExec:AllowedActions=echo", "'--OpenExec:Mode' has no '='")]
    [InlineData("--OpenExec:TenantId|-v", "'--OpenExec:TenantId' has no '='")]
    [InlineData("--OpenExec:TenantId|/OpenExec:Mode=clawshield", "'--OpenExec:TenantId' has no '=', so it would take the argument after it, argument 5,")]
    [InlineData("/verbose|--OpenExec:Mode=clawshield", "'/verbose' has no '='")]
    [InlineData("--config|--OpenExec:Mode=clawshield", "'--config' has no '='")]
    // Skipped without a word: a switch with nothing after it ("--OpenExec:Mode $MODE", MODE unset),
    // a single-dash switch (and "-x=1" threw as the host read it), an argument that is no setting.
    [InlineData("--OpenExec:Mode", "'--OpenExec:Mode' is the last argument and has no value")]
    [InlineData("-v", "argument 4 is a single-dash switch")]
    [InlineData("-x=1", "argument 4 is a single-dash switch")]
    [InlineData("clawshield", "argument 4 is neither a setting")]
    // A file path alone reads as a switch (/key value) with no value.
    [InlineData("/etc/openexec.json", "argument 4 begins with '/', which the command line reads as a switch (/key value), and has no value, so it would be skipped: to give a configuration file, use --config FILE")]
    public void An_argument_the_command_line_would_misread_or_skip_refuses_the_start_naming_it(string args, string problem)
    {
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={_dataDir}", .. args.Split('|')], out var problems, new Dictionary<string, string?>());

        Assert.Null(app);
        Assert.Contains(problems, p => p.StartsWith(problem, StringComparison.Ordinal));
        // Refused before anything is opened: no gateway id, no ledger.
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dataDir));
    }

    [Theory]
    [InlineData("--verbose|--ConnectionStrings:Redis=127.0.0.1:6379,password=SECRET")]
    [InlineData("--OpenExec:AuditTokens:0|-SECRET")]
    // A value in a value's place is named by its position only: a base64 token with '=' padding,
    // a lower-case one (both were quoted).
    [InlineData("--OpenExec:AuditTokens:0|-QSECRETk9xZ2VjcmV0==")]
    [InlineData("--OpenExec:AuditTokens:0|-secret")]
    // Nor one that reads as a switch: a token that begins with '--', a standard base64 one that
    // begins with '/' and ends in '=' padding (/key=value to the command line); both were quoted.
    [InlineData("--OpenExec:AuditTokens:0|--SECRETtoken")]
    [InlineData("--OpenExec:AuditTokens:0|/qK8vXb3SECRETSECRETabcd=")]
    [InlineData("SECRET")]
    [InlineData("-x=SECRET")]
    public void A_refused_argument_is_named_without_its_value(string args)
    {
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={_dataDir}", .. args.Split('|')], out var problems, new Dictionary<string, string?>());

        Assert.Null(app);
        Assert.NotEmpty(problems);
        Assert.DoesNotContain(problems, p => p.Contains("SECRET", StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [InlineData("--OpenExec:Mode=Demo")]
    [InlineData("--OpenExec:Mode|Demo")]
    [InlineData("/OpenExec:Mode=Demo")]
    [InlineData("/OpenExec:Mode|Demo")]
    [InlineData("--OpenExec:Mode=|--OpenExec:Mode=Demo")]
    [InlineData("|--OpenExec:Mode=Demo|")] // an empty argument ("$UNSET") sets nothing
    [InlineData("OpenExec:Mode=Demo")] // key=value without a prefix: a setting too
    public async Task Every_form_the_command_line_reads_still_starts(string args)
    {
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={_dataDir}", .. args.Split('|')], out var problems, new Dictionary<string, string?>());

        Assert.True(app is not null, string.Join("; ", problems));
        Assert.Equal("Demo", app.Services.GetRequiredService<GatewaySettings>().Options.Mode);
        await app.DisposeAsync();
    }

    [Theory]
    [InlineData("--OpenExec:DataDir|{dir}")] // a value that begins with '/' is a path, not a switch
    [InlineData("/OpenExec:DataDir|{dir}")]
    [InlineData("--OpenExec:DataDir={dir}")]
    [InlineData("--OpenExec:DataDir|{dir}/x=y")]
    public async Task A_path_after_a_switch_is_its_value(string args)
    {
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", .. args.Replace("{dir}", _dataDir, StringComparison.Ordinal).Split('|')], out var problems, new Dictionary<string, string?>());

        Assert.True(app is not null, string.Join("; ", problems));
        Assert.Equal(args.EndsWith("x=y", StringComparison.Ordinal) ? Path.Combine(_dataDir, "x=y") : _dataDir, app.Services.GetRequiredService<GatewayIdentity>().DataDir);
        await app.DisposeAsync();
    }
}
