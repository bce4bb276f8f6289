using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>ClawShield approvals over proxied requests: the approval covers method, path, query and body.</summary>
public sealed class ProxyApprovalTests : IAsyncLifetime
{
    private const string Tenant = "tenant-001";
    private readonly WireMockServer _backend = WireMockServer.Start();
    private readonly ReceiptSigningKey _governance = ReceiptSigningKey.Generate();
    private GatewayServer _gateway = null!;

    public async Task InitializeAsync()
    {
        _backend.Given(Request.Create().WithPath("/v1/*")).RespondWith(Response.Create().WithStatusCode(200).WithBody("""{"ok":true}"""));
        var settings = ProxyConfig.Route("email", "send_email", "v1", _backend.Urls[0] + "/");
        _gateway = await GatewayServer.StartAsync(settings, new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_PUBLIC_KEY"] = _governance.ExportPublicPem(),
            ["CLAWSHIELD_TENANT_ID"] = Tenant,
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _backend.Stop();
        _governance.Dispose();
    }

    /// <summary>The action hash of a proxied request, built as SPEC section 5 says.</summary>
    private static string HashOf(string method, string path, string query, string jsonBody)
    {
        var payload = new StrictObject(
        [
            new("method", new StrictString(method)),
            new("path", new StrictString(path)),
            new("query", new StrictString(query)),
            new("body", StrictJson.Parse(Encoding.UTF8.GetBytes(jsonBody))),
        ]);
        return ActionHash.Compute("send_email", payload);
    }

    private string Approve(string hash)
    {
        var now = DateTimeOffset.UtcNow;
        return new ApprovalMinter(_governance).Mint(Tenant, hash, now.AddSeconds(-5), now.AddMinutes(5)).ToHeader();
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string target, string body, string nonce, string? approval, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(method, target) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", nonce);
        if (approval is not null)
        {
            request.Headers.TryAddWithoutValidation("OpenExec-Approval", approval);
        }
        return _gateway.Client.SendAsync(request);
    }

    [Fact]
    public async Task An_approval_for_the_exact_request_runs_once()
    {
        const string body = """{"to":"a@example.com"}""";
        var approval = Approve(HashOf("POST", "/v1/send", "x=1", body));

        var ok = await SendAsync(HttpMethod.Post, "/v1/send?x=1", body, "n-1", approval);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var seen = Assert.Single(_backend.LogEntries).RequestMessage;
        Assert.False(seen.Headers!.ContainsKey("OpenExec-Approval"));

        // Whitespace is not part of the approved meaning: the parsed body is what is hashed.
        var reused = await SendAsync(HttpMethod.Post, "/v1/send?x=1", body, "n-2", approval);
        Assert.Equal(HttpStatusCode.Forbidden, reused.StatusCode);
        Assert.Equal("approval_reused", (await Json.ReadAsync(reused)).Str("code"));
        Assert.Single(_backend.LogEntries);
    }

    [Fact]
    public async Task An_approval_for_a_tenant_whose_id_ends_with_ours_cannot_be_recut_to_run_here()
    {
        // One governance key, two tenants: eu-tenant-001 and this gateway's tenant-001. With no
        // separators in the signed message, "uuid"+"eu-tenant-001" re-cut as "uuid eu-"+"tenant-001"
        // keeps its signature; only approval_id's fixed UUID form tells the cuts apart.
        const string body = """{"to":"a@example.com"}""";
        var now = DateTimeOffset.UtcNow;
        var theirs = new ApprovalMinter(_governance).Mint("eu-" + Tenant, HashOf("POST", "/v1/send", "", body), now.AddSeconds(-5), now.AddMinutes(5));
        var recut = theirs with { ApprovalId = theirs.ApprovalId + "eu-", TenantId = Tenant };
        Assert.Equal(theirs.SignedMessage(), recut.SignedMessage());

        var asSigned = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-theirs", theirs.ToHeader());
        await GatewayAssert.ProblemAsync(asSigned, HttpStatusCode.Forbidden, "tenant_mismatch");
        var response = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-recut", recut.ToHeader());
        var problem = await GatewayAssert.ProblemAsync(response, HttpStatusCode.BadRequest, "invalid_approval");
        Assert.Contains("UUID", problem.Str("detail"), StringComparison.Ordinal);
        Assert.Empty(_backend.LogEntries);
    }

    [Theory]
    [InlineData("PUT", "/v1/send?x=1", """{"to":"a@example.com"}""")]
    [InlineData("POST", "/v1/other?x=1", """{"to":"a@example.com"}""")]
    [InlineData("POST", "/v1/send?x=2", """{"to":"a@example.com"}""")]
    [InlineData("POST", "/v1/send", """{"to":"a@example.com"}""")]
    [InlineData("POST", "/v1/send?x=1", """{"to":"evil@example.com"}""")]
    public async Task Tampered_method_path_query_or_body_is_refused(string method, string target, string body)
    {
        var approval = Approve(HashOf("POST", "/v1/send", "x=1", """{"to":"a@example.com"}"""));

        var response = await SendAsync(new HttpMethod(method), target, body, "n-" + Guid.NewGuid(), approval);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await Json.ReadAsync(response);
        Assert.Equal("action_hash_mismatch", problem.Str("code"));
        Assert.Equal("Action hash mismatch: approval does not match this request", problem.Str("detail"));
        Assert.Empty(_backend.LogEntries);
    }

    [Theory]
    [InlineData("application/json; charset=utf-7")]
    [InlineData("application/json;charset=\"UTF-7\"")]
    [InlineData("application/json; charset=shift_jis")]
    [InlineData("application/json; charset=utf-8; charset=utf-7")]
    public async Task A_json_body_in_a_charset_other_than_utf8_is_refused_not_forwarded(string contentType)
    {
        // The body is hashed as the UTF-8 text the gateway parses; a backend that decodes it with
        // the named charset (aiohttp's request.json(), Spring's Jackson for non-Unicode charsets)
        // reads another document from the same bytes. "+ACIALAAiAHQAbwAiADoAIgBtAGEAbABsAG8AcgB5-"
        // is UTF-7 for  ","to":"mallory  : approved for to=a@example.com, it would run for mallory.
        const string body = """{"to":"a@example.com","memo":"+ACIALAAiAHQAbwAiADoAIgBtAGEAbABsAG8AcgB5-"}""";
        var approval = Approve(HashOf("POST", "/v1/send", "", body));

        var response = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-" + Guid.NewGuid(), approval, contentType);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("unsupported_media_type", (await Json.ReadAsync(response)).Str("code"));
        Assert.Empty(_backend.LogEntries);
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/json; charset=\"UTF-8\"")]
    [InlineData("application/json; charset=utf8")]
    [InlineData("Application/JSON")]
    public async Task Utf8_json_still_runs(string contentType)
    {
        const string body = """{"to":"a@example.com"}""";
        var response = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-" + Guid.NewGuid(), Approve(HashOf("POST", "/v1/send", "", body)), contentType);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(_backend.LogEntries);
    }

