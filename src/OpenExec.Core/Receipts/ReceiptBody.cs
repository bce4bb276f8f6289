using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Text;

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

    // Fields the gateway gives as values (the internal constructor): a hash as its 32 bytes, a
    // time as itself, the attempt's own (nonce, request, trace, start) read from the attempt.
    // Each becomes a string only when read as one (then kept); the write path writes them
    // straight into the JCS form (WriteJcs) and the stored document (WriteJsonMember), so a
    // receipt costs no string for its hashes, its times or its trace id.
    private string? _nonceSha256, _requestSha256, _approvalSha256, _resultSha256, _startedAt, _finishedAt, _traceId;
    private IReceiptAttempt? _attempt;
    private Sha256Digest _result;
    private long _finishedTicks; // UTC
    private Given _given;

    /// <summary>Which fields hold a value rather than a string.</summary>
    [Flags]
    internal enum Given : byte
    {
        None = 0,
        Nonce = 1,
        Request = 2,
        Result = 4,
        Started = 8,
        Finished = 16,
        Trace = 32,
        Approval = 64,
    }

    public ReceiptBody()
    {
    }

    /// <summary>
    /// A draft whose hashes, times and trace id are values (<paramref name="attempt"/>'s, the
    /// result's hash, when it finished), formatted only where they are written. Without an
    /// attempt, its fields are strings given by the initializer. The other fields are set by the
    /// initializer as usual (all of them: nothing checks here that they were).
    /// </summary>
    // The value fields read as non-null strings through their getters, which the compiler cannot see.
#pragma warning disable CS8618
    [SetsRequiredMembers]
    internal ReceiptBody(IReceiptAttempt? attempt, Sha256Digest? result, DateTimeOffset finishedAt)
    {
        ExecId = Tenant = Action = Mode = Decision = Gateway = Prev = "";
        _finishedTicks = finishedAt.UtcTicks;
        _given = Given.Finished;
        if (attempt is not null)
        {
            _attempt = attempt;
            _given |= Given.Nonce | Given.Request | Given.Started | (attempt.Trace is null ? Given.None : Given.Trace)
                | (attempt.Approval is null ? Given.None : Given.Approval);
        }
        if (result is { } r)
        {
            _result = r;
            _given |= Given.Result;
        }
    }
