using OpenExec.Core.Receipts;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// The gateway's own store, except that the next <see cref="FailOutcomes"/> writes of a claim's
/// outcome fail as an unavailable store would (a lock held too long, a full disk). Remembers the
/// most receipts one listing asked it for, and counts key listings (each taking
/// <see cref="KeyListingDelay"/>, as a slow Redis would, and listing <see cref="OtherKeys"/> as
/// they stood when it started: keys other instances registered). Each outcome write can be made
/// to take <see cref="OutcomeDelay"/> first, as a store under load would; and the whole store can
/// be made unreachable for claims and receipts (<see cref="Down"/>).
/// </summary>
internal sealed class FlakyStore(IExecutionStore inner) : IExecutionStore
{
    public int FailOutcomes;

    public int LargestListing;

    public int KeyListings;

    public TimeSpan KeyListingDelay;

    public TimeSpan OutcomeDelay;

    public System.Collections.Concurrent.ConcurrentQueue<SigningKeyRecord> OtherKeys { get; } = new();

    /// <summary>Every claim request the store was given, as given.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<ClaimRequest> Claims { get; } = new();

    public string Kind => inner.Kind;

    public bool ReceiptCopiesExpire => inner.ReceiptCopiesExpire;

    public bool ClaimsCanBeTakenOver => inner.ClaimsCanBeTakenOver;

    /// <summary>Every claim and every receipt write fails, as a store that cannot be reached would.</summary>
    public bool Down;

    private bool Claimed(ClaimRequest request)
    {
        Claims.Enqueue(request);
        return false;
    }

    private static StoreUnavailableException Unreachable() => new("injected: the store cannot be reached");

    public ValueTask<ReceiptDocument> AppendReceiptAsync(ReceiptBody draft, ClaimUpdate? claimUpdate, CancellationToken cancellationToken)
    {
        if (Down)
        {
            return ValueTask.FromException<ReceiptDocument>(Unreachable());
        }
        if (claimUpdate is not null && Interlocked.Decrement(ref FailOutcomes) >= 0)
        {
            return ValueTask.FromException<ReceiptDocument>(new StoreUnavailableException("injected: the outcome could not be written"));
        }
        return claimUpdate is not null && OutcomeDelay > TimeSpan.Zero
            ? DelayedAsync(draft, claimUpdate.Value, cancellationToken)
            : inner.AppendReceiptAsync(draft, claimUpdate, cancellationToken);
    }

    private async ValueTask<ReceiptDocument> DelayedAsync(ReceiptBody draft, ClaimUpdate claimUpdate, CancellationToken cancellationToken)
    {
        await Task.Delay(OutcomeDelay, cancellationToken);
        return await inner.AppendReceiptAsync(draft, claimUpdate, cancellationToken);
    }

    /// <summary>Start-up recovery fails as an unavailable store would (a full disk under the claims' receipts).</summary>
    public bool FailRecovery;

    public Task<IReadOnlyList<ReceiptDocument>> RecoverAsync(Func<RecoveredClaim, ReceiptBody> draftFor, CancellationToken cancellationToken)
        => FailRecovery
            ? Task.FromException<IReadOnlyList<ReceiptDocument>>(new StoreUnavailableException("injected: the recovered claims' receipts could not be written"))
            : inner.RecoverAsync(draftFor, cancellationToken);

    public ValueTask<NonceState> LookupAsync(string nonceSha256, CancellationToken cancellationToken) => inner.LookupAsync(nonceSha256, cancellationToken);

    public ValueTask<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken)
        => Claimed(request) || Down ? ValueTask.FromException<ClaimResult>(Unreachable()) : inner.ClaimAsync(request, cancellationToken);

    public ValueTask<(ClaimResult Claim, ReceiptDocument? Receipt)> ClaimAndRecordAsync(ClaimRequest request, ReceiptBody executed, CancellationToken cancellationToken)
        => Claimed(request) || Down ? ValueTask.FromException<(ClaimResult, ReceiptDocument?)>(Unreachable()) : inner.ClaimAndRecordAsync(request, executed, cancellationToken);

    public ValueTask RenewLeaseAsync(string nonceSha256, string execId, TimeSpan lease, CancellationToken cancellationToken) => inner.RenewLeaseAsync(nonceSha256, execId, lease, cancellationToken);

    public ValueTask<ReceiptDocument?> GetReceiptAsync(string execId, CancellationToken cancellationToken) => inner.GetReceiptAsync(execId, cancellationToken);

    /// <summary>The head of another gateway's chain, as a store holding copies of it would answer (no receipts of it are held).</summary>
    public ChainHead? OtherHead;

    /// <summary>Runs after each listing: another instance's copy landing between two reads.</summary>
    public Action? AfterListing;

    /// <summary>Listings that succeed before one fails as an unavailable store would (a damaged page); negative: none fails.</summary>
    public int ListingsBeforeFailure = -1;

    public async ValueTask<IReadOnlyList<ReceiptDocument>> ListReceiptsAsync(string gateway, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        if (ListingsBeforeFailure >= 0 && Interlocked.Decrement(ref ListingsBeforeFailure) < 0)
        {
            throw new StoreUnavailableException("injected: a page of receipts could not be read");
        }
        LargestListing = Math.Max(LargestListing, limit);
        var listed = await inner.ListReceiptsAsync(gateway, afterSeq, limit, cancellationToken);
        AfterListing?.Invoke();
        return listed;
    }

    public ValueTask<ChainHead?> GetHeadAsync(string gateway, CancellationToken cancellationToken)
        => OtherHead is { } other && other.Gateway == gateway ? ValueTask.FromResult<ChainHead?>(other) : inner.GetHeadAsync(gateway, cancellationToken);

    public ValueTask<IReadOnlyList<ChainHead>> ListGatewaysAsync(CancellationToken cancellationToken) => inner.ListGatewaysAsync(cancellationToken);

    public ValueTask<IReadOnlyDictionary<string, string>> ListCheckpointsAsync(CancellationToken cancellationToken) => inner.ListCheckpointsAsync(cancellationToken);

    public async ValueTask<IReadOnlyList<SigningKeyRecord>> ListKeysAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref KeyListings);
        var others = OtherKeys.ToArray();
        await Task.Delay(KeyListingDelay, cancellationToken);
        return [.. await inner.ListKeysAsync(cancellationToken), .. others];
    }

    public ValueTask<bool> PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

    public bool KeepRecording(DateTimeOffset leaseUntil, DateTimeOffset now) => inner.KeepRecording(leaseUntil, now);
}
