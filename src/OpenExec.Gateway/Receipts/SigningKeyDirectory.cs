using System.Collections.Concurrent;
using NSec.Cryptography;
using OpenExec.Core.Crypto;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Receipts;

/// <summary>
/// Receipt-signing public keys by kid, with the gateways that sign with them, as the store lists
/// them. A receipt or checkpoint verifies only under a key of the gateway it names (a key of
/// unrecorded gateways, registered before they were recorded, under any). Keys are never removed,
/// so a key once loaded stays valid; a kid unknown, or not yet known as the gateway's, is looked
/// for in a reload of the list that started after it was asked for (a key another instance
/// registered a moment ago is found). Reloads are
/// shared: one runs at a time, and every kid asked for while it runs waits for the one after it,
/// so a stream of unknown kids costs two reloads at most in flight, not one each.
/// </summary>
internal sealed class SigningKeyDirectory(IExecutionStore store)
{
    private readonly ConcurrentDictionary<string, (PublicKey Key, IReadOnlyList<string>? Gateways)> _keys = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private Task _running = Task.CompletedTask;
    private Task? _next;

    /// <summary>The keys that verify what <paramref name="gateway"/> signed, once <paramref name="kid"/> has been looked for.</summary>
    public async ValueTask<Func<string, PublicKey?>> ResolverForAsync(string kid, string gateway, CancellationToken cancellationToken)
    {
        if (Find(kid, gateway) is null)
        {
            await ReloadStartingNow().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        return k => Find(k, gateway);
    }

    private PublicKey? Find(string kid, string gateway)
        => _keys.TryGetValue(kid, out var entry) && Core.Receipts.KeyBinding.Signs(entry.Gateways, gateway) ? entry.Key : null;

    /// <summary>A reload that starts now, or, while one runs (it may have read the list already), the one after it.</summary>
    private Task ReloadStartingNow()
    {
        lock (_gate)
        {
            if (_running.IsCompleted)
            {
                return _running = LoadAsync();
            }
            return _next ??= _running.ContinueWith(_ => StartNext(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
        }
    }

    private Task StartNext()
    {
        lock (_gate)
        {
            _next = null;
            return _running = LoadAsync();
        }
    }

    private async Task LoadAsync()
    {
        await Task.Yield();
        foreach (var record in await store.ListKeysAsync(CancellationToken.None).ConfigureAwait(false))
        {
            if (Base64Url.TryDecode(record.X, out var raw) && raw.Length == 32)
            {
                // The gateways a key signs for only grow (another instance given the same key file;
                // a Redis that lost its listing and has it back only in part, for now).
                _keys[record.Kid] = _keys.TryGetValue(record.Kid, out var known)
                    ? (known.Key, Core.Receipts.KeyBinding.Merge(known.Gateways, record.Gateways))
                    : (PublicKey.Import(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey), record.Gateways);
            }
        }
    }
}