    /// <summary>Sends a raw HTTP/1.1 request (one HttpClient would not send) and reads the whole answer.</summary>
    private async Task<string> SendRawAsync(string request)
    {
        var address = new Uri(_gateway.Client.BaseAddress!, "/");
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
        return await new StreamReader(stream).ReadToEndAsync();
    }

    /// <summary>The hash of a body in the bytes form, as the CLI and a governance service compute it.</summary>
    private static string BytesHashOf(string method, string path, string contentType, string body)
        => ActionHash.Compute("send_email", ProxiedRequestPayload.Create(method, path, "", ProxiedRequestPayload.Body(contentType, Encoding.UTF8.GetBytes(body))));

    [Fact]
    public async Task Content_type_parameters_are_approved_and_forwarded_as_approved()
    {
        // One multipart body, two boundaries: the backend reads a different form from each.
        const string body = "--BBB\r\nContent-Disposition: form-data; name=\"amount\"\r\n\r\n1000000\r\n--BBB--\r\n--AAA\r\nContent-Disposition: form-data; name=\"amount\"\r\n\r\n10\r\n--AAA--\r\n";
        var approval = Approve(BytesHashOf("POST", "/v1/send", "multipart/form-data; boundary=AAA", body));

        var other = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-" + Guid.NewGuid(), approval, "multipart/form-data; boundary=BBB");
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        Assert.Equal("action_hash_mismatch", (await Json.ReadAsync(other)).Str("code"));
        Assert.Empty(_backend.LogEntries);

        var approved = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-" + Guid.NewGuid(), approval, "Multipart/Form-Data;boundary=AAA");
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal("multipart/form-data; boundary=AAA", Assert.Single(_backend.LogEntries).RequestMessage.Headers!["Content-Type"].Single());
    }

