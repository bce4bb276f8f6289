using System.Formats.Asn1;
using System.Security.Cryptography;
using NSec.Cryptography;

namespace OpenExec.Core.Crypto;

/// <summary>
/// Reads the governance layer's Ed25519 public keys: one or more PEM SubjectPublicKeyInfo blocks
/// (several = key rotation). Parsed once at start-up, never per request.
/// </summary>
public static class Ed25519PublicKeys
{
    private const string Ed25519Oid = "1.3.101.112";
    private const string Ed448Oid = "1.3.101.113";
    private const string RsaOid = "1.2.840.113549.1.1.1";
    private const string RsaPssOid = "1.2.840.113549.1.1.10";
    private const string EcOid = "1.2.840.10045.2.1";

    private static readonly System.Numerics.BigInteger FieldPrime = System.Numerics.BigInteger.Pow(2, 255) - 19;

    /// <summary>The y of the two points of order 8 (the other is its negation).</summary>
    private static readonly System.Numerics.BigInteger Order8Y = System.Numerics.BigInteger.Parse("2707385501144840649318225287225658788936804267575313519463743609750303402022", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// True for a raw key no signer could hold: not 32 bytes, a y at or above the field prime
    /// (a second spelling), or a point of small order (the identity and the rest of the
    /// 8-torsion, sign bit aside). A small-order key verifies signatures nobody made under
    /// verifiers that do not refuse it (OpenSSL: R = identity, S = 0 holds for any message);
    /// libsodium refuses them, as this does.
    /// </summary>
    public static bool IsUnusable(ReadOnlySpan<byte> raw)
    {
        if (raw.Length != 32)
        {
            return true;
        }
        Span<byte> y = stackalloc byte[32];
        raw.CopyTo(y);
        y[31] &= 0x7f;
        var value = new System.Numerics.BigInteger(y, isUnsigned: true, isBigEndian: false);
        return value >= FieldPrime || value.IsZero || value.IsOne || value == FieldPrime - 1 || value == Order8Y || value == FieldPrime - Order8Y;
    }

    /// <summary>
    /// <paramref name="pem"/> with its written-out <c>\r</c> and <c>\n</c> read as line breaks, as
    /// <see cref="ParsePem"/> reads them (a PEM put into an environment variable on one line).
    /// </summary>
    public static string WithLineBreaks(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        return pem.Replace("\\r", "\r", StringComparison.Ordinal).Replace("\\n", "\n", StringComparison.Ordinal);
    }

    /// <summary>
    /// Parses every <c>-----BEGIN PUBLIC KEY-----</c> block. Literal <c>\n</c> sequences are read
    /// as line breaks, because PEMs put into environment variables are often on one line.
    /// </summary>
    /// <exception cref="KeyFormatException">No block, a block that does not parse, or a key that is not Ed25519.</exception>
    public static IReadOnlyList<PublicKey> ParsePem(string pem)
    {
        var text = WithLineBreaks(pem);

        var keys = new List<PublicKey>();
        var rest = text.AsSpan();
        var blockNumber = 0;
        string? beside = null;
        while (PemEncoding.TryFind(rest, out var fields))
        {
            beside ??= Outside(rest[..fields.Location.Start], blockNumber + 1);
            blockNumber++;
            var label = rest[fields.Label].ToString();
            if (!string.Equals(label, "PUBLIC KEY", StringComparison.Ordinal))
            {
                throw new KeyFormatException(
                    $"PEM block {blockNumber} is '{label}', not 'PUBLIC KEY': supply the Ed25519 public key as SubjectPublicKeyInfo PEM.");
            }
            var der = Convert.FromBase64String(rest[fields.Base64Data].ToString());
            keys.Add(ImportSpki(der, blockNumber));
            rest = rest[fields.Location.End..];
        }

        if (keys.Count == 0)
        {
            throw new KeyFormatException(
                "No PEM public key found: expected one or more '-----BEGIN PUBLIC KEY-----' blocks holding Ed25519 keys.");
        }
        // PemEncoding skips a block it cannot read (bad base64, no END line) and finds the next:
        // every BEGIN line must have become a key, or a rotation's new key would be lost silently.
        var begun = text.AsSpan().Count("-----BEGIN ".AsSpan());
        if (begun != keys.Count)
        {
            throw new KeyFormatException(
                $"{begun} PEM blocks begin but only {keys.Count} could be read: a block has invalid base64 or no matching END line.");
        }
        if ((beside ?? Outside(rest, blockNumber + 1)) is { } problem)
        {
            throw new KeyFormatException(problem);
        }
        return keys;
    }

    /// <summary>
    /// Only whitespace may stand between and around the blocks: a second key pasted as raw base64,
    /// without its BEGIN and END lines, or with a mistyped one (<c>----BEGIN</c>), is not a block,
    /// and dropping it would lose a rotation's new key without a word.
    /// </summary>
    private static string? Outside(ReadOnlySpan<char> outside, int nextBlock)
    {
        var text = outside.Trim();
        if (text.IsEmpty)
        {
            return null;
        }
        var shown = text.Length > 24 ? $"{text[..24]}..." : text.ToString();
        return $"Text that is not a PEM block {(nextBlock == 1 ? "before the first block" : $"after block {nextBlock - 1}")} ('{shown}'): give every key as a whole '-----BEGIN PUBLIC KEY-----' ... '-----END PUBLIC KEY-----' block, with nothing else beside them.";
    }

    private static PublicKey ImportSpki(byte[] der, int blockNumber)
    {
        string oid;
        try
        {
            // SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, params OPTIONAL }, BIT STRING }
            var spki = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            oid = spki.ReadSequence().ReadObjectIdentifier();
        }
        catch (AsnContentException e)
        {
            throw new KeyFormatException($"PEM block {blockNumber} is not a valid SubjectPublicKeyInfo public key.", e);
        }

        var kind = oid switch
        {
            Ed25519Oid => null,
            RsaOid or RsaPssOid => "an RSA key",
            EcOid => "an EC key",
            Ed448Oid => "an Ed448 key",
            _ => $"a key of algorithm {oid}",
        };
        if (kind is not null)
        {
            throw new KeyFormatException($"PEM block {blockNumber} is {kind}, not Ed25519: ClawShield approvals are verified with Ed25519 keys only.");
        }

        if (!PublicKey.TryImport(SignatureAlgorithm.Ed25519, der, KeyBlobFormat.PkixPublicKey, out var key) || key is null)
        {
            throw new KeyFormatException($"PEM block {blockNumber} is not a valid Ed25519 public key.");
        }
        // A key no signer could hold verifies no approval here (libsodium refuses it): every
        // request would be refused as invalid_signature, found only at the first one.
        if (IsUnusable(key.Export(KeyBlobFormat.RawPublicKey)))
        {
            throw new KeyFormatException($"PEM block {blockNumber} is an Ed25519 key of small order or in a non-canonical encoding, which no governance service can sign for: supply the service's real public key.");
        }
        return key;
    }
}
