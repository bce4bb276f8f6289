using System.Collections.Concurrent;
using NSec.Cryptography;
using OpenExec.Core.Crypto;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Receipts;

/// <summary>
/// Receipt-signing public keys by kid, as the store lists them. Keys are never removed, so a
/// key once loaded stays valid; an unknown kid is looked for in a reload of the list that started
/// after it was asked for (a key another instance registered a moment ago is found). Reloads are
/// shared: one runs at a time, and every kid asked for while it runs waits for the one after it,
/// so a stream of unknown kids costs two reloads at most in flight, not one each.
/// </summary>
internal sealed class SigningKeyDirectory(IExecutionStore store)
{
    private readonly ConcurrentDictionary<string, PublicKey> _keys = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private Task _running = Task.CompletedTask;
    private Task? _next;

    public async ValueTask<Func<string, PublicKey?>> ResolverForAsync(string kid, CancellationToken cancellationToken)
    {
        if (!_keys.ContainsKey(kid))
        {
            await ReloadStartingNow().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        return k => _keys.GetValueOrDefault(k);
    }

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
                _keys.TryAdd(record.Kid, PublicKey.Import(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey));
            }
        }
    }
}
