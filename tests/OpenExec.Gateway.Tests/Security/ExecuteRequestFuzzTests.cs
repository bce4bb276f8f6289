using System.Globalization;
using System.Text;
using System.Text.Json;
using OpenExec.Core.Approvals;
using OpenExec.Core.Json;
using OpenExec.Gateway.Http;
using Xunit.Abstractions;

namespace OpenExec.Gateway.Tests.Security;

/// <summary>
/// Fuzz-style test of step 1 of <c>/execute</c> (<see cref="ExecuteEndpoint.Parse"/>, both modes):
/// thousands of mutated request bodies, seeded from valid ones. It never throws; each refusal
/// carries one of the documented 400 codes; each accepted request obeys the shape rules and
/// round-trips: written out again (canonical payload, the artifact's own fields) it parses to
/// the same action, nonce, action hash and approval identity. The seed is fixed and printed;
/// <c>OPENEXEC_FUZZ_SEED</c> changes it.
/// </summary>
public sealed class ExecuteRequestFuzzTests(ITestOutputHelper output)
{
    private const int Mutations = 20000;

    private static readonly HashSet<string> Codes = new(StringComparer.Ordinal)
    {
        "invalid_json", "duplicate_key", "invalid_number", "unknown_field", "invalid_action", "invalid_payload", "invalid_nonce", "invalid_approval",
    };

    private static readonly string[] Seeds =
    [
        """{"action":"echo","payload":{"msg":"hello world"},"nonce":"unique-1"}""",
        """{"action":"add","payload":{"a":2,"b":3},"nonce":"n-2"}""",
        """{"nonce":"n3","action":"send_email","payload":{"to":"ops@example.com","n":[1,2.5,-0,1e300]}}""",
        """{"action":"echo","payload":{"m":"\u00e9\ud83d\ude00"},"nonce":"n4","approval_artifact":{"approval_id":"f7bcfcb0-7299-436b-9c0d-b071be0c7e03","tenant_id":"tenant-001","action_hash":"11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b38","issued_at":"2026-11-25T20:52:11.690680","expires_at":"2026-11-25T20:57:11.690680","signature":"tCHB+WwOq6KAv2Os6f4s6GeVfZqUsLo/BAkhgabBH34bw9mAxh4f2pseLb8w7abqUILHlRUfCi126cj4zfQ6AA=="}}""",
        """{"action":"x:y.z-_","nonce":"~!@#$%^&*()","approval_artifact":null}""",
    ];

    private static readonly byte[][] Specials =
    [
        [0x00], [0x7F], [0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xEF, 0xBB, 0xBF], [0xFF], "\""u8.ToArray(), "\\"u8.ToArray(), "\\u0000"u8.ToArray(),
        "\\ud800"u8.ToArray(), "{"u8.ToArray(), "}"u8.ToArray(), "["u8.ToArray(), "]"u8.ToArray(), ","u8.ToArray(), ":"u8.ToArray(), "null"u8.ToArray(),
        "1e999"u8.ToArray(), "0.1000000000000000055511"u8.ToArray(), "\"payload\":{},"u8.ToArray(), "\"nonce\":\"x\","u8.ToArray(), "\"extra\":1,"u8.ToArray(),
        "\"approval_artifact\":{},"u8.ToArray(), " "u8.ToArray(), "é"u8.ToArray(), "😀"u8.ToArray(),
    ];

    [Fact]
    public void Mutated_execute_bodies_never_throw_and_accepted_ones_round_trip()
    {
        var seed = Environment.GetEnvironmentVariable("OPENEXEC_FUZZ_SEED") is { Length: > 0 } s ? int.Parse(s, CultureInfo.InvariantCulture) : 8785;
        output.WriteLine($"seed {seed} (reproduce with OPENEXEC_FUZZ_SEED={seed})");
        var random = new Random(seed);
        var failures = new List<string>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);

