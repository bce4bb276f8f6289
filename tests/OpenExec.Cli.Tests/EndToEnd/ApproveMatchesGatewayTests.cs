using System.Net;
using System.Text;
using OpenExec.Cli.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Cli.Tests.EndToEnd;

/// <summary>
/// An approval that <c>openexec approve</c> mints (exit 0) must be one the real gateway
/// accepts for the request the user described; a request the gateway refuses whatever the
/// approval must be refused by the CLI up front (exit 2), not minted.
/// </summary>
public sealed class ApproveMatchesGatewayTests : IAsyncLifetime
{
    private const string Tenant = "tenant-001";
    private readonly string _dir = TempDir.Create();
    private WireMockServer _backend = null!;
    private GatewayServer _gateway = null!;
    private int _nonce;

    private string Key => Path.Combine(_dir, "gov.pem");

    public async Task InitializeAsync()
    {
        Assert.Equal(0, (await Tool.RunAsync("keygen", "--private", Key, "--public", Path.Combine(_dir, "gov.pub"))).ExitCode);
        _backend = WireMockServer.Start();
        _backend.Given(Request.Create().UsingAnyMethod())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"ok":true}"""));
        _gateway = await GatewayServer.StartAsync(ProxyConfig.Route("api", "api_call", "v1", _backend.Urls[0] + "/"), new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_PUBLIC_KEY"] = File.ReadAllText(Path.Combine(_dir, "gov.pub")),
            ["CLAWSHIELD_TENANT_ID"] = Tenant,
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _backend.Stop();
        TempDir.Delete(_dir);
    }

    /// <summary>Mints with the CLI; if it mints, sends the request and returns the gateway's answer.</summary>
    private async Task<(CliRun Approve, HttpStatusCode? Status, string Answer)> ApproveThenSendAsync(
        string method, string target, string[] extraArgs, byte[]? body, string? contentType)
    {
        var approve = await Tool.RunAsync(["approve", "--key", Key, "--tenant", Tenant, "--action", "api_call", "--http", method, target, .. extraArgs, "--header"]);
        if (approve.ExitCode != 0)
        {
            return (approve, null, "");
        }
        var (status, answer) = await SendRawAsync(method, target, approve.Out.Trim(), body, contentType);
        return (approve, status, answer);
    }

    /// <summary>
    /// Sends the request-target byte for byte, as curl (--path-as-is) or any raw client does:
    /// HttpClient would re-escape it through System.Uri first.
    /// </summary>
    private async Task<(HttpStatusCode Status, string Answer)> SendRawAsync(string method, string target, string approval, byte[]? body, string? contentType)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(_gateway.BaseAddress.Host, _gateway.BaseAddress.Port);
        var stream = tcp.GetStream();
        var head = new StringBuilder()
            .Append($"{method} {target} HTTP/1.1\r\n")
            .Append($"Host: {_gateway.BaseAddress.Authority}\r\n")
            .Append("Connection: close\r\n")
            .Append($"Idempotency-Key: k-{++_nonce}\r\n")
            .Append($"OpenExec-Approval: {approval}\r\n");
        if (contentType is not null)
        {
            head.Append($"Content-Type: {contentType}\r\n");
        }
        head.Append($"Content-Length: {body?.Length ?? 0}\r\n\r\n");
        await stream.WriteAsync(Encoding.Latin1.GetBytes(head.ToString()));
        if (body is not null)
        {
            await stream.WriteAsync(body);
        }
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        var status = (HttpStatusCode)int.Parse(text.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
    }

    private static void MintedOnlyIfAccepted((CliRun Approve, HttpStatusCode? Status, string Answer) result)
    {
        // Either the CLI refuses (exit 2, nothing on stdout), or what it minted executes.
        if (result.Approve.ExitCode == 0)
        {
            Assert.True(result.Status == HttpStatusCode.OK, $"openexec approve minted an approval (exit 0) that the gateway refused: {result.Status} {result.Answer}\n{result.Approve}");
        }
        else
        {
            Assert.Equal(2, result.Approve.ExitCode);
            Assert.Equal("", result.Approve.Out);
        }
    }

    [Fact]
    public async Task Sanity_a_plain_proxied_approval_executes()
    {
        var result = await ApproveThenSendAsync("POST", "/v1/send?x=1", ["--body", """{"a":1}"""], """{"a":1}"""u8.ToArray(), "application/json");
        Assert.Equal(0, result.Approve.ExitCode);
        Assert.Equal(HttpStatusCode.OK, result.Status);
    }

    [Fact]
    public async Task A_query_given_with_its_question_mark_is_not_minted_for_another_query()
    {
        // The user gives the query as it appears in the URL, '?' included; the agent sends /v1/items?page=2.
        MintedOnlyIfAccepted(await ApproveThenSendWithSeparateQueryAsync("?page=2"));
    }

    private async Task<(CliRun Approve, HttpStatusCode? Status, string Answer)> ApproveThenSendWithSeparateQueryAsync(string query)
    {
        var approve = await Tool.RunAsync("approve", "--key", Key, "--tenant", Tenant, "--action", "api_call", "--http", "GET", "/v1/items", "--query", query, "--header");
        if (approve.ExitCode != 0)
        {
            return (approve, null, "");
        }
        var (status, answer) = await SendRawAsync("GET", "/v1/items?page=2", approve.Out.Trim(), null, null);
        return (approve, status, answer);
    }

    [Theory]
    [InlineData("application/json; charset=iso-8859-1")]
    [InlineData("application/json; charset=utf-16")]
    public async Task A_JSON_body_with_a_charset_the_gateway_refuses_is_not_minted(string contentType)
    {
        MintedOnlyIfAccepted(await ApproveThenSendAsync("POST", "/v1/send", ["--body", """{"a":1}""", "--content-type", contentType], """{"a":1}"""u8.ToArray(), contentType));
    }

    [Theory]
    [InlineData("/v1/items/a%41")]         // an escaped unreserved character: forwarded decoded
    [InlineData("/v1/items/a%28b%29")]     // Python's quote() escapes '(' and ')': forwarded decoded
    [InlineData("/v1/items/%zz")]          // a '%' that starts no escape
    [InlineData("/v1/items/a%ff")]         // not UTF-8 once decoded
    [InlineData("/v1/items/a\"b")]         // a raw '"' the forwarder escapes
    [InlineData("/v1/items/a{b}")]         // raw braces the forwarder escapes
    public async Task A_path_the_gateway_would_not_forward_as_sent_is_not_minted(string path)
    {
        MintedOnlyIfAccepted(await ApproveThenSendAsync("DELETE", path, [], null, null));
    }

    [Theory]
    [InlineData("/v1/items?name=%41")]     // an escaped unreserved character: System.Uri decodes it
    [InlineData("/v1/items?q=100%")]       // a '%' that starts no escape
    [InlineData("/v1/items?q=a\"b")]       // a raw '"'
    public async Task A_query_the_gateway_would_not_forward_as_sent_is_not_minted(string target)
    {
        MintedOnlyIfAccepted(await ApproveThenSendAsync("GET", target, [], null, null));
    }

    [Theory]
    [InlineData("/v1/items/caf%C3%A9")]    // non-ASCII, percent-encoded as UTF-8: forwarded as sent
    [InlineData("/v1/items/a%20b")]        // an escaped space
    [InlineData("/v1/items/a%3Fb")]        // an escaped '?'
    [InlineData("/v1/items/a%25b")]        // an escaped '%'
    [InlineData("/v1/items/x;y=1")]
    [InlineData("/v1/items/a%7Bb%7D")]
    [InlineData("/v1/items?q=%C3%A9&r=a%20b")]
    [InlineData("/v1/items?q=%2F%3D%26%21%28")]
    [InlineData("/v1/items?q=%ff")]
    [InlineData("/v1/items?q=a/b?c")]
    [InlineData("/v1/items?page[size]=10&filter[name]=x")] // raw brackets, as fetch/curl -g send them: System.Uri keeps them
    public async Task Paths_the_gateway_forwards_as_sent_are_minted_and_execute(string path)
    {
        var result = await ApproveThenSendAsync("DELETE", path, [], null, null);
        Assert.True(result.Approve.ExitCode == 0, result.Approve.ToString());
        Assert.True(result.Status == HttpStatusCode.OK, $"{result.Status} {result.Answer}");
    }
}
