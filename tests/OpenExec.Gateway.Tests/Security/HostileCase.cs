using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenExec.Core.Approvals;
using OpenExec.Gateway.Tests.Pipeline;

namespace OpenExec.Gateway.Tests.Security;

/// <summary>
/// One line of <c>hostile-corpus.jsonl</c>: a raw HTTP request, the gateway it goes to and the
/// answer it must get. Bodies and header values may hold templates, expanded at run time so the
/// committed file stays small and approvals stay fresh:
/// <c>&lt;&lt;nonce&gt;&gt;</c> (a fresh 9-character nonce, so declared lengths stay right),
/// <c>&lt;&lt;prior_nonce&gt;&gt;</c>, <c>&lt;&lt;repeat:N:TEXT&gt;&gt;</c>, <c>&lt;&lt;keys:N&gt;&gt;</c>
/// (<c>"k0":0,"k1":0,…</c>), <c>&lt;&lt;approval&gt;&gt;</c> (the case's artifact as JSON) and
/// <c>&lt;&lt;approval_header&gt;&gt;</c> (base64url of it).
/// </summary>
public sealed record HostileCase(
    string Name,
    string Mode,
    string Method,
    string Path,
    IReadOnlyList<(string Name, string Value)> Headers,
    string? RequestLine,
    string? BodyText,
    byte[]? BodyBytes,
    bool OwnFraming,
    bool HalfClose,
    bool NoHost,
    JsonElement? Approval,
    int ExpectedStatus,
    string? ExpectedCode,
    bool MayDrop)
{
    public const string Demo = "demo";
    public const string ClawShield = "clawshield";
    /// <summary>Any tenant and any approval_id accepted (<c>AllowAnyTenant</c>, <c>AllowAnyApprovalId</c>): re-cut artifacts reach the identity rule.</summary>
    public const string ClawShieldAnyTenant = "clawshield-any-tenant";

    // MayDrop: a body cut short by a half-close. Kestrel may drop the connection without
    // answering instead of giving the expected status (it does not serve half-closed
    // connections); nothing may run either way.

    /// <summary>Refused at steps 1–2 (or by Kestrel): no receipt at all.</summary>
    public bool ExpectsNoReceipt => ExpectedStatus is not (200 or 403 or 409 or 422);

    public override string ToString() => Name;

    /// <summary>Reads the committed corpus from the source tree (the test project copies nothing).</summary>
    public static IReadOnlyList<HostileCase> Load([CallerFilePath] string sourceFile = "")
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(sourceFile)!, "hostile-corpus.jsonl");
        if (!File.Exists(path))
        {
            path = FindInRepository();
        }
        return File.ReadAllLines(path, Encoding.UTF8).Where(l => l.Length > 0).Select(Parse).ToList();
    }

    private static string FindInRepository()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "OpenExec.Gateway.sln")))
        {
            dir = dir.Parent;
        }
        return dir is null
            ? throw new FileNotFoundException("hostile-corpus.jsonl not found beside the test source or in the repository")
            : System.IO.Path.Combine(dir.FullName, "tests", "OpenExec.Gateway.Tests", "Security", "hostile-corpus.jsonl");
    }

    private static HostileCase Parse(string line)
    {
        var e = JsonDocument.Parse(line).RootElement.Clone();
        var headers = e.GetProperty("headers").EnumerateArray().Select(h => (h[0].GetString()!, h[1].GetString()!)).ToList();
        var expect = e.GetProperty("expect");
        return new HostileCase(
            e.GetProperty("name").GetString()!,
            e.GetProperty("mode").GetString()!,
            e.GetProperty("method").GetString()!,
            e.GetProperty("path").GetString()!,
            headers,
            e.TryGetProperty("request_line", out var rl) ? rl.GetString() : null,
            e.TryGetProperty("body", out var body) ? body.GetString() : null,
            e.TryGetProperty("body_base64", out var b64) ? Convert.FromBase64String(b64.GetString()!) : null,
            e.TryGetProperty("framing", out var framing) && framing.GetString() == "none",
            e.TryGetProperty("half_close", out var hc) && hc.GetBoolean(),
            e.TryGetProperty("no_host", out var nh) && nh.GetBoolean(),
            e.TryGetProperty("approval", out var approval) ? approval : null,
            expect.GetProperty("status").GetInt32(),
            expect.GetProperty("code").ValueKind == JsonValueKind.Null ? null : expect.GetProperty("code").GetString(),
            expect.TryGetProperty("may_drop", out var drop) && drop.GetBoolean());
    }

    /// <summary>The artifacts a case needs: the one it sends, and the one a prior step uses first (if any).</summary>
    public (ApprovalArtifact? Sent, JsonObject? SentJson, ApprovalArtifact? Prior) Approvals(Governance governance, DateTimeOffset now)
    {
        if (Approval is not { } spec)
        {
            return (null, null, null);
        }
        string Str(string name, string fallback) => spec.TryGetProperty(name, out var v) ? v.GetString()! : fallback;
        int Int(string name, int fallback) => spec.TryGetProperty(name, out var v) ? v.GetInt32() : fallback;

        var hash = Governance.Hash(Str("action", "echo"), Str("payload", """{"msg":"hi"}"""));
        if (spec.TryGetProperty("upper_hash", out _))
        {
            hash = hash.ToUpperInvariant();
        }
        var expires = spec.TryGetProperty("expires_raw", out var raw) ? raw.GetString()! : ApprovalTime.Format(now.AddSeconds(Int("expires", 300)));
        var original = governance.Minter.MintRaw(
            Guid.NewGuid().ToString(),
            Str("tenant", Governance.Tenant),
            hash,
            ApprovalTime.Format(now.AddSeconds(Int("issued", -60))),
            expires);

        var sent = original;
        ApprovalArtifact? prior = null;
        if (spec.TryGetProperty("prior", out _))
        {
            prior = original;
        }
        if (spec.TryGetProperty("recut", out var recut))
        {
            sent = Recut(original, recut.GetInt32());
        }
        if (spec.TryGetProperty("prior_recut", out var priorRecut))
        {
            prior = Recut(original, priorRecut.GetInt32());
        }

        var json = (JsonObject)JsonNode.Parse(sent.ToJson())!;
        if (spec.TryGetProperty("swap", out var swap))
        {
            var (a, b) = (swap[0].GetString()!, swap[1].GetString()!);
            var va = json[a]!.DeepClone();
            json[a] = json[b]!.DeepClone();
            json[b] = va;
        }
        if (spec.TryGetProperty("remove", out var remove))
        {
            foreach (var field in remove.EnumerateArray())
            {
                json.Remove(field.GetString()!);
            }
        }
        if (spec.TryGetProperty("set", out var set))
        {
            foreach (var field in set.EnumerateObject())
            {
                json[field.Name] = JsonNode.Parse(field.Value.GetString()!);
            }
        }
        return (sent, json, prior);
    }

    /// <summary>
    /// The field-boundary trick: the v1 signed message concatenates approval_id and tenant_id
    /// with no separator, so moving characters across the boundary keeps the signature valid.
    /// Positive: the first n chars of tenant_id move to the end of approval_id; negative: the
    /// last n chars of approval_id move to the start of tenant_id.
    /// </summary>
    public static ApprovalArtifact Recut(ApprovalArtifact a, int n) => n >= 0
        ? a with { ApprovalId = a.ApprovalId + a.TenantId[..n], TenantId = a.TenantId[n..] }
        : a with { ApprovalId = a.ApprovalId[..^-n], TenantId = a.ApprovalId[^-n..] + a.TenantId };

    /// <summary>The request bytes: request line, Host, the case's headers, framing, <c>Connection: close</c>, body.</summary>
    public byte[] Render(Uri server, string nonce, string priorNonce, string? approvalJson)
    {
        string Expand(string text)
        {
            var sb = new StringBuilder(text.Length);
            var i = 0;
            while (i < text.Length)
            {
                var start = text.IndexOf("<<", i, StringComparison.Ordinal);
                if (start < 0)
                {
                    sb.Append(text, i, text.Length - i);
                    break;
                }
                sb.Append(text, i, start - i);
                var end = text.IndexOf(">>", start + 2, StringComparison.Ordinal);
                var template = text[(start + 2)..end];
                if (template == "nonce")
                {
                    sb.Append(nonce);
                }
                else if (template == "prior_nonce")
                {
                    sb.Append(priorNonce);
                }
                else if (template == "approval")
                {
                    sb.Append(approvalJson ?? throw new InvalidOperationException($"{Name}: <<approval>> without an approval"));
                }
                else if (template == "approval_header")
                {
                    sb.Append(Core.Crypto.Base64Url.Encode(Encoding.UTF8.GetBytes(approvalJson ?? throw new InvalidOperationException($"{Name}: <<approval_header>> without an approval"))));
                }
                else if (template.StartsWith("keys:", StringComparison.Ordinal))
                {
                    var count = int.Parse(template[5..], CultureInfo.InvariantCulture);
                    for (var k = 0; k < count; k++)
                    {
                        sb.Append(k == 0 ? "" : ",").Append("\"k").Append(k.ToString(CultureInfo.InvariantCulture)).Append("\":0");
                    }
                }
                else if (template.StartsWith("repeat:", StringComparison.Ordinal))
                {
                    var colon = template.IndexOf(':', 7);
                    var count = int.Parse(template[7..colon], CultureInfo.InvariantCulture);
                    sb.Insert(sb.Length, template[(colon + 1)..], count);
                }
                else
                {
                    throw new InvalidOperationException($"{Name}: unknown template <<{template}>>");
                }
                i = end + 2;
            }
            return sb.ToString();
        }

        byte[]? body = BodyText is not null
            ? Encoding.UTF8.GetBytes(Expand(BodyText))
            : BodyBytes is not null ? ReplaceBytes(BodyBytes, "<<nonce>>"u8.ToArray(), Encoding.ASCII.GetBytes(nonce)) : null;

        var head = new StringBuilder();
        head.Append(RequestLine ?? $"{Method} {Expand(Path)} HTTP/1.1").Append("\r\n");
        if (!NoHost)
        {
            head.Append("Host: ").Append(server.Authority).Append("\r\n");
        }
        foreach (var (name, value) in Headers)
        {
            head.Append(name).Append(": ").Append(Expand(value)).Append("\r\n");
        }
        if (!OwnFraming && body is not null)
        {
            head.Append("Content-Length: ").Append(body.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        }
        head.Append("Connection: close\r\n\r\n");
        // Latin-1 keeps hostile header bytes (NUL, CR, 0x01) exactly as written.
        return [.. Encoding.Latin1.GetBytes(head.ToString()), .. body ?? []];
    }

    public static string ArtifactJson(JsonObject json) =>
        json.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    private static byte[] ReplaceBytes(byte[] source, byte[] find, byte[] with)
    {
        var output = new List<byte>(source.Length);
        for (var i = 0; i < source.Length;)
        {
            if (source.AsSpan(i).StartsWith(find))
            {
                output.AddRange(with);
                i += find.Length;
            }
            else
            {
                output.Add(source[i++]);
            }
        }
        return output.ToArray();
    }
}