        for (var i = 0; i < Mutations && failures.Count < 10; i++)
        {
            var input = Mutate(random, Encoding.UTF8.GetBytes(Seeds[random.Next(Seeds.Length)]));
            var clawShield = random.Next(2) == 0;
            try
            {
                var (request, error) = ExecuteEndpoint.Parse(input, clawShield);
                var outcome = error?.Code ?? "accepted";
                seen[outcome] = seen.GetValueOrDefault(outcome) + 1;
                if (error is { } e)
                {
                    if (!Codes.Contains(e.Code) || string.IsNullOrWhiteSpace(e.Detail))
                    {
                        failures.Add($"#{i} undocumented refusal {e.Code} '{e.Detail}' for {Show(input)}");
                    }
                    continue;
                }
                if (Check(request!.Value, clawShield) is { } problem)
                {
                    failures.Add($"#{i} {problem} for {Show(input)}");
                }
            }
            catch (Exception ex)
            {
                failures.Add($"#{i} {ex.GetType().Name} escaped ({ex.Message}) for {Show(input)} (clawshield: {clawShield})");
            }
        }
        output.WriteLine(string.Join(", ", seen.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value}")));
        Assert.True(failures.Count == 0, $"seed {seed}:\n" + string.Join("\n", failures));
        Assert.True(seen.GetValueOrDefault("accepted") > 100, "too few mutations were accepted to test the round trip");
    }

    private static string? Check(OpenExec.Gateway.Pipeline.ExecutionRequest request, bool clawShield)
    {
        if (!OpenExec.Core.Approvals.ActionName.IsValid(request.Action) || !OpenExec.Gateway.Pipeline.RequestRules.IsNonce(request.Nonce) || request.Payload is not StrictObject)
        {
            return "accepted a request that breaks the shape rules";
        }
        if (!clawShield && request.Approval is not null)
        {
            return "demo mode kept an artifact";
        }

        // Written out again from what was understood, it must read the same.
        var body = new StringBuilder();
        body.Append("{\"action\":").Append(JsonSerializer.Serialize(request.Action))
            .Append(",\"payload\":").Append(ClawShieldJson.SerializeToString(request.Payload!))
            .Append(",\"nonce\":").Append(JsonSerializer.Serialize(request.Nonce));
        if (request.Approval is { } approval)
        {
            body.Append(",\"approval_artifact\":").Append(approval.ToJson());
        }
        body.Append('}');
        var (read, error) = ExecuteEndpoint.Parse(Encoding.UTF8.GetBytes(body.ToString()), clawShield);
        if (read is not { } again)
        {
            return $"does not round-trip: {error}";
        }
        if (again.Action != request.Action || again.Nonce != request.Nonce
            || ActionHash.Compute(again.Action, again.Payload!) != ActionHash.Compute(request.Action, request.Payload!)
            || again.Approval?.Identity != request.Approval?.Identity || again.Approval != request.Approval)
        {
            return "round-trips to a different request";
        }
        return null;
    }

    private static byte[] Mutate(Random random, byte[] input)
    {
        var bytes = new List<byte>(input);
        for (var n = random.Next(1, 3); n > 0; n--)
        {
            var at = random.Next(bytes.Count + 1);
            switch (random.Next(6))
            {
                case 0 when bytes.Count > 0:
                    bytes[Math.Min(at, bytes.Count - 1)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 2:
                case 3:
                    bytes.InsertRange(at, Specials[random.Next(Specials.Length)]);
                    break;
                case 4 when bytes.Count > 0:
                    var from = Math.Min(at, bytes.Count - 1);
                    bytes.RemoveRange(from, Math.Min(random.Next(1, 8), bytes.Count - from));
                    break;
                default:
                    var start = random.Next(bytes.Count + 1);
                    bytes.InsertRange(at, bytes.Skip(start).Take(random.Next(1, 24)).ToArray());
                    break;
            }
        }
        return bytes.ToArray();
    }

    private static string Show(byte[] input) => Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 300)));
}
