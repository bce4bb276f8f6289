using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli.Tests.Infrastructure;

/// <summary>A temporary directory for the files a receipts command reads, and synthetic receipts signed with the protocol core.</summary>
public sealed class ReceiptFiles : IDisposable
{
    private readonly string _dir = TempDir.Create();

    /// <summary>An executed echo receipt; tests change what they need with <c>with</c>.</summary>
    public static ReceiptBody Body(string execId, string gateway, long seq, string prev) => new()
    {
        ExecId = execId,
        Gateway = gateway,
        Seq = seq,
        Prev = prev,
        Tenant = "t",
        Action = "echo",
        Mode = "demo",
        NonceSha256 = new string('1', 64),
        RequestSha256 = new string('2', 64),
        Decision = "executed",
        StartedAt = "2026-01-01T00:00:00.000000Z",
        FinishedAt = "2026-01-01T00:00:00.000000Z",
    };

    public string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>An NDJSON file of the lines, under a new name.</summary>
    public string WriteLines(IEnumerable<string> lines) => Write(Guid.NewGuid().ToString("N") + ".ndjson", string.Join("\n", lines) + "\n");

    /// <summary>A key set as <c>GET /.well-known/openexec-keys</c> served it before it named each key's gateways.</summary>
    public string KeysFile(params ReceiptSigningKey[] keys)
        => KeysFile([.. keys.Select(k => (k, (string?)null))]);

    /// <summary>A key set as <c>GET /.well-known/openexec-keys</c> serves it: each key with the gateway that signs with it.</summary>
    public string KeysFile(params (ReceiptSigningKey Key, string? Gateway)[] keys)
    {
        static string Jwk((ReceiptSigningKey Key, string? Gateway) k)
            => $$"""{"kid":"{{k.Key.Kid}}","kty":"OKP","crv":"Ed25519","x":"{{Base64Url.Encode(k.Key.PublicKeyRaw)}}"{{(k.Gateway is null ? "" : $$""","gateways":["{{k.Gateway}}"]""")}}}""";
        return Write(Guid.NewGuid().ToString("N") + ".keys.json", $$"""{"keys":[{{string.Join(",", keys.Select(Jwk))}}]}""");
    }

    public void Dispose() => TempDir.Delete(_dir);
}
