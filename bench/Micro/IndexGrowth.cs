using System.Diagnostics;
using OpenExec.Gateway.Store;

namespace OpenExec.Bench.Micro;

/// <summary>
/// `dotnet run -c Release --project bench/Micro -- index-growth [keys]`: the embedded store's
/// claim index (<see cref="Sha256Index"/>) against a <see cref="Dictionary{TKey, TValue}"/> of the
/// same keys, filled with random SHA-256 keys one at a time: mean and worst single insert (the
/// writer thread, so every request, waits that long), bytes allocated and held per key, mean
/// look-up. Two rounds each, alternating; not BenchmarkDotNet, because the worst single
/// operation is the point.
/// </summary>
public static class IndexGrowth
{
    public static void Run(int count)
    {
        var keys = new Sha256Key[count];
        var random = new Random(1);
        for (var i = 0; i < count; i++)
        {
            keys[i] = new Sha256Key((ulong)random.NextInt64(), (ulong)random.NextInt64(), (ulong)random.NextInt64(), (ulong)random.NextInt64());
        }
        Console.WriteLine($"{count:N0} keys; per subject: mean insert, worst single insert, allocated per key, held per key, mean look-up");
        for (var round = 1; round <= 2; round++)
        {
            Measure("Dictionary", keys, () =>
            {
                var index = new Dictionary<Sha256Key, long>();
                return (index, (key, value) => index[key] = value, key => index.TryGetValue(key, out var v) ? v : 0);
            });
            Measure("Sha256Index", keys, () =>
            {
                var index = new Sha256Index();
                return (index, (key, value) => index.Set(key, value), key => index.TryGetValue(key, out var v) ? v : 0);
            });
        }
    }

    private static void Measure(string name, Sha256Key[] keys, Func<(object Index, Action<Sha256Key, long> Set, Func<Sha256Key, long> Get)> create)
    {
        GC.Collect();
        var heldBefore = GC.GetTotalMemory(forceFullCollection: true);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var (index, set, get) = create();
        var worst = 0L;
        var total = Stopwatch.StartNew();
        for (var i = 0; i < keys.Length; i++)
        {
            var started = Stopwatch.GetTimestamp();
            set(keys[i], i);
            worst = Math.Max(worst, Stopwatch.GetTimestamp() - started);
        }
        total.Stop();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var sum = 0L;
        var lookups = Stopwatch.StartNew();
        for (var i = 0; i < keys.Length; i++)
        {
            sum += get(keys[i]);
        }
        lookups.Stop();
        var held = GC.GetTotalMemory(forceFullCollection: true) - heldBefore;
        GC.KeepAlive(index);
        if (sum != (long)keys.Length * (keys.Length - 1) / 2)
        {
            throw new InvalidOperationException($"{name} lost keys");
        }
        double PerKey(double value) => value / keys.Length;
        Console.WriteLine($"{name,-12} insert {PerKey(total.Elapsed.TotalNanoseconds),6:F0} ns, worst {Stopwatch.GetElapsedTime(0, worst).TotalMilliseconds,7:F1} ms, allocated {PerKey(allocated),5:F0} B/key, held {PerKey(held),5:F0} B/key, look-up {PerKey(lookups.Elapsed.TotalNanoseconds),5:F0} ns");
    }
}
