using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Crypto;

namespace OpenExec.Cli.Tests.Commands;

public sealed class KeygenCommandTests : IDisposable
{
    private readonly string _dir = TempDir.Create();

    public void Dispose() => TempDir.Delete(_dir);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public async Task Writes_a_matching_Ed25519_pair_in_PEM_with_an_owner_only_private_key()
    {
        var run = await Tool.RunAsync("keygen", "--private", PathOf("k.pem"), "--public", PathOf("k.pub"));

        Assert.True(run.ExitCode == 0, run.ToString());
        using var key = ReceiptSigningKey.FromPem(File.ReadAllText(PathOf("k.pem")));
        var publicKey = Assert.Single(Ed25519PublicKeys.ParsePem(File.ReadAllText(PathOf("k.pub"))));
        Assert.Equal(key.Kid, KeyId.For(publicKey));
        Assert.Contains(key.Kid, run.Out, StringComparison.Ordinal);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(PathOf("k.pem")), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PathOf("k.pem")));
        }
    }

    [Fact]
    public async Task Refuses_to_overwrite_either_file_without_force()
    {
        File.WriteAllText(PathOf("k.pub"), "keep me");

        var run = await Tool.RunAsync("keygen", "--private", PathOf("k.pem"), "--public", PathOf("k.pub"));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("already exists", run.Err, StringComparison.Ordinal);
        Assert.Contains("--force", run.Err, StringComparison.Ordinal);
        Assert.Equal("keep me", File.ReadAllText(PathOf("k.pub")));
        Assert.False(File.Exists(PathOf("k.pem")), "nothing is written when one target exists");
    }

    [Fact]
    public async Task Force_replaces_existing_files_and_keeps_the_private_key_owner_only()
    {
        File.WriteAllText(PathOf("k.pem"), "old");
        File.WriteAllText(PathOf("k.pub"), "old");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(PathOf("k.pem"), (UnixFileMode)0b110_100_100);
        }

        var run = await Tool.RunAsync("keygen", "--private", PathOf("k.pem"), "--public", PathOf("k.pub"), "--force");

        Assert.True(run.ExitCode == 0, run.ToString());
        using var key = ReceiptSigningKey.FromPem(File.ReadAllText(PathOf("k.pem")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PathOf("k.pem")));
        }
    }

    [Fact]
    public async Task Missing_options_and_a_missing_directory_are_usage_errors()
    {
        var missing = await Tool.RunAsync("keygen", "--private", PathOf("k.pem"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--public", missing.Err, StringComparison.Ordinal);

        var noDir = await Tool.RunAsync("keygen", "--private", PathOf("nope/k.pem"), "--public", PathOf("k.pub"));
        Assert.Equal(2, noDir.ExitCode);
        Assert.Contains("does not exist", noDir.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_public_directory_writes_no_private_key_and_an_empty_name_is_a_usage_error()
    {
        var dir = TempDir.Create();
        var privatePath = Path.Combine(dir, "k.pem");

        var run = await Tool.RunAsync("keygen", "--private", privatePath, "--public", Path.Combine(dir, "nodir", "k.pub"));
        Assert.Equal(2, run.ExitCode);
        Assert.False(File.Exists(privatePath));

        var empty = await Tool.RunAsync("keygen", "--private", "", "--public", Path.Combine(dir, "k.pub"));
        Assert.Equal(2, empty.ExitCode);
        Assert.DoesNotContain("Unhandled", empty.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", empty.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_is_available_and_exits_zero()
    {
        var run = await Tool.RunAsync("keygen", "--help");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("--private", run.Out, StringComparison.Ordinal);
        Assert.Contains("--force", run.Out, StringComparison.Ordinal);
    }
}
