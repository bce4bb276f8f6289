using System.Security.Cryptography;
using System.Text;
using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Approvals;
using OpenExec.Core.Json;

namespace OpenExec.Cli.Tests.Commands;

public sealed class HashCommandTests
{
    private static string[] Lines(CliRun run) => run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Prints_the_action_hash_and_with_canonical_the_bytes_it_covers()
    {
        var run = await Tool.RunAsync("hash", "--action", "echo", "--payload", """{"b":1.50,"a":"é😀","c":[true,null]}""", "--canonical");

        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = Lines(run);
        Assert.Equal(2, lines.Length);
        Assert.Equal("""{"action":"echo","payload":{"a":"\u00e9\ud83d\ude00","b":1.5,"c":[true,null]}}""", lines[1]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(lines[1]))), lines[0]);
        Assert.Equal(ActionHash.Compute("echo", StrictJson.Parse("""{"b":1.50,"a":"é😀","c":[true,null]}""")), lines[0]);
    }

    [Fact]
    public async Task A_proxied_JSON_request_hashes_method_path_query_and_parsed_body()
    {
        var run = await Tool.RunAsync("hash", "--action", "send", "--http", "post", "/v1/send", "--query", "a=1&b=2", "--body", """{ "to" : "x" }""", "--canonical");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("""{"action":"send","payload":{"body":{"to":"x"},"method":"POST","path":"/v1/send","query":"a=1&b=2"}}""", Lines(run)[1]);
    }

    [Fact]
    public async Task A_proxied_non_JSON_body_is_hashed_as_its_type_length_and_sha256_read_from_a_file()
    {
        var file = Path.Combine(TempDir.Create(), "body.bin");
        var bytes = new byte[] { 0, 1, 2, 255 };
        File.WriteAllBytes(file, bytes);

        var run = await Tool.RunAsync("hash", "--action", "upload", "--http", "PUT", "/files/a", "--body", file, "--content-type", "Application/Octet-Stream; x=y", "--canonical");

        Assert.True(run.ExitCode == 0, run.ToString());
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        Assert.Equal(
            $$$"""{"action":"upload","payload":{"body":{"content_type":"application/octet-stream; x=y","length":4,"sha256":"{{{sha}}}"},"method":"PUT","path":"/files/a","query":""}}""",
            Lines(run)[1]);
    }

    [Fact]
    public async Task A_body_file_written_as_curl_writes_it_is_hashed_byte_for_byte()
    {
        // '@file' is not expanded as a response file: its quotes, spaces and newline stay.
        var dir = TempDir.Create();
        var file = Path.Combine(dir, "form.txt");
        File.WriteAllText(file, "to=a%40x.com&msg=\"hi there\"\n");
        var expected = await Tool.RunAsync("hash", "--action", "send", "--http", "POST", "/v1/a", "--body", file, "--content-type", "application/x-www-form-urlencoded");

        var curlStyle = await Tool.RunAsync("hash", "--action", "send", "--http", "POST", "/v1/a", "--body", "@" + file, "--content-type", "application/x-www-form-urlencoded", "--canonical");

        Assert.True(curlStyle.ExitCode == 0, curlStyle.ToString());
        Assert.Equal(Lines(expected)[0], Lines(curlStyle)[0]);
        Assert.Contains($"\"length\":{new FileInfo(file).Length}", Lines(curlStyle)[1], StringComparison.Ordinal);

        var tenant = await Tool.RunAsync("hash", "--action", "@acme", "--payload", "{}");
        Assert.DoesNotContain("Response file", tenant.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-")]
    [InlineData("@-")]
    public async Task A_body_from_stdin_is_hashed_as_its_bytes(string body)
    {
        var bytes = Encoding.UTF8.GetBytes("a=1&b=\"two\"\n");

        var run = await Tool.RunProcessWithInputAsync(bytes, "hash", "--action", "send", "--http", "POST", "/v1/a", "--body", body, "--content-type", "text/plain", "--canonical");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"\"sha256\":\"{Convert.ToHexStringLower(SHA256.HashData(bytes))}\"", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_body_option_is_refused()
    {
        var run = await Tool.RunAsync("hash", "--action", "send", "--http", "POST", "/v1/a", "--body", "");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--body is empty", run.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("./no-such-upload.bin")]
    [InlineData("@./no-such-upload.bin")]
    public async Task A_non_JSON_body_that_names_no_file_is_refused_not_hashed_as_text(string body)
    {
        var run = await Tool.RunAsync("hash", "--action", "upload", "--http", "PUT", "/v1/a", "--body", body, "--content-type", "application/octet-stream");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no-such-upload.bin", run.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/café")]
    [InlineData("/v1/a b")]
    [InlineData("/v1/a#frag")]
    [InlineData("/v1/a?q=ü")]
    public async Task A_target_no_request_can_carry_is_refused(string target)
    {
        var run = await Tool.RunAsync("hash", "--action", "send", "--http", "POST", target);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("percent-encoded", run.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/send", "a|b", "(invalid_query): percent-encode '|' as %7C,")]
    [InlineData("/v1/send", "filter={\"a\":1}", "(invalid_query): percent-encode '{' as %7B, '\"' as %22, '}' as %7D,")]
    [InlineData("/v1/a^b", null, "(path_not_canonical): percent-encode '^' as %5E,")]
    [InlineData("/v1/send", "AMOUNT=1000000&amount=10", "Query keys 'AMOUNT' and 'amount' differ only in case")]
    public async Task A_target_the_gateway_would_refuse_is_refused_saying_what_to_send(string path, string? query, string advice)
    {
        string[] args = query is null
            ? ["hash", "--action", "send", "--http", "POST", path]
            : ["hash", "--action", "send", "--http", "POST", path, "--query", query];
        var run = await Tool.RunAsync(args);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(advice, run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unneeded_escape_in_the_query_keeps_its_own_refusal()
    {
        var run = await Tool.RunAsync("hash", "--action", "send", "--http", "POST", "/v1/send", "--query", "x=%41");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("do not percent-encode letters, digits or '-._~'", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("percent-encode '", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_payload_that_would_nest_too_deep_inside_the_execute_body_is_refused()
    {
        string Nested(int depth) => string.Concat(Enumerable.Repeat("{\"a\":", depth - 1)) + "{}" + new string('}', depth - 1);

        Assert.Equal(0, (await Tool.RunAsync("hash", "--action", "echo", "--payload", Nested(63))).ExitCode);
        var deep = await Tool.RunAsync("hash", "--action", "echo", "--payload", Nested(64));
        Assert.Equal(2, deep.ExitCode);
        Assert.Contains("64", deep.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_proxied_request_without_body_has_no_content_type()
    {
        var run = await Tool.RunAsync("hash", "--action", "list", "--http", "GET", "/v1/items", "--canonical");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("""{"content_type":null,"length":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}""", Lines(run)[1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/%2e%2e/admin")]
    [InlineData("/v1//send")]
    [InlineData("v1/send")]
    public async Task A_path_the_gateway_would_refuse_is_refused(string path)
    {
        var run = await Tool.RunAsync("hash", "--action", "send", "--http", "POST", path, "--body", "{}");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("not a canonical path", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_query_given_twice_or_an_invalid_JSON_body_is_refused()
    {
        var twice = await Tool.RunAsync("hash", "--action", "send", "--http", "POST", "/v1/send?a=1", "--query", "a=1");
        Assert.Equal(2, twice.ExitCode);
        Assert.Contains("twice", twice.Err, StringComparison.Ordinal);

        var invalid = await Tool.RunAsync("hash", "--action", "send", "--http", "POST", "/v1/send", "--body", "not json");
        Assert.Equal(2, invalid.ExitCode);
        Assert.Contains("not strict JSON", invalid.Err, StringComparison.Ordinal);
    }
}
