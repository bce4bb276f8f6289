using System.Security.Cryptography;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// The claim index's table: the same answers as a dictionary through growth, overwrites and
/// removals, and growth that never copies what it holds (a kept nonce costs its entry, not a
/// share of ever larger arrays).
/// </summary>
[Collection(AllocationCountCollection.Name)]
public sealed class Sha256IndexTests
{
    [Fact]
    public void Answers_as_a_dictionary_does_through_growth_overwrites_and_removals()
    {
        var index = new Sha256Index();
        var model = new Dictionary<Sha256Key, long>();
        var keys = new List<Sha256Key>();
        var random = new Random(7);
        for (var step = 0; step < 300_000; step++)
        {
            var op = random.Next(10);
            if (op < 6 || keys.Count == 0)
            {
                var key = NewKey();
                keys.Add(key);
                index.Set(key, step);
                model[key] = step;
            }
            else if (op < 7)
            {
                var key = keys[random.Next(keys.Count)];
                index.Set(key, -step);
                model[key] = -step;
            }
            else if (op < 9)
            {
                var key = keys[random.Next(keys.Count)];
                Assert.Equal(model.Remove(key), index.Remove(key));
            }
            else
            {
                var key = random.Next(2) == 0 ? keys[random.Next(keys.Count)] : NewKey();
                Assert.Equal(model.TryGetValue(key, out var expected), index.TryGetValue(key, out var actual));
                Assert.Equal(expected, actual);
            }
        }

        Assert.Equal(model.Count, index.Count);
        foreach (var key in keys)
        {
            Assert.Equal(model.TryGetValue(key, out var expected), index.TryGetValue(key, out var actual));
            Assert.Equal(expected, actual);
            Assert.Equal(model.ContainsKey(key), index.ContainsKey(key));
        }
    }

    [Fact]
    public void Keys_that_share_their_first_64_bits_are_still_told_apart()
    {
        var index = new Sha256Index();
        var a = new Sha256Key(42, 1, 2, 3);
        var b = a with { D = 4 };
        index.Set(a, 1);
        index.Set(b, 2);

        Assert.True(index.TryGetValue(a, out var va));
        Assert.True(index.TryGetValue(b, out var vb));
        Assert.Equal((1, 2), (va, vb));
        Assert.True(index.Remove(a));
        Assert.False(index.ContainsKey(a));
        Assert.True(index.TryGetValue(b, out vb));
        Assert.Equal(2, vb);
    }

    [Fact]
    public void Growth_allocates_about_one_entry_per_key_and_copies_nothing()
    {
        const int Held = 600_000;
        const int Added = 500_000;
        var keys = new Sha256Key[Held + Added];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = NewKey();
        }
        var index = new Sha256Index();
        for (var i = 0; i < Held; i++)
        {
            index.Set(keys[i], i);
        }

        // 600 000 to 1 100 000 keys: a dictionary doubles its arrays at 672 827 keys (to 1 395 263
        // entries: ~72 MB allocated at once on the large-object heap, ~145 B per key added here).
        // The table adds segments. Large-object allocations are not in the thread's own count, so
        // the process's is read, in a collection that runs alone.
        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = Held; i < keys.Length; i++)
        {
            index.Set(keys[i], i);
        }
        var perKey = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)Added;

        Assert.Equal(keys.Length, index.Count);
        // An entry is 48 bytes and a bucket 4; segments and the directories that list them add
        // well under a byte per key.
        Assert.InRange(perKey, 48, 60);
        Assert.True(index.TryGetValue(keys[0], out var first) && first == 0);
        Assert.True(index.TryGetValue(keys[^1], out var last) && last == keys.Length - 1);
    }

    private static Sha256Key NewKey()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return Sha256Key.Parse(Convert.ToHexString(bytes));
    }
}
