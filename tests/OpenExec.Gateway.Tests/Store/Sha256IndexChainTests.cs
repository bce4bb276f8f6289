using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// The claim index's table where its chains are long: keys that share their first 64 bits (or
/// the low bits that pick a bucket), removed at the head, middle and tail of a chain, while
/// buckets split and removed slots are reused.
/// </summary>
public sealed class Sha256IndexChainTests
{
    [Theory]
    [InlineData(1, 0UL)] // every key in one chain
    [InlineData(2, 0xFFUL)] // 256 first words: chains that split until the table has 256 buckets
    [InlineData(3, 0xFFFF_0000_0000_0000UL)] // low bits all zero: every key stays in bucket 0
    [InlineData(4, ulong.MaxValue)] // keys as a SHA-256 gives them
    public void Answers_as_a_dictionary_does_with_long_chains(int seed, ulong firstWordMask)
    {
        var index = new Sha256Index();
        var model = new Dictionary<Sha256Key, long>();
        var keys = new List<Sha256Key>();
        var random = new Random(seed);
        Sha256Key NewKey() => new((ulong)random.NextInt64() & firstWordMask, (ulong)random.NextInt64(), (ulong)random.Next(4), 0);

        for (var round = 0; round < 6; round++)
        {
            // Grow (splitting buckets, reusing the slots freed in the round before), then take
            // most keys out again in random order, looking every key up as the chains shrink.
            var target = 300 + random.Next(3_000);
            while (model.Count < target)
            {
                var key = random.Next(8) == 0 && keys.Count > 0 ? keys[random.Next(keys.Count)] : NewKey();
                keys.Add(key);
                var value = random.NextInt64();
                index.Set(key, value);
                model[key] = value;
            }
            AssertSame(index, model, keys, random);

            var remove = model.Keys.OrderBy(_ => random.Next()).Take(model.Count * 9 / 10).ToList();
            foreach (var key in remove)
            {
                Assert.True(index.Remove(key));
                model.Remove(key);
                Assert.False(index.Remove(key));
                if (random.Next(4) == 0)
                {
                    // Taken out and put back at once: the chain's head again.
                    index.Set(key, 7);
                    Assert.True(index.Remove(key));
                }
            }
            AssertSame(index, model, keys, random);
        }
    }

    private static void AssertSame(Sha256Index index, Dictionary<Sha256Key, long> model, List<Sha256Key> keys, Random random)
    {
        Assert.Equal(model.Count, index.Count);
        foreach (var key in keys)
        {
            Assert.Equal(model.TryGetValue(key, out var expected), index.TryGetValue(key, out var actual));
            Assert.Equal(expected, actual);
            Assert.Equal(model.ContainsKey(key), index.ContainsKey(key));
        }
        var absent = new Sha256Key((ulong)random.NextInt64(), 1, 2, 3);
        Assert.False(index.ContainsKey(absent));
    }
}