#pragma warning restore CS8618

    public required string Gateway { get => _gateway; init => _gateway = value; }
    public required long Seq { get => _seq; init => _seq = value; }
    public required string Prev { get => _prev; init => _prev = value; }
    public required string Tenant { get; init; }
    public required string Action { get; init; }

    /// <summary><c>demo</c> or <c>clawshield</c>.</summary>
    public required string Mode { get; init; }

    public required string NonceSha256 { get => _nonceSha256 ?? (_nonceSha256 = FormatValue(Given.Nonce)!); init => Set(ref _nonceSha256, value, Given.Nonce); }

    /// <summary>This request's action hash.</summary>
    public required string RequestSha256 { get => _requestSha256 ?? (_requestSha256 = FormatValue(Given.Request)!); init => Set(ref _requestSha256, value, Given.Request); }

    public string? ApprovalSha256 { get => _approvalSha256 ??= FormatValue(Given.Approval); init => Set(ref _approvalSha256, value, Given.Approval); }

    /// <summary>Only once the approval's signature verified (SPEC section 4).</summary>
    public string? ApprovalId { get; init; }

    public required string Decision { get; init; }
    public string? Code { get; init; }
    public string? ResultSha256 { get => _resultSha256 ??= FormatValue(Given.Result); init => Set(ref _resultSha256, value, Given.Result); }

    /// <summary><c>canonical</c>, <c>bytes</c> or null.</summary>
    public string? ResultForm { get; init; }

    public int? UpstreamStatus { get; init; }

    /// <summary>ISO-8601 UTC with <c>Z</c> (<see cref="ReceiptTime.Format"/>).</summary>
    public required string StartedAt { get => _startedAt ?? (_startedAt = FormatValue(Given.Started)!); init => Set(ref _startedAt, value, Given.Started); }

    public required string FinishedAt { get => _finishedAt ?? (_finishedAt = FormatValue(Given.Finished)!); init => Set(ref _finishedAt, value, Given.Finished); }
    public string? TraceId { get => _traceId ??= FormatValue(Given.Trace); init => Set(ref _traceId, value, Given.Trace); }

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

    private void Set(ref string? field, string? value, Given given)
    {
        field = value;
        _given &= ~given;
    }

    /// <summary>A value field's string form (what it writes), or null when that field holds no value.</summary>
    private string? FormatValue(Given field)
    {
        Span<byte> utf8 = stackalloc byte[Sha256Digest.HexLength];
        var length = WriteValue(field, utf8);
        return length < 0 ? null : Encoding.ASCII.GetString(utf8[..length]);
    }

    /// <summary>Writes a value field's UTF-8 form into <paramref name="destination"/> (64 bytes suffice); its length, or -1 when the field holds a string.</summary>
    private int WriteValue(Given field, Span<byte> destination)
    {
        if ((_given & field) == 0)
        {
            return -1;
        }
        switch (field)
        {
            case Given.Nonce: _attempt!.Nonce.WriteHexUtf8(destination); return Sha256Digest.HexLength;
            case Given.Request: _attempt!.Request.WriteHexUtf8(destination); return Sha256Digest.HexLength;
            case Given.Approval: _attempt!.Approval!.Value.WriteHexUtf8(destination); return Sha256Digest.HexLength;
            case Given.Result: _result.WriteHexUtf8(destination); return Sha256Digest.HexLength;
            case Given.Started: ReceiptTime.WriteUtf8(_attempt!.StartedAt, destination); return ReceiptTime.Length;
            case Given.Finished: ReceiptTime.WriteUtf8(Utc(_finishedTicks), destination); return ReceiptTime.Length;
            default: _attempt!.Trace!.Value.WriteHexUtf8(destination); return W3CTraceId.HexLength;
        }
    }

    private static DateTimeOffset Utc(long ticks) => new(ticks, TimeSpan.Zero);

    /// <summary>One of the value fields as a JSON string member of the stored document, from its value when it holds one.</summary>
    internal void WriteJsonMember(Utf8JsonWriter writer, JsonEncodedText name, Given field)
    {
        Span<byte> utf8 = stackalloc byte[Sha256Digest.HexLength];
        var length = WriteValue(field, utf8);
        if (length >= 0)
        {
            writer.WriteString(name, utf8[..length]);
            return;
        }
        writer.WriteString(name, field switch
        {
            Given.Nonce => _nonceSha256,
            Given.Request => _requestSha256,
            Given.Approval => _approvalSha256,
            Given.Result => _resultSha256,
            Given.Started => _startedAt,
            Given.Finished => _finishedAt,
            _ => _traceId,
        });
    }

    /// <summary>A value field in the JCS form: its UTF-8 (hex digits, a timestamp: nothing to escape) in quotes.</summary>
    private bool TryWriteJcsValue(Given field, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(Sha256Digest.HexLength + 2);
        var length = WriteValue(field, span[1..]);
        if (length < 0)
        {
            return false;
        }
        span[0] = (byte)'"';
        span[length + 1] = (byte)'"';
        output.Advance(length + 2);
        return true;
    }

    private void WriteJcsField(Given field, string? value, IBufferWriter<byte> output)
    {
        if (!TryWriteJcsValue(field, output))
        {
            WriteJcsString(value, output);
        }
    }

    /// <summary>Equal when every field reads the same, whether it was given as a string or a value.</summary>
    public bool Equals(ReceiptBody? other)
        => other is not null
            && (ReferenceEquals(this, other)
                || (V == other.V && Seq == other.Seq && UpstreamStatus == other.UpstreamStatus
                    && ExecId == other.ExecId && Gateway == other.Gateway && Prev == other.Prev && Tenant == other.Tenant
                    && Action == other.Action && Mode == other.Mode && NonceSha256 == other.NonceSha256
                    && RequestSha256 == other.RequestSha256 && ApprovalSha256 == other.ApprovalSha256 && ApprovalId == other.ApprovalId
                    && Decision == other.Decision && Code == other.Code && ResultSha256 == other.ResultSha256
                    && ResultForm == other.ResultForm && StartedAt == other.StartedAt && FinishedAt == other.FinishedAt
                    && TraceId == other.TraceId));

    public override int GetHashCode() => HashCode.Combine(ExecId, Gateway, Seq, Decision, RequestSha256);

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
                case 8: WriteJcsField(Given.Nonce, _nonceSha256, output); break;
                case 9: WriteJcsField(Given.Request, _requestSha256, output); break;
                case 10: WriteJcsField(Given.Approval, _approvalSha256, output); break;
                case 11: WriteJcsString(ApprovalId, output); break;
                case 12: WriteJcsString(Decision, output); break;
                case 13: WriteJcsString(Code, output); break;
                case 14: WriteJcsField(Given.Result, _resultSha256, output); break;
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
                case 17: WriteJcsField(Given.Started, _startedAt, output); break;
                case 18: WriteJcsField(Given.Finished, _finishedAt, output); break;
                default: WriteJcsField(Given.Trace, _traceId, output); break;
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
                throw new ReceiptFormatException($"Invalid receipt body: unknown field '{InputText.Abbreviate(property.Key)}'.");
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
