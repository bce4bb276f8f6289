using System.Buffers;
using System.Security.Cryptography;
using OpenExec.Core.Approvals;
using OpenExec.Core.Buffers;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Core.Tests.Receipts;

namespace OpenExec.Core.Tests.Buffers;

/// <summary>
/// Action and receipt hashes write their canonical form into the thread's reused scratch writer:
/// the same hashes as a fresh buffer gives, whatever was hashed before, with no writer allocated
/// per hash.
/// </summary>
public sealed class HashScratchTests
{
    private static string Fresh(ReceiptBody body)
    {
        using var canonical = new PooledBufferWriter();
        body.WriteJcs(canonical);
        return Convert.ToHexStringLower(SHA256.HashData(canonical.WrittenSpan));
    }

    [Fact]
    public void Hashes_after_larger_and_smaller_forms_are_those_of_the_form_alone()
    {
        // A large form (past what a thread keeps), a small one, then one that grows the kept buffer.
        var large = StrictJson.Parse(System.Text.Encoding.UTF8.GetBytes("{\"blob\":\"" + new string('x', HashScratch.KeepUpTo + 10) + "\"}"));
        var bodies = new[] { ReceiptFixtures.Body(execId: new string('e', 5000)), ReceiptFixtures.Body(), ReceiptFixtures.Body(execId: "e2") };

        var expectedLarge = ActionHash.Compute("echo", large);
        foreach (var body in bodies)
        {
            Assert.Equal(Fresh(body), ReceiptHash.Compute(body));
            Assert.Equal(expectedLarge, ActionHash.Compute("echo", large));
        }
    }

    [Fact]
    public void A_writer_rented_while_the_threads_is_in_use_is_another()
    {
        var outer = HashScratch.Rent();
        var inner = HashScratch.Rent();
        Assert.NotSame(outer, inner);
        outer.Write("outer"u8);
        inner.Write("in"u8);
        Assert.Equal("outer"u8.ToArray(), outer.WrittenSpan.ToArray());
        HashScratch.Return(inner);
        HashScratch.Return(outer);

        var again = HashScratch.Rent();
        Assert.Equal(0, again.WrittenCount);
        HashScratch.Return(again);
    }

    [Fact]
    public void Hashing_allocates_the_hash_and_no_writer()
    {
        var body = ReceiptFixtures.Body();
        var form = HashScratch.Rent();
        body.WriteJcs(form);
        var bytes = form.WrittenSpan.ToArray();
        HashScratch.Return(form);
        const int N = 1000;
        ReceiptHash.Compute(body);
        OpenExec.Core.Crypto.Hex.Sha256(bytes);

        // Baseline: the hex string alone, N times.
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < N; i++)
        {
            OpenExec.Core.Crypto.Hex.Sha256(bytes);
        }
        var baseline = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < N; i++)
        {
            ReceiptHash.Compute(body);
        }
        var hashing = GC.GetAllocatedBytesForCurrentThread() - before;

        // A writer per hash was 32 bytes (and a rented array's bookkeeping) more per hash.
        Assert.True(hashing - baseline < N * 16, $"receipt hashing allocated {hashing} bytes for {N} hashes, the hex strings alone {baseline}");
    }
}
