using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Core.Approvals;

/// <summary>
/// A ClawShield v1 approval artifact (SPEC section 4), its fields exactly as received. Parsing
/// checks only the shape; authenticity, tenant, action hash and time window are later steps.
/// </summary>
public sealed record ApprovalArtifact(
    string ApprovalId,
    string TenantId,
    string ActionHash,
    string IssuedAt,
    string ExpiresAt,
    string Signature)
{
    private static readonly string[] FieldNames = ["approval_id", "tenant_id", "action_hash", "issued_at", "expires_at", "signature"];

    /// <summary>Length of an Ed25519 signature.</summary>
    public const int SignatureLength = 64;

    /// <summary>
    /// The approval's identity: lowercase hex SHA-256 of the signed message. Not
    /// <see cref="ApprovalId"/>: the v1 message has no separators, so characters can move between
    /// approval_id and tenant_id with the signature still valid, and such a re-cut artifact must
    /// count as the same, already used, approval (SPEC section 3).
    /// </summary>
    public string Identity => IdentityOf(SignedMessage());

    /// <summary><see cref="Identity"/> from a signed message already made with <see cref="SignedMessage"/>.</summary>
    public static string IdentityOf(ReadOnlySpan<byte> signedMessage) => Hex.Sha256(signedMessage);

    /// <summary>The v1 signed message: UTF-8 of approval_id + tenant_id + action_hash + issued_at + expires_at.</summary>
    public byte[] SignedMessage()
    {
        if (HasSurrogate(ApprovalId) || HasSurrogate(TenantId) || HasSurrogate(ActionHash) || HasSurrogate(IssuedAt) || HasSurrogate(ExpiresAt))
        {
            // Halves of a surrogate pair split across two fields join when concatenated: encode
            // the concatenation, exactly as the message is defined.
            return Encoding.UTF8.GetBytes(string.Concat(ApprovalId, TenantId, ActionHash, IssuedAt, ExpiresAt));
        }
        // Otherwise each field is encoded straight into the one result, no string in between.
        var utf8 = Encoding.UTF8;
        var message = new byte[utf8.GetByteCount(ApprovalId) + utf8.GetByteCount(TenantId) + utf8.GetByteCount(ActionHash) + utf8.GetByteCount(IssuedAt) + utf8.GetByteCount(ExpiresAt)];
        var at = utf8.GetBytes(ApprovalId, message);
        at += utf8.GetBytes(TenantId, message.AsSpan(at));
        at += utf8.GetBytes(ActionHash, message.AsSpan(at));
        at += utf8.GetBytes(IssuedAt, message.AsSpan(at));
        utf8.GetBytes(ExpiresAt, message.AsSpan(at));
        return message;
    }

    private static bool HasSurrogate(string field) => field.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF');

    /// <summary>Reads the artifact from the parsed request; throws <see cref="ApprovalFormatException"/> on any other shape.</summary>
    /// <param name="value">The artifact JSON.</param>
    /// <param name="anyApprovalId">
    /// Accept any <c>approval_id</c>, not only a UUID. The v1 message has no separators, so only an
    /// approval_id of fixed form fixes where tenant_id begins: with any id, an approval for tenant
    /// <c>eu-tenant-001</c> re-cut as approval_id + <c>"eu-"</c> and tenant <c>tenant-001</c> keeps
    /// its signature and passes a gateway pinned to <c>tenant-001</c>.
    /// </param>
    public static ApprovalArtifact Parse(StrictValue value, bool anyApprovalId = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value is not StrictObject obj)
        {
            throw new ApprovalFormatException("Invalid approval artifact: expected a JSON object.");
        }
        for (var i = 0; i < obj.Properties.Count; i++)
        {
            var property = obj.Properties[i];
            if (Array.IndexOf(FieldNames, property.Key) < 0)
            {
                throw new ApprovalFormatException($"Invalid approval artifact: unknown field '{property.Key}'.");
            }
        }

        var approvalId = RequiredString(obj, "approval_id");
        var tenantId = RequiredString(obj, "tenant_id");
        var actionHash = RequiredString(obj, "action_hash");
        // A missing timestamp reads as empty, which the time-window check (step 5) refuses with the
        // seed's sentence (SPEC section 4): "Missing expires_at in approval artifact".
        var issuedAt = OptionalString(obj, "issued_at") ?? "";
        var expiresAt = OptionalString(obj, "expires_at") ?? "";
        var signature = RequiredString(obj, "signature");

        if (!anyApprovalId && !IsUuid(approvalId))
        {
            throw new ApprovalFormatException("Invalid approval artifact: approval_id must be a UUID (8-4-4-4-12 hex digits): its fixed length is what tells approval_id and tenant_id apart in the signed message.");
        }
        // Any-case hex passes the shape check; the later comparison with the (lowercase) request
        // hash is exact, so an upper-case hash is refused there as a mismatch.
        if (actionHash.Length != 64 || !actionHash.All(char.IsAsciiHexDigit))
        {
            throw new ApprovalFormatException("Invalid approval artifact: action_hash must be 64 hex characters.");
        }
        if (!StrictBase64.TryDecode(signature, out var signatureBytes) || signatureBytes.Length != SignatureLength)
        {
            throw new ApprovalFormatException("Invalid approval artifact: signature must be standard base64 of a 64-byte Ed25519 signature.");
        }
        return new ApprovalArtifact(approvalId, tenantId, actionHash, issuedAt, expiresAt, signature);
    }

    /// <summary>
    /// Whether <paramref name="id"/> is a UUID written as 8-4-4-4-12 hex digits (either case), as
    /// the governance layer issues approval ids: exactly 36 characters, so where it ends is fixed.
    /// </summary>
    public static bool IsUuid(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (id.Length != 36)
        {
            return false;
        }
        for (var i = 0; i < id.Length; i++)
        {
            if (i is 8 or 13 or 18 or 23 ? id[i] != '-' : !char.IsAsciiHexDigit(id[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Reads the <c>OpenExec-Approval</c> header: base64url of the artifact JSON (SPEC section 5).</summary>
    /// <param name="base64Url">The header's value.</param>
    /// <param name="anyApprovalId">As for <see cref="Parse"/>.</param>
    public static ApprovalArtifact FromHeader(string base64Url, bool anyApprovalId = false)
    {
        ArgumentNullException.ThrowIfNull(base64Url);
        // Tolerate the padded form: the header is the caller's encoding, and padding adds no ambiguity.
        if (!Crypto.Base64Url.TryDecode(base64Url.TrimEnd('='), out var json))
        {
            throw new ApprovalFormatException("Invalid approval artifact: the OpenExec-Approval header must be base64url of the artifact JSON.");
        }
        StrictValue value;
        try
        {
            value = StrictJson.Parse(json);
        }
        catch (StrictJsonException e)
        {
            throw new ApprovalFormatException($"Invalid approval artifact: the OpenExec-Approval header is not valid JSON ({e.Message}).", e);
        }
        return Parse(value, anyApprovalId);
    }

    /// <summary>The artifact as a JSON value, e.g. to embed in an <c>/execute</c> body.</summary>
    public StrictObject ToStrictValue() => new(
    [
        new("approval_id", new StrictString(ApprovalId)),
        new("tenant_id", new StrictString(TenantId)),
        new("action_hash", new StrictString(ActionHash)),
        new("issued_at", new StrictString(IssuedAt)),
        new("expires_at", new StrictString(ExpiresAt)),
        new("signature", new StrictString(Signature)),
    ]);

    /// <summary>The artifact as JSON text.</summary>
    public string ToJson() => Encoding.UTF8.GetString(ToJsonUtf8());

    /// <summary>Base64url of the artifact JSON, for the <c>OpenExec-Approval</c> header.</summary>
    public string ToHeader() => Crypto.Base64Url.Encode(ToJsonUtf8());

    private byte[] ToJsonUtf8()
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("approval_id", ApprovalId);
            writer.WriteString("tenant_id", TenantId);
            writer.WriteString("action_hash", ActionHash);
            writer.WriteString("issued_at", IssuedAt);
            writer.WriteString("expires_at", ExpiresAt);
            writer.WriteString("signature", Signature);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string RequiredString(StrictObject obj, string name)
        => OptionalString(obj, name) ?? throw new ApprovalFormatException($"Invalid approval artifact: missing field '{name}'.");

    /// <summary>The field's string; null when it is absent; any other JSON type is a shape error.</summary>
    private static string? OptionalString(StrictObject obj, string name)
    {
        if (!obj.TryGet(name, out var value))
        {
            return null;
        }
        return value is StrictString s
            ? s.Value
            : throw new ApprovalFormatException($"Invalid approval artifact: field '{name}' must be a string.");
    }
}
