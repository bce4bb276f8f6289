using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli.Tests.Receipts;

/// <summary>`receipts verify` given an /execute answer: the answer around the receipt must be the one the receipt signed.</summary>
public sealed class VerifyAnswerTests : IDisposable
{
    private readonly ReceiptFiles _files = new();
    private readonly ReceiptSigningKey _key = ReceiptSigningKey.Generate();

    public void Dispose()
    {
        _key.Dispose();
        _files.Dispose();
    }

    private (string Answer, ReceiptDocument Document) Answer(string resultJson, string recorded = "{\"sum\":5}")
    {
        var body = ReceiptFiles.Body("ex_1", "gw-a", 1, ReceiptBody.GenesisPrev) with
        {
            Action = "add",
            ResultSha256 = ResultHash.Canonical(StrictJson.ParseResult(System.Text.Encoding.UTF8.GetBytes(recorded))),
            ResultForm = ResultHash.CanonicalForm,
        };
        var document = ReceiptBatchSigner.Sign(_key, [body])[0];
        var answer = $$"""{"id":"ex_1","action":"add","result":{{resultJson}},"approved":true,"receipt":"{{document.Hash}}","receipt_document":{{document.ToJson()}}}""";
        return (answer, document);
    }

    private string Write(string name, string text) => _files.Write(name, text);

    private string KeysFile() => _files.KeysFile(_key);