    [Fact]
    public async Task A_JSON_based_type_other_than_application_json_is_approved_with_its_type()
    {
        // merge-patch and json-patch do different things with the same JSON: the type is covered.
        const string body = """{"a":null}""";
        var parsed = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-" + Guid.NewGuid(), Approve(HashOf("POST", "/v1/send", "", body)), "application/merge-patch+json");
        Assert.Equal(HttpStatusCode.Forbidden, parsed.StatusCode);
        Assert.Equal("action_hash_mismatch", (await Json.ReadAsync(parsed)).Str("code"));

        var typed = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-" + Guid.NewGuid(), Approve(BytesHashOf("POST", "/v1/send", "application/merge-patch+json", body)), "application/merge-patch+json");
        Assert.Equal(HttpStatusCode.OK, typed.StatusCode);
        Assert.Equal("application/merge-patch+json", Assert.Single(_backend.LogEntries).RequestMessage.Headers!["Content-Type"].Single());
    }

    [Fact]
    public async Task Keys_that_differ_only_in_case_are_refused_before_the_backend()
    {
        // A backend matching keys ignoring case reads the last one: the order is not approved.
        const string body = """{"amount":10,"to":"bob","Amount":1000000}""";
        var response = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-" + Guid.NewGuid(), Approve(HashOf("POST", "/v1/send", "", body)));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("duplicate_key", (await Json.ReadAsync(response)).Str("code"));
        Assert.Empty(_backend.LogEntries);
    }

    [Theory]
    [InlineData("multipart/form-data; boundary=A; boundary=B")]
    [InlineData("multipart/form-data; boundary")]
    [InlineData("text/plain; charset=\"utf-8")]
    [InlineData("not a media type")]
    public async Task A_content_type_that_is_not_one_media_type_is_refused(string contentType)
    {
        var response = await SendAsync(HttpMethod.Post, "/v1/send", "x", "n-" + Guid.NewGuid(), Approve(BytesHashOf("POST", "/v1/send", "text/plain", "x")), contentType);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("unsupported_media_type", (await Json.ReadAsync(response)).Str("code"));
        Assert.Empty(_backend.LogEntries);
    }

    [Fact]
    public async Task Two_content_type_headers_are_refused()
    {
        var answer = await SendRawAsync($"POST /v1/send HTTP/1.1\r\nHost: x\r\nIdempotency-Key: n-two\r\nOpenExec-Approval: {Approve(BytesHashOf("POST", "/v1/send", "text/plain", "x"))}\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");

        Assert.StartsWith("HTTP/1.1 415", answer, StringComparison.Ordinal);
        Assert.Empty(_backend.LogEntries);
    }

    [Fact]
    public async Task A_header_the_forwarder_cannot_send_is_refused_before_the_claim()
    {
        // Kestrel takes UTF-8 in a header value; the backend's HTTP client refused it only once
        // the call was under way: 504 outcome_unknown, the nonce and approval spent, nothing sent.
        var approval = Approve(HashOf("POST", "/v1/send", "", "{}"));
        Task<string> SendNoteAsync(string note)
            => SendRawAsync($"POST /v1/send HTTP/1.1\r\nHost: x\r\nIdempotency-Key: n-note\r\nOpenExec-Approval: {approval}\r\nX-Note: {note}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}");

        var refused = await SendNoteAsync("caf\u00e9");
        Assert.StartsWith("HTTP/1.1 400", refused, StringComparison.Ordinal);
        Assert.Contains("\"code\":\"invalid_request\"", refused, StringComparison.Ordinal);
        Assert.Contains("X-Note", refused, StringComparison.Ordinal);
        Assert.Empty(_backend.LogEntries);

        // Nothing was consumed: the same nonce and approval run once the header is ASCII.
        Assert.StartsWith("HTTP/1.1 200", await SendNoteAsync("cafe"), StringComparison.Ordinal);
        Assert.Single(_backend.LogEntries);
    }

