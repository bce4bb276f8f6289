using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Text;

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
        var message = new byte[SignedMessageLength()];
        WriteSignedMessage(message);
        return message;
    }

    /// <summary>Characters of a signature in standard base64, padding included (88).</summary>
    private const int EncodedSignatureLength = (SignatureLength + 2) / 3 * 4;

    /// <summary>What a signature's 88 characters decode into at most (its 64 bytes and 2 of padding).</summary>
    internal const int DecodedSignatureSpace = EncodedSignatureLength / 4 * 3;

    /// <summary>Standard base64 of <see cref="SignatureLength"/> bytes, read without an array.</summary>
    internal static bool IsSignature(string text)
    {
        Span<byte> decoded = stackalloc byte[DecodedSignatureSpace];
        return TryDecodeSignature(text, decoded);
    }

    /// <summary>
    /// Decodes a signature into <paramref name="decoded"/> (<see cref="DecodedSignatureSpace"/>
    /// bytes; the signature is its first <see cref="SignatureLength"/>). Any other length is no
    /// signature and is not decoded at all.
    /// </summary>
    internal static bool TryDecodeSignature(string text, Span<byte> decoded)
        => text.Length == EncodedSignatureLength
            && StrictBase64.TryDecode(text, decoded, out var written)
            && written == SignatureLength;

    /// <summary>The length of <see cref="SignedMessage"/>.</summary>
    public int SignedMessageLength()
        => HasAnySurrogate()
            ? Encoding.UTF8.GetByteCount(string.Concat(ApprovalId, TenantId, ActionHash, IssuedAt, ExpiresAt))
            : Encoding.UTF8.GetByteCount(ApprovalId) + Encoding.UTF8.GetByteCount(TenantId) + Encoding.UTF8.GetByteCount(ActionHash) + Encoding.UTF8.GetByteCount(IssuedAt) + Encoding.UTF8.GetByteCount(ExpiresAt);

    /// <summary>Writes <see cref="SignedMessage"/> into <paramref name="destination"/>, <see cref="SignedMessageLength"/> bytes.</summary>
    public void WriteSignedMessage(Span<byte> destination)
    {
        var utf8 = Encoding.UTF8;
        if (HasAnySurrogate())
        {
            // Halves of a surrogate pair split across two fields join when concatenated: encode
            // the concatenation, exactly as the message is defined.
            utf8.GetBytes(string.Concat(ApprovalId, TenantId, ActionHash, IssuedAt, ExpiresAt), destination);
            return;
        }
        // Otherwise each field is encoded straight into the one result, no string in between.
        var at = utf8.GetBytes(ApprovalId, destination);
        at += utf8.GetBytes(TenantId, destination[at..]);
        at += utf8.GetBytes(ActionHash, destination[at..]);
        at += utf8.GetBytes(IssuedAt, destination[at..]);
        utf8.GetBytes(ExpiresAt, destination[at..]);
    }

    private bool HasAnySurrogate()
        => HasSurrogate(ApprovalId) || HasSurrogate(TenantId) || HasSurrogate(ActionHash) || HasSurrogate(IssuedAt) || HasSurrogate(ExpiresAt);

    private static bool HasSurrogate(string field) => CharRange.ContainsAnyIn(field, '\uD800', '\uDFFF');

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

        return Checked(
            Required(OptionalString(obj, "approval_id"), "approval_id"),
            Required(OptionalString(obj, "tenant_id"), "tenant_id"),
            Required(OptionalString(obj, "action_hash"), "action_hash"),
            OptionalString(obj, "issued_at"),
            OptionalString(obj, "expires_at"),
            Required(OptionalString(obj, "signature"), "signature"),
            anyApprovalId);
    }

    /// <summary>
    /// The artifact from its fields, each as the JSON gave it (null where absent, read in this
    /// order, so the first missing one is named), once their shapes are checked.
    /// </summary>
    private static ApprovalArtifact Checked(string approvalId, string tenantId, string actionHash, string? issuedAt, string? expiresAt, string signature, bool anyApprovalId)
    {
        // A missing timestamp reads as empty, which the time-window check (step 5) refuses with the
        // seed's sentence (SPEC section 4): "Missing expires_at in approval artifact".
        issuedAt ??= "";
        expiresAt ??= "";
        if (!anyApprovalId && !IsUuid(approvalId))
        {
            throw new ApprovalFormatException("Invalid approval artifact: approval_id must be a UUID (8-4-4-4-12 hex digits): its fixed length is what tells approval_id and tenant_id apart in the signed message.");
        }
        // Any-case hex passes the shape check; the later comparison with the (lowercase) request
        // hash is exact, so an upper-case hash is refused there as a mismatch.
        if (actionHash.Length != 64 || !AllHexDigits(actionHash))
        {
            throw new ApprovalFormatException("Invalid approval artifact: action_hash must be 64 hex characters.");
        }
        if (!IsSignature(signature))
        {
            throw new ApprovalFormatException("Invalid approval artifact: signature must be standard base64 of a 64-byte Ed25519 signature.");
        }
        return new ApprovalArtifact(approvalId, tenantId, actionHash, issuedAt, expiresAt, signature);
    }

    /// <summary>Hex digits of either case only (no enumerator, as LINQ over a string makes).</summary>
    private static bool AllHexDigits(string text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }
        return true;
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
        var text = base64Url.AsSpan().TrimEnd('=');
        // Decoded only to be parsed: on the stack for a header of usual size, else a pooled buffer.
        var max = Crypto.Base64Url.MaxDecodedLength(text.Length);
        byte[]? rented = null;
        var json = max <= 1024 ? stackalloc byte[max] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(max));
        StrictValue? value = null;
        var fields = default(Fields);
        try
        {
            if (!Crypto.Base64Url.TryDecode(text, json, out var written))
            {
                throw new ApprovalFormatException("Invalid approval artifact: the OpenExec-Approval header must be base64url of the artifact JSON.");
            }
            // An artifact as ClawShield writes it (an object of known string fields) is read
            // straight into its fields; any other document is parsed, and refused or read, as a value.
            if (!StrictJson.TryReadStringMembers(json[..written], FieldNames, fields))
            {
                value = StrictJson.Parse(json[..written]);
            }
        }
        catch (StrictJsonException e)
        {
            throw new ApprovalFormatException($"Invalid approval artifact: the OpenExec-Approval header is not valid JSON ({e.Message}).", e);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
        return value is not null
            ? Parse(value, anyApprovalId)
            : Checked(Required(fields[0], "approval_id"), Required(fields[1], "tenant_id"), Required(fields[2], "action_hash"), fields[3], fields[4], Required(fields[5], "signature"), anyApprovalId);
    }

    /// <summary>The six fields, in <see cref="FieldNames"/>' order, read without an array.</summary>
    [System.Runtime.CompilerServices.InlineArray(6)]
    private struct Fields
    {
        private string? _first;
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

    private static string Required(string? value, string name)
        => value ?? throw new ApprovalFormatException($"Invalid approval artifact: missing field '{name}'.");

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