    [Fact]
    public async Task The_genuine_answer_verifies()
    {
        var (answer, _) = Answer("{\"sum\":5}");
        var run = await Tool.RunAsync("receipts", "verify", Write("answer.json", answer), "--keys", KeysFile());
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    [Fact]
    public async Task An_answer_whose_result_was_altered_does_not_verify()
    {
        // The receipt says the result hashed to H({"sum":5}); the answer now claims 500.
        var (answer, _) = Answer("{\"sum\":500}");

        var run = await Tool.RunAsync("receipts", "verify", Write("answer.json", answer), "--keys", KeysFile());

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.DoesNotContain("\nVALID", "\n" + run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_answer_naming_another_receipt_than_the_one_it_embeds_does_not_verify()
    {
        var (answer, document) = Answer("{\"sum\":5}");
        var spliced = answer.Replace($"\"receipt\":\"{document.Hash}\"", $"\"receipt\":\"{new string('f', 64)}\"", StringComparison.Ordinal)
            .Replace("\"id\":\"ex_1\"", "\"id\":\"ex_2\"", StringComparison.Ordinal);

        var run = await Tool.RunAsync("receipts", "verify", Write("answer.json", spliced), "--keys", KeysFile());

        Assert.True(run.ExitCode == 1, run.ToString());
    }

    [Fact]
    public async Task An_answer_naming_another_action_does_not_verify()
    {
        var (answer, _) = Answer("{\"sum\":5}");
        var relabelled = answer.Replace("\"action\":\"add\",\"result\"", "\"action\":\"transfer\",\"result\"", StringComparison.Ordinal);
        Assert.NotEqual(answer, relabelled);

        var run = await Tool.RunAsync("receipts", "verify", Write("answer.json", relabelled), "--keys", KeysFile());

        Assert.True(run.ExitCode == 1, run.ToString());
    }

    [Theory]
    [InlineData("\"result\":{\"sum\":5},", "", "lacks 'result'")]
    [InlineData("\"id\":\"ex_1\",", "", "lacks 'id'")]
    [InlineData("\"approved\":true,", "", "lacks 'approved'")]
    [InlineData("\"approved\":true,", "\"approved\":false,", "'approved' is not true")]
    [InlineData("\"approved\":true,", "\"approved\":true,\"note\":\"refund issued\",", "holds 'note'")]
    [InlineData("\"approved\":true,", "\"approved\":true,\"upstream_status\":200,", "records no backend status")]
    [InlineData("\"approved\":true,", "\"approved\":true,\"result\":{\"sum\":500},", "not a receipt document: Duplicate key 'result'")]
    [InlineData("\"receipt_document\":{\"body\":{", "\"receipt_document\":{\"body\":{\"extra\":\"x\",", "not a receipt document: Invalid receipt body: unknown field 'extra'")]
    public async Task An_answer_not_shaped_as_the_gateway_writes_it_does_not_verify(string member, string replacement, string problem)
    {
        // Each member is checked against the receipt, so one removed is a claim nobody checked
        // (a result the auditor cannot see was the one signed) and one added is text the receipt
        // never signed: neither is the answer the receipt records. So is an answer with a key
        // twice (a reader keeping the last sees another result) or a receipt with a member more.
        var (answer, _) = Answer("{\"sum\":5}");
        var altered = answer.Replace(member, replacement, StringComparison.Ordinal);
        Assert.NotEqual(answer, altered);

        var run = await Tool.RunAsync("receipts", "verify", Write("answer.json", altered), "--keys", KeysFile());

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains(problem, run.Out, StringComparison.Ordinal);
        Assert.EndsWith("INVALID" + Environment.NewLine, run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("receipts audit", run.Out + run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_answer_whose_result_carries_more_digits_than_a_double_verifies()
    {
        // A routed action's JSON answer may hold a decimal with more digits than a double keeps
        // (README: the gateway accepts it and writes it into the answer verbatim).
        var (answer, _) = Answer("{\"price\":0.1234567890123456789}", recorded: "{\"price\":0.1234567890123456789}");

        var run = await Tool.RunAsync("receipts", "verify", Write("answer.json", answer), "--keys", KeysFile());

        Assert.True(run.ExitCode == 0, run.ToString());
    }

    [Fact]
    public async Task A_real_gateways_answer_whose_result_is_nested_as_deep_as_a_request_may_be_verifies()
    {
        // The deepest payload a request may carry (the request object is one level, so 63) comes
        // back as {"echo": payload}: a result 64 deep, which the answer wraps one level deeper.
        await using var gateway = await GatewayServer.StartAsync();
        var payload = "{\"a\":" + new string('[', 62) + new string(']', 62) + "}";
        var response = await gateway.PostJsonAsync("/execute", $$"""{"action":"echo","payload":{{payload}},"nonce":"deep-1"}""");
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var answer = Write("deep-answer.json", await response.Content.ReadAsStringAsync());

        var run = await Tool.RunAsync("receipts", "verify", answer, "--url", gateway.Url);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("answer     ok", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_answer_whose_upstream_status_was_altered_does_not_verify()
    {
        // A routed action's answer repeats the backend's status the receipt signed: a 404 (the
        // backend's own refusal) relabelled 200 is not the answer the receipt records.
        var body = ReceiptFiles.Body("ex_1", "gw-a", 1, ReceiptBody.GenesisPrev) with
        {
            Action = "lookup",
            ResultSha256 = ResultHash.Canonical(StrictJson.ParseResult("{\"error\":\"no such user\"}"u8)),
            ResultForm = ResultHash.CanonicalForm,
            UpstreamStatus = 404,
        };
        var document = ReceiptBatchSigner.Sign(_key, [body])[0];
        string Answer(int status) => $$"""{"id":"ex_1","action":"lookup","result":{"error":"no such user"},"approved":true,"upstream_status":{{status}},"receipt":"{{document.Hash}}","receipt_document":{{document.ToJson()}}}""";

        var genuine = await Tool.RunAsync("receipts", "verify", Write("genuine.json", Answer(404)), "--keys", KeysFile());
        var relabelled = await Tool.RunAsync("receipts", "verify", Write("relabelled.json", Answer(200)), "--keys", KeysFile());

        Assert.True(genuine.ExitCode == 0, genuine.ToString());
        Assert.True(relabelled.ExitCode == 1, relabelled.ToString());
        Assert.Contains("upstream_status", relabelled.Out, StringComparison.Ordinal);
    }
}
