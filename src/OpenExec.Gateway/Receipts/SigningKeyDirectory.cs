using System.Collections.Concurrent;
using NSec.Cryptography;
using OpenExec.Core.Crypto;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Receipts;

/// <summary>
/// Receipt-signing public keys by kid, as the store lists them. Keys are never removed, so a
/// key once loaded stays valid; an unknown kid triggers one reload.
/// </summary>
internal sealed class SigningKeyDirectory(IExecutionStore store)
{
    private readonly ConcurrentDictionary<string, PublicKey> _keys = new(StringComparer.Ordinal);

    public async ValueTask<Func<string, PublicKey?>> ResolverForAsync(string kid, CancellationToken cancellationToken)
    {
        if (!_keys.ContainsKey(kid))
        {
            foreach (var record in await store.ListKeysAsync(cancellationToken).ConfigureAwait(false))
            {
                if (Base64Url.TryDecode(record.X, out var raw) && raw.Length == 32)
                {
                    _keys.TryAdd(record.Kid, PublicKey.Import(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey));
                }
            }
        }
        return k => _keys.GetValueOrDefault(k);
    }
}
