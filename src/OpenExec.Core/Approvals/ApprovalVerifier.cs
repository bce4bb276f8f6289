using NSec.Cryptography;

namespace OpenExec.Core.Approvals;

/// <summary>
/// Checks that an approval is authentic: signed by any one of the governance keys (several keys
/// = rotation). The keys are parsed once at start-up.
/// </summary>
public sealed class ApprovalVerifier
{
    private readonly PublicKey[] _keys;

    public ApprovalVerifier(IReadOnlyList<PublicKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _keys = [.. keys];
    }

    public int KeyCount => _keys.Length;

    /// <summary>True when any configured key verifies the signature over the v1 signed message.</summary>
    public bool VerifySignature(ApprovalArtifact artifact)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        return VerifySignature(artifact, artifact.SignedMessage());
    }

    /// <summary>As <see cref="VerifySignature(ApprovalArtifact)"/>, with <paramref name="signedMessage"/> = <see cref="ApprovalArtifact.SignedMessage"/> already made.</summary>
    public bool VerifySignature(ApprovalArtifact artifact, ReadOnlySpan<byte> signedMessage)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        Span<byte> signature = stackalloc byte[ApprovalArtifact.DecodedSignatureSpace];
        if (!artifact.TryGetSignature(signature))
        {
            return false;
        }
        signature = signature[..ApprovalArtifact.SignatureLength];
        foreach (var key in _keys)
        {
            if (SignatureAlgorithm.Ed25519.Verify(key, signedMessage, signature))
            {
                return true;
            }
        }
        return false;
    }
}
