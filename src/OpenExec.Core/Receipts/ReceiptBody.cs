using System.Buffers;
using System.Globalization;
using System.Text;
using OpenExec.Core.Json;

namespace OpenExec.Core.Receipts;

/// <summary>
/// The signed facts of one attempt (SPEC section 6). Every key is always present, null where it
/// does not apply; the body holds only strings, small integers and null so that its JCS form,
/// and so its hash, is unambiguous.
/// </summary>
public sealed record ReceiptBody
{
    /// <summary>The only body version.</summary>
    public const int CurrentVersion = 1;

    /// <summary>The <c>prev</c> of the first receipt in a chain.</summary>
    public static readonly string GenesisPrev = new('0', 64);

    // Integers above 2^53 would change when JCS prints them as doubles.
    internal const long MaxSafeInteger = 9007199254740991;

    private static readonly string[] Keys =
    [
        "v", "exec_id", "gateway", "seq", "prev", "tenant", "action", "mode", "nonce_sha256", "request_sha256",
        "approval_sha256", "approval_id", "decision", "code", "result_sha256", "result_form", "upstream_status",
        "started_at", "finished_at", "trace_id",
    ];

    /// <summary>The keys in RFC 8785 order (by UTF-16 code units), each as <c>"key":</c> in UTF-8, with its place in <see cref="Keys"/>.</summary>
    private static readonly (byte[] Prefix, int Field)[] JcsFields =
    [
        .. Keys.Order(StringComparer.Ordinal).Select(key => (Encoding.UTF8.GetBytes($"\"{key}\":"), Array.IndexOf(Keys, key))),
    ];

    public int V { get; init; } = CurrentVersion;
    public required string ExecId { get; init; }
    // The chain fields: a writer chains a draft in place (ChainDraft), so a receipt is one object.
    private string _gateway = "";
    private long _seq;
    private string _prev = "";

    public required string Gateway { get => _gateway; init => _gateway = value; }
    public required long Seq { get => _seq; init => _seq = value; }
    public required string Prev { get => _prev; init => _prev = value; }
    public required string Tenant { get; init; }
    public required string Action { get; init; }

    /// <summary><c>demo</c> or <c>clawshield</c>.</summary>
    public required string Mode { get; init; }

    public required string NonceSha256 { get; init; }

    /// <summary>This request's action hash.</summary>
    public required string RequestSha256 { get; init; }

    public string? ApprovalSha256 { get; init; }

    /// <summary>Only once the approval's signature verified (SPEC section 4).</summary>
    public string? ApprovalId { get; init; }

    public required string Decision { get; init; }
    public string? Code { get; init; }
    public string? ResultSha256 { get; init; }

    /// <summary><c>canonical</c>, <c>bytes</c> or null.</summary>
    public string? ResultForm { get; init; }

    public int? UpstreamStatus { get; init; }

    /// <summary>ISO-8601 UTC with <c>Z</c> (<see cref="ReceiptTime.Format"/>).</summary>
    public required string StartedAt { get; init; }

    public required string FinishedAt { get; init; }
    public string? TraceId { get; init; }

    /// <summary>
    /// Gives a draft its place in a chain (gateway, seq, prev), in place: for the one writer that
    /// chains it, before its hash is taken and while no one else reads it (a receipt is built once,
    /// not copied for its three chain fields). A draft whose write failed is chained again when its
    /// write is retried.
    /// </summary>
    internal void ChainDraft(string gateway, long seq, string prev)
    {
        _gateway = gateway;
        _seq = seq;
        _prev = prev;
    }

    /// <summary>The body as a JSON value, keys in SPEC order, nulls written.</summary>
    public StrictObject ToStrictValue() => new(
    [
        new("v", Number(V)),
        new("exec_id", new StrictString(ExecId)),
        new("gateway", new StrictString(Gateway)),
        new("seq", Number(Seq)),
        new("prev", new StrictString(Prev)),
        new("tenant", new StrictString(Tenant)),
        new("action", new StrictString(Action)),
        new("mode", new StrictString(Mode)),
        new("nonce_sha256", new StrictString(NonceSha256)),
        new("request_sha256", new StrictString(RequestSha256)),
        new("approval_sha256", StringOrNull(ApprovalSha256)),
        new("approval_id", StringOrNull(ApprovalId)),
        new("decision", new StrictString(Decision)),
        new("code", StringOrNull(Code)),
        new("result_sha256", StringOrNull(ResultSha256)),
        new("result_form", StringOrNull(ResultForm)),
        new("upstream_status", UpstreamStatus is { } status ? Number(status) : StrictLiteral.Null),
        new("started_at", new StrictString(StartedAt)),
        new("finished_at", new StrictString(FinishedAt)),
        new("trace_id", StringOrNull(TraceId)),
    ]);