    [Fact]
    public async Task A_non_ASCII_header_that_is_not_forwarded_is_not_refused()
    {
        // A header the gateway drops never reaches the backend's client. (One named in Connection
        // beside "close" is forwarded: Kestrel keeps only the option; see the README.)
        var approval = Approve(HashOf("POST", "/v1/send", "", "{}"));
        var answer = await SendRawAsync($"POST /v1/send HTTP/1.1\r\nHost: x\r\nIdempotency-Key: n-hop\r\nOpenExec-Approval: {approval}\r\nConnection: close\r\nX-Original-URL: /caf\u00e9\r\nForwarded: for=\"caf\u00e9\"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}");

        Assert.True(answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal), answer);
        var seen = Assert.Single(_backend.LogEntries).RequestMessage.Headers!;
        Assert.DoesNotContain(seen.Keys, k => k.Equals("X-Original-URL", StringComparison.OrdinalIgnoreCase) || k.Equals("Forwarded", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Missing_or_malformed_approval_header_never_reaches_the_backend()
    {
        var missing = await SendAsync(HttpMethod.Post, "/v1/send", "{}", "n-missing", approval: null);
        Assert.Equal(HttpStatusCode.Forbidden, missing.StatusCode);
        Assert.Equal("approval_required", (await Json.ReadAsync(missing)).Str("code"));

        var malformed = await SendAsync(HttpMethod.Post, "/v1/send", "{}", "n-bad", approval: "not base64url!");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal("invalid_approval", (await Json.ReadAsync(malformed)).Str("code"));

        Assert.Empty(_backend.LogEntries);
    }

    public static TheoryData<string> ApprovalRefusals() => ["invalid_signature", "approval_expired", "approval_not_yet_valid", "approval_lifetime"];

    /// <summary>
    /// Steps 3 and 5 at the proxy door (SPEC section 3: the same checks at both doors): each
    /// refusal is answered with its code and a receipt naming it, and nothing reaches the backend.
    /// </summary>
    [Theory]
    [MemberData(nameof(ApprovalRefusals))]
    public async Task An_approval_refused_at_the_proxy_door_is_receipted_and_never_forwarded(string code)
    {
        const string body = """{"to":"a@example.com"}""";
        var hash = HashOf("POST", "/v1/send", "", body);
        var now = DateTimeOffset.UtcNow;
        using var otherKey = ReceiptSigningKey.Generate();
        var approval = code switch
        {
            "invalid_signature" => new ApprovalMinter(otherKey).Mint(Tenant, hash, now.AddSeconds(-5), now.AddMinutes(5)),
            "approval_expired" => new ApprovalMinter(_governance).Mint(Tenant, hash, now.AddMinutes(-20), now.AddMinutes(-10)),
            "approval_not_yet_valid" => new ApprovalMinter(_governance).Mint(Tenant, hash, now.AddMinutes(10), now.AddMinutes(20)),
            _ => new ApprovalMinter(_governance).Mint(Tenant, hash, now.AddSeconds(-5), now.AddDays(2)),
        };

        var response = await SendAsync(HttpMethod.Post, "/v1/send", body, $"n-{code}", approval.ToHeader());

        var problem = await GatewayAssert.ProblemAsync(response, HttpStatusCode.Forbidden, code);
        var receipt = await GatewayAssert.ReceiptBodyAsync(_gateway, problem.Str("id"));
        Assert.Equal(("rejected", code, "send_email"), (receipt.Str("decision"), receipt.Str("code"), receipt.Str("action")));
        Assert.Equal(hash, receipt.Str("request_sha256"));
        // An approval that did not verify names no tenant or approval id of its own in the receipt.
        Assert.Equal(code == "invalid_signature" ? null : approval.ApprovalId, receipt.GetProperty("approval_id").GetString());
        Assert.Empty(_backend.LogEntries);

        // Nothing was consumed: the same nonce with a good approval runs.
        var retried = await SendAsync(HttpMethod.Post, "/v1/send", body, $"n-{code}", Approve(hash));
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        Assert.Single(_backend.LogEntries);
    }

    [Fact]
    public async Task An_approval_header_with_base64_padding_is_accepted()
    {
        const string body = """{"to":"padded@example.com"}""";
        // Timestamps with all six fraction digits (isoformat drops them at .000000), so the
        // header's length, and the padding it needs, is the same in every run.
        var now = DateTimeOffset.UtcNow;
        static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", System.Globalization.CultureInfo.InvariantCulture);
        var header = new ApprovalMinter(_governance).MintRaw(Guid.NewGuid().ToString(), Tenant, HashOf("POST", "/v1/send", "", body), Iso(now.AddSeconds(-5)), Iso(now.AddMinutes(5))).ToHeader();
        // base64url is sent unpadded; a client library that pads it must not be refused.
        Assert.NotEqual(0, header.Length % 4);
        var padded = header + new string('=', 4 - (header.Length % 4));

        var response = await SendAsync(HttpMethod.Post, "/v1/send", body, "n-padded", padded);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(_backend.LogEntries);
    }
}
