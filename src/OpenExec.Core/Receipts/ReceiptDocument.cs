using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenExec.Core.Json;
using OpenExec.Core.Text;

namespace OpenExec.Core.Receipts;

/// <summary>Where a receipt sits in its signing batch: the Merkle tree size, its leaf index and the inclusion path (hex).</summary>
public sealed record ReceiptBatch(int Size, int Index, IReadOnlyList<string> Path);

/// <summary>
/// A receipt as served and verified (SPEC section 6): the body, its hash, its place in the
/// signing batch, and the key id and signature over the batch root. Verifies alone, offline.
/// </summary>
public sealed record ReceiptDocument(ReceiptBody Body, string Hash, ReceiptBatch Batch, string Kid, string Signature)
{
    private static readonly string[] Keys = ["body", "hash", "batch", "kid", "signature"];
    private static readonly string[] BatchKeys = ["size", "index", "path"];

    // Relaxed escaping: the document is served as application/json, never embedded in HTML.
    internal static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public string ToJson() => Encoding.UTF8.GetString(ToJsonUtf8());

    /// <summary>JSON in the order body, hash, batch {size, index, path}, kid, signature.</summary>
    public byte[] ToJsonUtf8()
    {
        // Written into a pooled buffer: the only allocation left is the exact-size result.
        using var buffer = new Buffers.PooledBufferWriter(4096);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteTo(writer);
        }
        return buffer.WrittenSpan.ToArray();
    }

    // Member names encoded once: written as strings, each was checked for escaping and transcoded
    // to UTF-8 every time a document was written (two or three times per receipt).
    private static readonly JsonEncodedText JsonAction = JsonEncodedText.Encode("action");
    private static readonly JsonEncodedText JsonApprovalId = JsonEncodedText.Encode("approval_id");
    private static readonly JsonEncodedText JsonApprovalSha256 = JsonEncodedText.Encode("approval_sha256");
    private static readonly JsonEncodedText JsonBatch = JsonEncodedText.Encode("batch");
    private static readonly JsonEncodedText JsonBody = JsonEncodedText.Encode("body");
    private static readonly JsonEncodedText JsonCode = JsonEncodedText.Encode("code");
    private static readonly JsonEncodedText JsonDecision = JsonEncodedText.Encode("decision");
    private static readonly JsonEncodedText JsonExecId = JsonEncodedText.Encode("exec_id");
    private static readonly JsonEncodedText JsonFinishedAt = JsonEncodedText.Encode("finished_at");
    private static readonly JsonEncodedText JsonGateway = JsonEncodedText.Encode("gateway");
    private static readonly JsonEncodedText JsonHash = JsonEncodedText.Encode("hash");
    private static readonly JsonEncodedText JsonIndex = JsonEncodedText.Encode("index");
    private static readonly JsonEncodedText JsonKid = JsonEncodedText.Encode("kid");
    private static readonly JsonEncodedText JsonMode = JsonEncodedText.Encode("mode");
    private static readonly JsonEncodedText JsonNonceSha256 = JsonEncodedText.Encode("nonce_sha256");
    private static readonly JsonEncodedText JsonPath = JsonEncodedText.Encode("path");
    private static readonly JsonEncodedText JsonPrev = JsonEncodedText.Encode("prev");
    private static readonly JsonEncodedText JsonRequestSha256 = JsonEncodedText.Encode("request_sha256");
    private static readonly JsonEncodedText JsonResultForm = JsonEncodedText.Encode("result_form");
    private static readonly JsonEncodedText JsonResultSha256 = JsonEncodedText.Encode("result_sha256");
    private static readonly JsonEncodedText JsonSeq = JsonEncodedText.Encode("seq");
    private static readonly JsonEncodedText JsonSignature = JsonEncodedText.Encode("signature");
    private static readonly JsonEncodedText JsonSize = JsonEncodedText.Encode("size");
    private static readonly JsonEncodedText JsonStartedAt = JsonEncodedText.Encode("started_at");
    private static readonly JsonEncodedText JsonTenant = JsonEncodedText.Encode("tenant");
    private static readonly JsonEncodedText JsonTraceId = JsonEncodedText.Encode("trace_id");
    private static readonly JsonEncodedText JsonUpstreamStatus = JsonEncodedText.Encode("upstream_status");
    private static readonly JsonEncodedText JsonV = JsonEncodedText.Encode("v");

    /// <summary>Writes the document as one JSON object, e.g. inside a larger answer.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WritePropertyName(JsonBody);
        WriteBody(writer, Body);
        writer.WriteString(JsonHash, Hash);
        writer.WriteStartObject(JsonBatch);
        writer.WriteNumber(JsonSize, Batch.Size);
        writer.WriteNumber(JsonIndex, Batch.Index);
        writer.WriteStartArray(JsonPath);
        if (Batch.Path is HexPath computed)
        {
            computed.WriteTo(writer);
        }
        else
        {
            foreach (var node in Batch.Path)
            {
                writer.WriteStringValue(node);
            }
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.WriteString(JsonKid, Kid);
        writer.WriteString(JsonSignature, Signature);
        writer.WriteEndObject();
    }

    public StrictObject ToStrictValue() => new(
    [
        new("body", Body.ToStrictValue()),
        new("hash", new StrictString(Hash)),
        new("batch", new StrictObject(
        [
            new("size", new StrictNumber(Batch.Size.ToString(CultureInfo.InvariantCulture))),
            new("index", new StrictNumber(Batch.Index.ToString(CultureInfo.InvariantCulture))),
            new("path", new StrictArray([.. Batch.Path.Select(p => (StrictValue)new StrictString(p))])),
        ])),
        new("kid", new StrictString(Kid)),
        new("signature", new StrictString(Signature)),
    ]);

    /// <summary>
    /// Reads a document's shape; throws <see cref="ReceiptFormatException"/> naming the wrong
    /// field. Hex and base64url contents are not checked here: a bad value makes the relevant
    /// verification check false instead.
    /// </summary>
    public static ReceiptDocument Parse(StrictValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var obj = ExactObject(value, Keys, "receipt document");
        obj.TryGet("body", out var body);
        obj.TryGet("batch", out var batchValue);
        var batch = ExactObject(batchValue, BatchKeys, "receipt batch");
        batch.TryGet("path", out var pathValue);
        if (pathValue is not StrictArray pathArray)
        {
            throw new ReceiptFormatException("Invalid receipt document: batch.path must be an array of hex strings.");
        }
        var path = new string[pathArray.Items.Count];
        for (var i = 0; i < path.Length; i++)
        {
            path[i] = pathArray.Items[i] is StrictString s
                ? s.Value
                : throw new ReceiptFormatException("Invalid receipt document: batch.path must be an array of hex strings.");
        }
        return new ReceiptDocument(
            ReceiptBody.FromStrictValue(body),
            String(obj, "hash"),
            new ReceiptBatch(Int(batch, "size"), Int(batch, "index"), path),
            String(obj, "kid"),
            String(obj, "signature"));
    }

    internal static void WriteBody(Utf8JsonWriter writer, ReceiptBody body)
    {
        writer.WriteStartObject();
        writer.WriteNumber(JsonV, body.V);
        writer.WriteString(JsonExecId, body.ExecId);
        writer.WriteString(JsonGateway, body.Gateway);
        writer.WriteNumber(JsonSeq, body.Seq);
        writer.WriteString(JsonPrev, body.Prev);
        writer.WriteString(JsonTenant, body.Tenant);
        writer.WriteString(JsonAction, body.Action);
        writer.WriteString(JsonMode, body.Mode);
        body.WriteJsonMember(writer, JsonNonceSha256, ReceiptBody.Given.Nonce);
        body.WriteJsonMember(writer, JsonRequestSha256, ReceiptBody.Given.Request);
        body.WriteJsonMember(writer, JsonApprovalSha256, ReceiptBody.Given.Approval);
        writer.WriteString(JsonApprovalId, body.ApprovalId);
        writer.WriteString(JsonDecision, body.Decision);
        writer.WriteString(JsonCode, body.Code);
        body.WriteJsonMember(writer, JsonResultSha256, ReceiptBody.Given.Result);
        writer.WriteString(JsonResultForm, body.ResultForm);
        if (body.UpstreamStatus is { } status)
        {
            writer.WriteNumber(JsonUpstreamStatus, status);
        }
        else
        {
            writer.WriteNull(JsonUpstreamStatus);
        }
        body.WriteJsonMember(writer, JsonStartedAt, ReceiptBody.Given.Started);
        body.WriteJsonMember(writer, JsonFinishedAt, ReceiptBody.Given.Finished);
        body.WriteJsonMember(writer, JsonTraceId, ReceiptBody.Given.Trace);
        writer.WriteEndObject();
    }

    private static StrictObject ExactObject(StrictValue value, string[] keys, string what)
    {
        if (value is not StrictObject obj)
        {
            throw new ReceiptFormatException($"Invalid {what}: expected a JSON object.");
        }
        foreach (var property in obj.Properties)
        {
            if (Array.IndexOf(keys, property.Key) < 0)
            {
                throw new ReceiptFormatException($"Invalid {what}: unknown field '{InputText.Abbreviate(property.Key)}'.");
            }
        }
        foreach (var key in keys)
        {
            if (!obj.TryGet(key, out _))
            {
                throw new ReceiptFormatException($"Invalid {what}: missing field '{key}'.");
            }
        }
        return obj;
    }

    private static string String(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return value is StrictString s ? s.Value : throw new ReceiptFormatException($"Invalid receipt document: field '{key}' must be a string.");
    }

    private static int Int(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return value is StrictNumber { IsInteger: true } n
            && int.TryParse(n.Literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var result)
            && result >= 0
                ? result
                : throw new ReceiptFormatException($"Invalid receipt document: batch.{key} must be a non-negative integer.");
    }
}