    /// <summary>
    /// The RFC 8785 (JCS) form of <see cref="ToStrictValue"/>, written field by field with no JSON
    /// tree in between: what <see cref="ReceiptHash"/> hashes, once per receipt on the write path.
    /// </summary>
    public void WriteJcs(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        for (var i = 0; i < JcsFields.Length; i++)
        {
            var (prefix, field) = JcsFields[i];
            var separator = i == 0 ? (byte)'{' : (byte)',';
            var span = output.GetSpan(prefix.Length + 1);
            span[0] = separator;
            prefix.CopyTo(span[1..]);
            output.Advance(prefix.Length + 1);
            switch (field)
            {
                case 0: Jcs.WriteInteger(V, output); break;
                case 1: WriteJcsString(ExecId, output); break;
                case 2: WriteJcsString(Gateway, output); break;
                case 3: Jcs.WriteInteger(Seq, output); break;
                case 4: WriteJcsString(Prev, output); break;
                case 5: WriteJcsString(Tenant, output); break;
                case 6: WriteJcsString(Action, output); break;
                case 7: WriteJcsString(Mode, output); break;
                case 8: WriteJcsString(NonceSha256, output); break;
                case 9: WriteJcsString(RequestSha256, output); break;
                case 10: WriteJcsString(ApprovalSha256, output); break;
                case 11: WriteJcsString(ApprovalId, output); break;
                case 12: WriteJcsString(Decision, output); break;
                case 13: WriteJcsString(Code, output); break;
                case 14: WriteJcsString(ResultSha256, output); break;
                case 15: WriteJcsString(ResultForm, output); break;
                case 16:
                    if (UpstreamStatus is { } status)
                    {
                        Jcs.WriteInteger(status, output);
                    }
                    else
                    {
                        WriteJcsString(null, output);
                    }
                    break;
                case 17: WriteJcsString(StartedAt, output); break;
                case 18: WriteJcsString(FinishedAt, output); break;
                default: WriteJcsString(TraceId, output); break;
            }
        }
        output.GetSpan(1)[0] = (byte)'}';
        output.Advance(1);
    }

    /// <summary>Reads a body strictly: exactly the SPEC keys, each of its type; v must be 1.</summary>
    public static ReceiptBody FromStrictValue(StrictValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value is not StrictObject obj)
        {
            throw new ReceiptFormatException("Invalid receipt body: expected a JSON object.");
        }
        foreach (var property in obj.Properties)
        {
            if (Array.IndexOf(Keys, property.Key) < 0)
            {
                throw new ReceiptFormatException($"Invalid receipt body: unknown field '{property.Key}'.");
            }
        }
        foreach (var key in Keys)
        {
            if (!obj.TryGet(key, out _))
            {
                throw new ReceiptFormatException($"Invalid receipt body: missing field '{key}'.");
            }
        }

        var version = RequiredInteger(obj, "v");
        if (version != CurrentVersion)
        {
            throw new ReceiptFormatException($"Invalid receipt body: unsupported version {version} (this gateway reads v1).");
        }
        var upstream = OptionalInteger(obj, "upstream_status");
        if (upstream is < int.MinValue or > int.MaxValue)
        {
            throw new ReceiptFormatException("Invalid receipt body: field 'upstream_status' is out of range.");
        }
        return new ReceiptBody
        {
            V = (int)version,
            ExecId = RequiredString(obj, "exec_id"),
            Gateway = RequiredString(obj, "gateway"),
            Seq = RequiredInteger(obj, "seq"),
            Prev = RequiredString(obj, "prev"),
            Tenant = RequiredString(obj, "tenant"),
            Action = RequiredString(obj, "action"),
            Mode = RequiredString(obj, "mode"),
            NonceSha256 = RequiredString(obj, "nonce_sha256"),
            RequestSha256 = RequiredString(obj, "request_sha256"),
            ApprovalSha256 = OptionalString(obj, "approval_sha256"),
            ApprovalId = OptionalString(obj, "approval_id"),
            Decision = RequiredString(obj, "decision"),
            Code = OptionalString(obj, "code"),
            ResultSha256 = OptionalString(obj, "result_sha256"),
            ResultForm = OptionalString(obj, "result_form"),
            UpstreamStatus = (int?)upstream,
            StartedAt = RequiredString(obj, "started_at"),
            FinishedAt = RequiredString(obj, "finished_at"),
            TraceId = OptionalString(obj, "trace_id"),
        };
    }

    private static void WriteJcsString(string? value, IBufferWriter<byte> output)
    {
        if (value is null)
        {
            "null"u8.CopyTo(output.GetSpan(4));
            output.Advance(4);
        }
        else
        {
            Jcs.WriteString(value, output);
        }
    }

    private static StrictNumber Number(long value) => new(value.ToString(CultureInfo.InvariantCulture));

    private static StrictValue StringOrNull(string? value) => value is null ? StrictLiteral.Null : new StrictString(value);

    private static string RequiredString(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return value is StrictString s ? s.Value : throw new ReceiptFormatException($"Invalid receipt body: field '{key}' must be a string.");
    }

    private static string? OptionalString(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return value switch
        {
            StrictString s => s.Value,
            StrictLiteral l when ReferenceEquals(l, StrictLiteral.Null) => null,
            _ => throw new ReceiptFormatException($"Invalid receipt body: field '{key}' must be a string or null."),
        };
    }

    private static long RequiredInteger(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return ParseInteger(value, key) ?? throw new ReceiptFormatException($"Invalid receipt body: field '{key}' must be an integer.");
    }

    private static long? OptionalInteger(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return value is StrictLiteral l && ReferenceEquals(l, StrictLiteral.Null)
            ? null
            : ParseInteger(value, key) ?? throw new ReceiptFormatException($"Invalid receipt body: field '{key}' must be an integer or null.");
    }

    private static long? ParseInteger(StrictValue value, string key)
    {
        if (value is not StrictNumber { IsInteger: true } number)
        {
            return null;
        }
        if (!long.TryParse(number.Literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var result)
            || result is > MaxSafeInteger or < -MaxSafeInteger)
        {
            throw new ReceiptFormatException($"Invalid receipt body: field '{key}' is out of range.");
        }
        return result;
    }
}
