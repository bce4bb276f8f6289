using System.Text;
using BenchmarkDotNet.Attributes;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Bench.Micro;

/// <summary>Inputs shared by the benchmarks: a small /execute body and a ~10 KB payload.</summary>
internal static class Inputs
{
    public const string SmallJson = """{"action":"echo","payload":{"msg":"hello world","n":42},"nonce":"bench-1"}""";

    /// <summary>About 10 KB: nested objects, arrays, numbers, unsorted keys, non-ASCII text.</summary>
    public static readonly string LargeJson = BuildLarge();

    private static string BuildLarge()
    {
        var sb = new StringBuilder("""{"to":"ops@example.com","subject":"Quarterly report – Zürich","items":[""");
        for (var i = 0; i < 60; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $$"""{"sku":"SKU-{{i:D5}}","qty":{{i * 3}},"price":{{i}}.25,"tags":["a","b\n","ü"],"note":"line {{i}} with \"quotes\" and / slash","active":{{(i % 2 == 0 ? "true" : "false")}},"discount":null}""");
        }
        sb.Append("""],"meta":{"z":1,"a":2,"m":{"k":"v"}}}""");
        return sb.ToString();
    }
}

[MemoryDiagnoser]
public class CanonicalJsonBenchmarks
{
    private StrictValue _small = null!;
    private StrictValue _large = null!;

    [GlobalSetup]
    public void Setup()
    {
        _small = ((StrictObject)StrictJson.Parse(Inputs.SmallJson)).Properties[1].Value;
        _large = StrictJson.Parse(Inputs.LargeJson);
    }

    [Benchmark]
    public byte[] ClawShieldCanonicalSmall() => ClawShieldJson.Serialize(_small);

    [Benchmark]
    public byte[] ClawShieldCanonical10KB() => ClawShieldJson.Serialize(_large);

    [Benchmark]
    public string ActionHashSmall() => ActionHash.Compute("echo", _small);

    [Benchmark]
    public string ActionHash10KB() => ActionHash.Compute("send_email", _large);

    /// <summary>The value the request path keeps (no hex string).</summary>
    [Benchmark]
    public Sha256Digest ActionHashSmallValue() => ActionHash.Of("echo", _small);
}

[MemoryDiagnoser]
public class StrictJsonBenchmarks
{
    private byte[] _small = null!;
    private byte[] _large = null!;

    [GlobalSetup]
    public void Setup()
    {
        _small = Encoding.UTF8.GetBytes(Inputs.SmallJson);
        _large = Encoding.UTF8.GetBytes(Inputs.LargeJson);
    }

    [Benchmark]
    public StrictValue ParseSmall() => StrictJson.Parse(_small);

    [Benchmark]
    public StrictValue Parse10KB() => StrictJson.Parse(_large);
}

[MemoryDiagnoser]
public class ApprovalBenchmarks
{
    private ApprovalVerifier _verifier = null!;
    private ApprovalArtifact _artifact = null!;
    private string _header = null!;
    private ReceiptSigningKey _governance = null!;

    [GlobalSetup]
    public void Setup()
    {
        _governance = ReceiptSigningKey.Generate();
        _verifier = new ApprovalVerifier([_governance.PublicKey]);
        var hash = ActionHash.Compute("echo", StrictJson.Parse("""{"msg":"hello world","n":42}"""));
        var now = DateTimeOffset.UtcNow;
        _artifact = new ApprovalMinter(_governance).Mint("tenant-001", hash, now, now.AddMinutes(5));
        _header = _artifact.ToHeader();
    }

    [GlobalCleanup]
    public void Cleanup() => _governance.Dispose();

    /// <summary>Ed25519 verify of the v1 signed message (base64 decode included).</summary>
    [Benchmark]
    public bool VerifySignature() => _verifier.VerifySignature(_artifact);

    /// <summary>What the proxy does per call before verifying: decode and parse the header.</summary>
    [Benchmark]
    public ApprovalArtifact ParseHeader() => ApprovalArtifact.FromHeader(_header);

    /// <summary>The approval's identity (SHA-256 of the signed message).</summary>
    [Benchmark]
    public string Identity() => _artifact.Identity;
}

[MemoryDiagnoser]
public class ReceiptBenchmarks
{
    private ReceiptSigningKey _key = null!;
    private ReceiptBody[] _one = null!;
    private ReceiptBody[] _batch = null!;

    [GlobalSetup]
    public void Setup()
    {
        _key = ReceiptSigningKey.Generate();
        _one = [Body(1)];
        _batch = [.. Enumerable.Range(1, 64).Select(i => Body(i))];
        _signed = ReceiptBatchSigner.Sign(_key, _one)[0];
    }

    [GlobalCleanup]
    public void Cleanup() => _key.Dispose();

    /// <summary>One receipt's hash: JCS of the body, SHA-256, hex.</summary>
    [Benchmark]
    public string ReceiptHashOne() => ReceiptHash.Compute(_one[0]);

    /// <summary>Hash, Merkle tree, one Ed25519 signature, documents: a batch of one.</summary>
    [Benchmark]
    public IReadOnlyList<ReceiptDocument> SignBatch1() => ReceiptBatchSigner.Sign(_key, _one);

    /// <summary>The same for a group commit of 64 receipts (one signature for all).</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public IReadOnlyList<ReceiptDocument> SignBatch64PerReceipt() => ReceiptBatchSigner.Sign(_key, _batch);

    /// <summary>A receipt document as stored and answered (JSON text).</summary>
    [Benchmark]
    public byte[] DocumentToJson() => ReceiptBatchSigner.Sign(_key, _one)[0].ToJsonUtf8();

    /// <summary>A signed document's JSON written into a reused buffer, as the ledger stores it (no signing in it).</summary>
    [Benchmark]
    public int DocumentJsonWrite() => _json.Write(_signed).Length;

    private readonly ReceiptJsonBuffer _json = new();
    private ReceiptDocument _signed = null!;

    private static ReceiptBody Body(int seq) => new()
    {
        ExecId = $"exec-{seq:D8}-0000-0000-0000-000000000000",
        Gateway = "gw-0123456789abcdef",
        Seq = seq,
        Prev = ReceiptBody.GenesisPrev,
        Tenant = "tenant-001",
        Action = "send_email",
        Mode = "clawshield",
        NonceSha256 = new string('a', 64),
        RequestSha256 = new string('b', 64),
        ApprovalSha256 = new string('c', 64),
        ApprovalId = "3f2b8c1e-0000-4000-8000-000000000000",
        Decision = "executed",
        ResultSha256 = new string('d', 64),
        ResultForm = "bytes",
        UpstreamStatus = 200,
        StartedAt = "2026-11-24T18:05:00.123Z",
        FinishedAt = "2026-11-24T18:05:00.456Z",
        TraceId = "0af7651916cd43dd8448eb211c80319c",
    };
}
