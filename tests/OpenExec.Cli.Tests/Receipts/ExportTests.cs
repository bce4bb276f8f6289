using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using OpenExec.Cli.Tests.Infrastructure;

namespace OpenExec.Cli.Tests.Receipts;

/// <summary><c>receipts export</c> against real gateways.</summary>
public sealed class ExportTests : IAsyncLifetime
{
    private readonly string _dir = TempDir.Create();
    private GatewayServer _a = null!;
    private GatewayServer _b = null!;

    public async Task InitializeAsync()
    {
        _a = await GatewayServer.StartAsync();
        _b = await GatewayServer.StartAsync();
        // Chain A: 3 receipts; chain B: 5.
        for (var i = 0; i < 3; i++)
        {
            (await _a.ExecuteAsync("echo", new { i }, $"a-{i}")).EnsureSuccessStatusCode();
        }
        for (var i = 0; i < 5; i++)
        {
            (await _b.ExecuteAsync("echo", new { i }, $"b-{i}")).EnsureSuccessStatusCode();
        }
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        TempDir.Delete(_dir);
    }

    /// <summary>A round-robin load balancer in front of the instances, as in "Several instances with Redis".</summary>
    private static async Task<WebApplication> StartBalancerAsync(params GatewayServer[] instances)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var next = 0;
        app.Run(async context =>
        {
            var instance = instances[(Interlocked.Increment(ref next) - 1) % instances.Length];
            using var request = new HttpRequestMessage(HttpMethod.Get, context.Request.Path + context.Request.QueryString);
            if (context.Request.Headers.Authorization.Count > 0)
            {
                request.Headers.TryAddWithoutValidation("Authorization", context.Request.Headers.Authorization.ToString());
            }
            using var response = await instance.Client.SendAsync(request);
            context.Response.StatusCode = (int)response.StatusCode;
            context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
            await context.Response.Body.WriteAsync(await response.Content.ReadAsByteArrayAsync());
        });
        await app.StartAsync();
        return app;
    }

    private static string Url(WebApplication app) => app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    [Fact]
    public async Task Export_through_a_load_balancer_holds_one_whole_chain_not_pages_of_several()
    {
        await using var balancer = await StartBalancerAsync(_a, _b);
        var outFile = Path.Combine(_dir, "lb.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", Url(balancer), "--out", outFile);

        // Whatever the CLI does, it must not report success for an export that mixes chains or
        // stops short of the chain it started.
        if (run.ExitCode == 0)
        {
            var bodies = File.ReadAllLines(outFile).Select(l => JsonNode.Parse(l)!["body"]!).ToList();
            var gateways = bodies.Select(b => b["gateway"]!.GetValue<string>()).Distinct().ToList();
            Assert.True(gateways.Count == 1, $"one export holds receipts of {gateways.Count} chains: {string.Join(", ", bodies.Select(b => $"{b["gateway"]}#{b["seq"]}"))}\n{run}");
            var expected = gateways[0] == (await ReceiptsGatewayOf(_a)) ? 3 : 5;
            Assert.Equal(expected, bodies.Count);
        }
        else
        {
            Assert.Equal(3, run.ExitCode);
        }
    }

    private static async Task<string> ReceiptsGatewayOf(GatewayServer gateway) =>
        JsonNode.Parse(await gateway.Client.GetStringAsync("/receipts/head"))!["gateway"]!.GetValue<string>();

    [Fact]
    public async Task Checkpoint_and_out_naming_one_file_do_not_replace_the_export_with_the_checkpoint()
    {
        var same = Path.Combine(_dir, "same.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", _a.Url, "--out", same, "--checkpoint", same);

        // Refused as a usage error (nothing written), as keygen refuses --private == --public;
        // never exit 0 with the receipts gone.
        if (run.ExitCode == 0)
        {
            Assert.Equal(3, File.ReadAllLines(same).Length);
        }
        else
        {
            Assert.Equal(2, run.ExitCode);
            Assert.False(File.Exists(same));
        }
    }

    [Fact]
    public async Task Checkpoint_through_a_symlinked_directory_does_not_replace_the_export()
    {
        var real = Directory.CreateDirectory(Path.Combine(_dir, "real")).FullName;
        var link = Path.Combine(_dir, "link");
        Directory.CreateSymbolicLink(link, real);

        var run = await Tool.RunAsync("receipts", "export", "--url", _a.Url,
            "--out", Path.Combine(real, "export.ndjson"), "--checkpoint", Path.Combine(link, "export.ndjson"));

        // Refused (exit 2, nothing written), or the export is still there: never exit 0 with the receipts gone.
        if (run.ExitCode == 0)
        {
            Assert.Equal(3, File.ReadAllLines(Path.Combine(real, "export.ndjson")).Length);
        }
        else
        {
            Assert.Equal(2, run.ExitCode);
        }
    }

    [Fact]
    public async Task A_page_answered_by_an_instance_without_the_chain_does_not_cut_the_export_short()
    {
        // One more receipt than a full page: page 2 (asked for this chain) reaches the other
        // instance, which does not hold it and answers an empty page.
        const int chainLength = 10_001;
        await using var big = await GatewayServer.StartAsync();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < chainLength)
            {
                (await big.ExecuteAsync("echo", new { i }, $"big-{i}")).EnsureSuccessStatusCode();
            }
        }));
        await using var balancer = await StartBalancerAsync(big, _b);
        var outFile = Path.Combine(_dir, "cut.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", Url(balancer), "--out", outFile);

        if (run.ExitCode == 0)
        {
            Assert.True(File.ReadAllLines(outFile).Length == chainLength, $"exit 0 with {File.ReadAllLines(outFile).Length} of {chainLength} receipts\n{run}");
        }
        else
        {
            Assert.Equal(3, run.ExitCode);
        }
    }

    [Fact]
    public async Task The_first_page_answered_by_an_instance_without_the_checkpointed_chain_does_not_end_the_export_empty()
    {
        // Request 1 (/receipts/head) reaches A: the checkpoint vouches for A's 3 receipts.
        // Request 2 (the first page, gateway=A) reaches B, which does not hold A's chain.
        await using var balancer = await StartBalancerAsync(_a, _b);
        var outFile = Path.Combine(_dir, "first.ndjson");
        var head = Path.Combine(_dir, "first.head.json");

        var run = await Tool.RunAsync("receipts", "export", "--url", Url(balancer), "--out", outFile, "--checkpoint", head);

        if (run.ExitCode == 0)
        {
            Assert.True(File.ReadAllLines(outFile).Length == 3, $"exit 0 with {File.ReadAllLines(outFile).Length} of the 3 receipts the saved checkpoint vouches for\n{run}");
        }
        else
        {
            Assert.Equal(3, run.ExitCode);
        }
    }

    [Fact]
    public async Task The_first_page_after_N_answered_by_an_instance_without_the_chain_does_not_end_the_export_empty()
    {
        // --after 1 --gateway A: the first (and only) page request reaches B, which answers an empty page.
        var a = await ReceiptsGatewayOf(_a);
        await using var balancer = await StartBalancerAsync(_b, _a);
        var outFile = Path.Combine(_dir, "after.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", Url(balancer), "--after", "1", "--gateway", a, "--out", outFile);

        if (run.ExitCode == 0)
        {
            Assert.True(File.ReadAllLines(outFile).Length == 2, $"exit 0 with {File.ReadAllLines(outFile).Length} of the 2 receipts after seq 1\n{run}");
        }
        else
        {
            Assert.Equal(3, run.ExitCode);
        }
    }

    [Fact]
    public async Task An_incremental_export_with_nothing_new_still_succeeds()
    {
        // A's chain ends at seq 3: nothing after it, exit 0 and an empty export (no regression of the fix).
        var outFile = Path.Combine(_dir, "none.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", _a.Url, "--after", "3", "--out", outFile);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Empty(File.ReadAllLines(outFile));
    }

    [Fact]
    public async Task An_export_after_a_seq_beyond_the_chains_end_says_so_without_an_empty_gateway_name()
    {
        // It said "...the page after seq 1000 of gateway  without its receipt 1000".
        var outFile = Path.Combine(_dir, "beyond.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", _a.Url, "--after", "1000", "--out", outFile);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("the page after seq 1000 of its chain without its receipt 1000", run.Err, StringComparison.Ordinal);
        Assert.Contains("--after beyond its end", run.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(outFile));
    }

    [Fact]
    public async Task Checkpoint_through_a_link_whose_target_passes_a_symlinked_directory_does_not_replace_the_export()
    {
        // real/sub is the export's directory; alias -> real; link -> alias/sub. link/export.ndjson
        // and real/sub/export.ndjson are one file, but the link's final target (alias/sub) still
        // holds a symbolic link.
        var real = Directory.CreateDirectory(Path.Combine(_dir, "real")).FullName;
        var sub = Directory.CreateDirectory(Path.Combine(real, "sub")).FullName;
        var alias = Path.Combine(_dir, "alias");
        Directory.CreateSymbolicLink(alias, real);
        var link = Path.Combine(_dir, "link");
        Directory.CreateSymbolicLink(link, Path.Combine(alias, "sub"));

        var run = await Tool.RunAsync("receipts", "export", "--url", _a.Url,
            "--out", Path.Combine(sub, "export.ndjson"), "--checkpoint", Path.Combine(link, "export.ndjson"));

        if (run.ExitCode == 0)
        {
            Assert.True(File.ReadAllLines(Path.Combine(sub, "export.ndjson")).Length == 3,
                $"exit 0, and the export holds: {File.ReadAllText(Path.Combine(sub, "export.ndjson"))}\n{run}");
        }
        else
        {
            Assert.Equal(2, run.ExitCode);
        }
    }

    [Fact]
    public async Task A_checkpoint_path_through_a_loop_of_two_symlinks_is_a_usage_error_not_a_crash()
    {
        // a -> b/x and b -> a/y: a loop the kernel reports as ELOOP. Run as the built tool: a
        // stack overflow would take the test host down with it.
        File.CreateSymbolicLink(Path.Combine(_dir, "a"), "b/x");
        File.CreateSymbolicLink(Path.Combine(_dir, "b"), "a/y");

        var run = await Tool.RunProcessAsync("receipts", "export", "--url", _a.Url,
            "--out", Path.Combine(_dir, "export.ndjson"), "--checkpoint", Path.Combine(_dir, "a", "head.json"));

        Assert.True(run.ExitCode == 2, run.ToString()[..Math.Min(run.ToString().Length, 2000)]);
    }

    [Fact]
    public async Task Checkpoint_of_an_empty_chain_exports_nothing_with_exit_0()
    {
        await using var empty = await GatewayServer.StartAsync();
        var outFile = Path.Combine(_dir, "empty.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", empty.Url, "--out", outFile, "--checkpoint", Path.Combine(_dir, "empty.head.json"));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Empty(File.ReadAllLines(outFile));
    }

    [Fact]
    public async Task A_checkpoint_naming_its_gateway_twice_is_refused_before_anything_is_written()
    {
        // A's checkpoint (3 receipts) with a second "gateway" key naming B: a lax reader takes the
        // last one and exports B's chain beside a checkpoint that 'audit --head' refuses to read.
        var head = await _a.Client.GetStringAsync("/receipts/head");
        var twice = head.TrimEnd()[..^1] + $",\"gateway\":\"{await ReceiptsGatewayOf(_b)}\"}}";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.Run(async context =>
        {
            if (context.Request.Path == "/receipts/head")
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(twice);
                return;
            }
            var answer = await _b.Client.GetByteArrayAsync(context.Request.Path + context.Request.QueryString);
            context.Response.ContentType = "application/x-ndjson";
            await context.Response.Body.WriteAsync(answer);
        });
        await app.StartAsync();
        var outFile = Path.Combine(_dir, "twice.ndjson");
        var checkpoint = Path.Combine(_dir, "twice.head.json");

        var run = await Tool.RunAsync("receipts", "export", "--url", Url(app), "--out", outFile, "--checkpoint", checkpoint);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("Duplicate key 'gateway'", run.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(outFile));
        Assert.False(File.Exists(checkpoint));
    }

    [Fact]
    public async Task An_empty_gateway_id_is_a_usage_error()
    {
        // The gateway refuses an empty gateway parameter (400 invalid_query): said as the usage
        // error it is, before anything is asked or written.
        var outFile = Path.Combine(_dir, "empty-gateway.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", _a.Url, "--gateway", "", "--out", outFile);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("--gateway", run.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(outFile));
    }

    [Fact]
    public async Task A_gateway_id_the_store_never_held_is_refused_not_exported_as_an_empty_chain()
    {
        // An empty export of a mistyped id would audit clean.
        var outFile = Path.Combine(_dir, "typo.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", _a.Url, "--gateway", "gw-typo", "--out", outFile);

        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.Contains("HTTP 404: No chain of gateway 'gw-typo'", run.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(outFile));
    }

    [Theory]
    [InlineData("0", 0, 3)]
    [InlineData("1", 0, 2)]
    [InlineData("-1", 2, -1)]
    public async Task After_edge_values(string after, int exit, int lines)
    {
        var outFile = Path.Combine(_dir, $"after{after}.ndjson");

        var run = await Tool.RunAsync("receipts", "export", "--url", _a.Url, "--after", after, "--out", outFile, "--checkpoint", Path.Combine(_dir, $"after{after}.head.json"));

        Assert.True(run.ExitCode == exit, run.ToString());
        if (lines >= 0)
        {
            Assert.Equal(lines, File.ReadAllLines(outFile).Length);
        }
    }
}
