using System.Globalization;
using System.Text;
using System.Text.Json;
using OpenExec.Core.Json;
using Xunit.Abstractions;

namespace OpenExec.Core.Tests.Security;

/// <summary>
/// Fuzz-style test of the strict reader: thousands of mutations (byte flips, truncations,
/// insertions of the bytes parsers disagree on, deletions, duplicated slices) of valid request
/// bodies. Whatever the input, the only exception that may escape is
/// <see cref="StrictJsonException"/> with a wire code; what it accepts, System.Text.Json accepts
/// too, and it round-trips: canonical JSON of it parses back to the same canonical JSON.
/// The seed is fixed and printed; <c>OPENEXEC_FUZZ_SEED</c> changes it.
/// </summary>
public sealed class StrictJsonFuzzTests(ITestOutputHelper output)
{
    private const int Mutations = 30000;

    public static readonly string[] Seeds =
    [
        """{"action":"echo","payload":{"msg":"hello world"},"nonce":"unique-1"}""",
        """{"action":"add","payload":{"a":2,"b":3.5e-3},"nonce":"n-2"}""",
        """{"action":"send_email","payload":{"to":["a@b.c","d@e.f"],"cc":null,"n":-0,"x":1E+308,"ok":true,"u":"\u00e9\ud83d\ude00\n\\\/"},"nonce":"n3"}""",
        """{"action":"echo","payload":{"deep":[[[{"k":[{"a":{}}]}]]]},"nonce":"n4","approval_artifact":{"approval_id":"f7bcfcb0","tenant_id":"tenant-001","action_hash":"11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b38","issued_at":"2026-11-25T20:52:11.690680","expires_at":"2026-11-25T20:57:11.690680","signature":"tCHB+WwOq6KAv2Os6f4s6GeVfZqUsLo/BAkhgabBH34bw9mAxh4f2pseLb8w7abqUILHlRUfCi126cj4zfQ6AA=="}}""",
        "{\"action\":\"echo\",\"payload\":{\"é\":\"😀\",\"big\":123456789012345678901234567890},\"nonce\":\"n5\"}",
    ];

    // Bytes and sequences parsers disagree on.
    private static readonly byte[][] Specials =
    [
        [0x00], [0x01], [0x1F], [0x7F], [0x80], [0xBF], [0xC0], [0xC1], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],
        [0xF4, 0x90, 0x80, 0x80], [0xF8], [0xFE], [0xFF], [0xEF, 0xBB, 0xBF], "\""u8.ToArray(), "\\"u8.ToArray(), "\\u"u8.ToArray(), "\\ud800"u8.ToArray(),
        "\\udc00"u8.ToArray(), "\\u0000"u8.ToArray(), "{"u8.ToArray(), "}"u8.ToArray(), "["u8.ToArray(), "]"u8.ToArray(), ","u8.ToArray(), ":"u8.ToArray(),
        "e"u8.ToArray(), "E+"u8.ToArray(), "."u8.ToArray(), "-"u8.ToArray(), "0"u8.ToArray(), "9999999999"u8.ToArray(), "NaN"u8.ToArray(), "Infinity"u8.ToArray(),
        "true"u8.ToArray(), "null"u8.ToArray(), " "u8.ToArray(), "\t"u8.ToArray(), "\r\n"u8.ToArray(), "/*"u8.ToArray(), "'"u8.ToArray(),
        "\"nonce\":\"x\","u8.ToArray(), "\"a\":1,\"a\":2"u8.ToArray(),
    ];

    [Fact]
    public void Mutated_inputs_throw_only_StrictJsonException_and_accepted_ones_round_trip()
    {
        var seed = Environment.GetEnvironmentVariable("OPENEXEC_FUZZ_SEED") is { Length: > 0 } s ? int.Parse(s, CultureInfo.InvariantCulture) : 4300;
        output.WriteLine($"seed {seed} (reproduce with OPENEXEC_FUZZ_SEED={seed})");
        var random = new Random(seed);
        var codes = new HashSet<string>(StringComparer.Ordinal) { "invalid_json", "duplicate_key", "invalid_number" };
        var failures = new List<string>();
        int accepted = 0, refused = 0;

        for (var i = 0; i < Mutations && failures.Count < 10; i++)
        {
            var input = Mutate(random, Encoding.UTF8.GetBytes(Seeds[random.Next(Seeds.Length)]));
            StrictValue value;
            try
            {
                value = StrictJson.Parse(input);
            }
            catch (StrictJsonException e)
            {
                refused++;
                if (!codes.Contains(e.Code))
                {
                    failures.Add($"#{i} unknown code {e.Code} for {Show(input)}");
                }
                continue;
            }
            catch (Exception e)
            {
                failures.Add($"#{i} {e.GetType().Name} escaped ({e.Message}) for {Show(input)}");
                continue;
            }

            accepted++;
            try
            {
                // Stricter than System.Text.Json, never looser.
                using (JsonDocument.Parse(input, new JsonDocumentOptions { MaxDepth = 256 }))
                {
                }
                var canonical = ClawShieldJson.Serialize(value);
                var again = ClawShieldJson.Serialize(StrictJson.Parse(canonical));
                if (!canonical.AsSpan().SequenceEqual(again))
                {
                    failures.Add($"#{i} does not round-trip: {Show(input)}");
                }
                var jcs = Jcs.Serialize(value);
                if (!jcs.AsSpan().SequenceEqual(Jcs.Serialize(StrictJson.Parse(jcs))))
                {
                    failures.Add($"#{i} JCS does not round-trip: {Show(input)}");
                }
            }
            catch (Exception e)
            {
                failures.Add($"#{i} accepted, then {e.GetType().Name} ({e.Message}) for {Show(input)}");
            }
        }
        output.WriteLine($"accepted {accepted}, refused {refused}");
        Assert.True(failures.Count == 0, $"seed {seed}:\n" + string.Join("\n", failures));
        Assert.True(accepted > 100 && refused > 1000, $"the mutations should both pass and fail: accepted {accepted}, refused {refused}");
    }

    /// <summary>One to three mutations of <paramref name="input"/>.</summary>
    public static byte[] Mutate(Random random, byte[] input)
    {
        var bytes = new List<byte>(input);
        for (var n = random.Next(1, 4); n > 0; n--)
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
                    bytes.RemoveRange(Math.Min(at, bytes.Count - 1), Math.Min(random.Next(1, 8), bytes.Count - Math.Min(at, bytes.Count - 1)));
                    break;
                default:
                    var from = random.Next(bytes.Count + 1);
                    var slice = bytes.Skip(from).Take(random.Next(1, 24)).ToArray();
                    bytes.InsertRange(at, slice);
                    break;
            }
        }
        return bytes.ToArray();
    }

    private static string Show(byte[] input) => Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 400)));
}
