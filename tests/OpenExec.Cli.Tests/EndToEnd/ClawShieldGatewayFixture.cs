using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenExec.Cli.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Cli.Tests.EndToEnd;

/// <summary>
/// A real gateway in clawshield mode, trusting a governance key made by <c>openexec keygen</c>,
/// with one routed action to a WireMock backend and audit tokens set. Approvals are minted with
/// <c>openexec approve</c>; the resulting chain is exported with <c>openexec receipts export</c>.
/// </summary>
public sealed class ClawShieldGatewayFixture : IAsyncLifetime
{
    public const string Tenant = "tenant-001";
    public const string AuditToken = "audit-secret";
    public const string ProxiedBody = """{"to":"a@example.com","subject":"hi"}""";

    private WireMockServer? _backend;

    public string Dir { get; } = TempDir.Create();

    public GatewayServer Gateway { get; private set; } = null!;

    public string GovernanceKey => Path.Combine(Dir, "gov.pem");

    public string ExportFile => Path.Combine(Dir, "export.ndjson");

    public string CheckpointFile => Path.Combine(Dir, "head.json");

    public string KeysFile => Path.Combine(Dir, "keys.json");

    /// <summary>The /execute answer of the first approved call, as received.</summary>
    public string FirstExecuteAnswer { get; private set; } = "";

    /// <summary>Each step's HTTP status, in order.</summary>
    public List<(string Step, HttpStatusCode Status)> Steps { get; } = [];

    public CliRun ExportRun { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var keygen = await Tool.RunAsync("keygen", "--private", GovernanceKey, "--public", Path.Combine(Dir, "gov.pub"));
        Assert.True(keygen.ExitCode == 0, keygen.ToString());

        _backend = WireMockServer.Start();
        _backend.Given(Request.Create().WithPath("/v1/send").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"sent":true}"""));
        var settings = ProxyConfig.Route("email", "send_email", "v1", _backend.Urls[0] + "/", into: new Dictionary<string, string?>
        {
            ["OpenExec:AuditTokens:0"] = AuditToken,
        });
        Gateway = await GatewayServer.StartAsync(settings, new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_PUBLIC_KEY"] = File.ReadAllText(Path.Combine(Dir, "gov.pub")),
            ["CLAWSHIELD_TENANT_ID"] = Tenant,
        });

        // seq 1: /execute with an approval minted by `openexec approve`.
        var first = await ExecuteAsync("echo", """{"msg":"hello world"}""", "n-1", Tenant);
        FirstExecuteAnswer = await first.Content.ReadAsStringAsync();
        Steps.Add(("execute echo", first.StatusCode));
        // seq 2: a proxied call with an approval minted by `openexec approve --http ... --header`.
        Steps.Add(("proxied send_email", (await ProxiedAsync("p-1")).StatusCode));
        // seq 3..6: more executions, a refusal and a replay, so the chain has every kind of receipt.
        Steps.Add(("execute add", (await ExecuteAsync("add", """{"a":2,"b":3}""", "n-2", Tenant)).StatusCode));
        Steps.Add(("wrong tenant", (await ExecuteAsync("echo", """{"msg":"x"}""", "n-3", "other-tenant")).StatusCode));
        Steps.Add(("execute echo 2", (await ExecuteAsync("echo", """{"msg":"again"}""", "n-4", Tenant)).StatusCode));
        Steps.Add(("replay", (await ExecuteAsync("echo", """{"msg":"hello world"}""", "n-1", Tenant)).StatusCode));

        ExportRun = await Tool.RunAsync("receipts", "export", "--url", Gateway.Url, "--token", AuditToken, "--out", ExportFile, "--checkpoint", CheckpointFile);
        File.WriteAllText(KeysFile, await Gateway.Client.GetStringAsync("/.well-known/openexec-keys"));
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        _backend?.Stop();
        TempDir.Delete(Dir);
    }

    /// <summary>The exported lines and, for each, its seq and exec_id.</summary>
    public (string[] Lines, long[] Seq, string[] ExecId) Export()
    {
        var lines = File.ReadAllLines(ExportFile);
        var bodies = lines.Select(l => JsonNode.Parse(l)!["body"]!).ToArray();
        return (lines, bodies.Select(b => b["seq"]!.GetValue<long>()).ToArray(), bodies.Select(b => b["exec_id"]!.GetValue<string>()).ToArray());
    }

    /// <summary>Writes <paramref name="lines"/> as an NDJSON file beside the export; returns its path.</summary>
    public string WriteVariant(string name, IEnumerable<string> lines)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    private async Task<HttpResponseMessage> ExecuteAsync(string action, string payload, string nonce, string tenant)
    {
        var approve = await Tool.RunAsync("approve", "--key", GovernanceKey, "--tenant", tenant, "--action", action, "--payload", payload);
        Assert.True(approve.ExitCode == 0, approve.ToString());
        var body = $$"""{"action":"{{action}}","payload":{{payload}},"nonce":"{{nonce}}","approval_artifact":{{approve.Out.Trim()}}}""";
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return await Gateway.Client.PostAsync("/execute", content);
    }

    private async Task<HttpResponseMessage> ProxiedAsync(string nonce)
    {
        var approve = await Tool.RunAsync("approve", "--key", GovernanceKey, "--tenant", Tenant, "--action", "send_email", "--http", "POST", "/v1/send?priority=high", "--body", ProxiedBody, "--header");
        Assert.True(approve.ExitCode == 0, approve.ToString());
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/send?priority=high") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(ProxiedBody)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", nonce);
        request.Headers.TryAddWithoutValidation("OpenExec-Approval", approve.Out.Trim());
        return await Gateway.Client.SendAsync(request);
    }

    /// <summary>Reads one JSON answer, for assertions.</summary>
    public static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();
}
