using System.Text.RegularExpressions;
using OpenExec.Cli.Tests.Infrastructure;

namespace OpenExec.Cli.Tests;

public sealed partial class CliAppTests
{
    [Fact]
    public async Task Help_describes_the_exit_codes_as_the_readme_does()
    {
        // Scripts branch on them: a 401 is exit 2, and 3 is every other refusal, not only the network.
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OpenExec.Gateway.sln")))
        {
            root = root.Parent;
        }
        Assert.NotNull(root);
        var readme = Words(File.ReadAllText(Path.Combine(root.FullName, "README.md")).Replace("`", "", StringComparison.Ordinal));
        var start = readme.IndexOf("Exit codes: 0 ok,", StringComparison.Ordinal);
        Assert.True(start >= 0, "README names no exit codes");
        var exitCodes = readme[start..(readme.IndexOf('.', start) + 1)];

        var run = await Tool.RunAsync("--help");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains(exitCodes, Words(run.Out), StringComparison.Ordinal);
    }

    /// <summary>The text with every run of white space (line breaks and help's indentation) as one space.</summary>
    private static string Words(string text) => WhiteSpace().Replace(text, " ");

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}
