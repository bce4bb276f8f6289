using System.Buffers;
using System.Buffers.Binary;
using OpenExec.Core.Crypto;

namespace OpenExec.Gateway.Store;

/// <summary>A SHA-256 (given as 64 hex digits) as an index key: 32 bytes, no string kept.</summary>
internal readonly record struct Sha256Key(ulong A, ulong B, ulong C, ulong D)
{
    /// <summary>The key of a digest.</summary>
    public static Sha256Key Of(in Sha256Digest digest)
    {
        Span<byte> bytes = stackalloc byte[Sha256Digest.Size];
        digest.CopyTo(bytes);
        return FromBytes(bytes);
    }

    public static Sha256Key Parse(string hex)
        => TryParse(hex, out var key) ? key : throw new ArgumentException("Not a SHA-256 in hex", nameof(hex));

    private static bool TryParse(string hex, out Sha256Key key)
    {
        Span<byte> bytes = stackalloc byte[32];
        if (hex.Length != 64 || Convert.FromHexString(hex, bytes, out _, out var written) != OperationStatus.Done || written != 32)
        {
            key = default;
            return false;
        }
        key = FromBytes(bytes);
        return true;
    }

    private static Sha256Key FromBytes(ReadOnlySpan<byte> bytes) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(bytes),
        BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]),
        BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]),
        BinaryPrimitives.ReadUInt64LittleEndian(bytes[24..]));
}

/// <summary>
/// SHA-256 key → row id, for the embedded store's claim index (one entry per kept nonce, for
/// as long as the retention keeps it: millions in a long-running gateway). A
/// <see cref="Dictionary{TKey, TValue}"/> grows by copying everything it holds into arrays twice
/// the size: at a few million entries one insert allocated ~200 MB on the large-object heap and
/// held the store's writer thread (so every request) for 60–130 ms, and each kept nonce cost
/// ~150 B of allocations over its life. This table never copies an entry: entries and buckets
/// live in fixed-size segments (each below the large-object threshold), and it grows one bucket
/// at a time (linear hashing: each insert past the load factor splits one bucket's chain).
/// The keys are SHA-256 outputs, so their first 64 bits are already a uniform hash that no
/// client can steer (nonces and approvals are hashed before they get here).
/// Single-threaded, like the writer that owns it.
/// </summary>
internal sealed class Sha256Index
{
    // 1 024 entries of 48 bytes (49 152 B) and 8 192 buckets of 4 bytes (32 768 B) per segment:
    // below the 85 000 B large-object threshold, so no segment lands on the large-object heap.
    private const int EntryShift = 10;
    private const int EntryMask = (1 << EntryShift) - 1;
    private const int BucketShift = 13;
    private const int BucketMask = (1 << BucketShift) - 1;
    private const int InitialBuckets = 64;

    private Entry[][] _entries = new Entry[4][];
    private int[][] _buckets = new int[4][];

    /// <summary>Entry slots ever handed out (the free list reuses removed ones first).</summary>
    private int _slots;

    /// <summary>First free slot + 1; 0 when none.</summary>
    private int _free;

    /// <summary>Buckets before this round of splits (a power of two); a key's bucket is its hash modulo this, or twice this once its bucket was split.</summary>
    private long _roundBuckets = InitialBuckets;

    /// <summary>The next bucket to split; buckets below it are already split in this round.</summary>
    private long _split;

    public int Count { get; private set; }

    private long BucketCount => _roundBuckets + _split;

    public bool ContainsKey(in Sha256Key key) => Find(key) != 0;

    public bool TryGetValue(in Sha256Key key, out long value)
    {
        var found = Find(key);
        value = found == 0 ? 0 : EntryAt(found - 1).Value;
        return found != 0;
    }

    /// <summary>Adds the key, or gives it a new value.</summary>
    public void Set(in Sha256Key key, long value)
    {
        var found = Find(key);
        if (found != 0)
        {
            EntryAt(found - 1).Value = value;
            return;
        }
        var slot = TakeSlot();
        ref var bucket = ref BucketAt(BucketOf(key.A));
        ref var entry = ref EntryAt(slot);
        entry.Key = key;
        entry.Value = value;
        entry.Next = bucket;
        bucket = slot + 1;
        Count++;
        if (Count > BucketCount)
        {
            SplitOne();
        }
    }

    /// <summary>Takes the key out; false when it was not there.</summary>
    public bool Remove(in Sha256Key key)
    {
        ref var link = ref BucketAt(BucketOf(key.A));
        while (link != 0)
        {
            var slot = link - 1;
            ref var entry = ref EntryAt(slot);
            if (entry.Key == key)
            {
                link = entry.Next;
                entry = default;
                entry.Next = _free;
                _free = slot + 1;
                Count--;
                return true;
            }
            link = ref entry.Next;
        }
        return false;
    }

    /// <summary>The key's slot + 1, or 0.</summary>
    private int Find(in Sha256Key key)
    {
        var link = BucketAt(BucketOf(key.A));
        while (link != 0)
        {
            ref var entry = ref EntryAt(link - 1);
            if (entry.Key == key)
            {
                return link;
            }
            link = entry.Next;
        }
        return 0;
    }

    private long BucketOf(ulong hash)
    {
        var bucket = (long)(hash & (ulong)(_roundBuckets - 1));
        return bucket < _split ? (long)(hash & (ulong)((_roundBuckets << 1) - 1)) : bucket;
    }

    /// <summary>Splits bucket <see cref="_split"/>: each of its entries stays or moves to the new bucket at <c>_split + _roundBuckets</c>.</summary>
    private void SplitOne()
    {
        var from = _split;
        var to = _split + _roundBuckets;
        EnsureBucket(to);
        var wider = (ulong)((_roundBuckets << 1) - 1);
        var link = BucketAt(from);
        int stay = 0, move = 0;
        while (link != 0)
        {
            ref var entry = ref EntryAt(link - 1);
            var next = entry.Next;
            if ((long)(entry.Key.A & wider) == from)
            {
                entry.Next = stay;
                stay = link;
            }
            else
            {
                entry.Next = move;
                move = link;
            }
            link = next;
        }
        BucketAt(from) = stay;
        BucketAt(to) = move;
        if (++_split == _roundBuckets)
        {
            _roundBuckets <<= 1;
            _split = 0;
        }
    }

    private int TakeSlot()
    {
        if (_free != 0)
        {
            var slot = _free - 1;
            _free = EntryAt(slot).Next;
            return slot;
        }
        if (_slots == int.MaxValue)
        {
            throw new InvalidOperationException("The claim index is full");
        }
        var fresh = _slots++;
        var segment = fresh >> EntryShift;
        if (segment == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }
        _entries[segment] ??= new Entry[1 << EntryShift];
        return fresh;
    }

    private void EnsureBucket(long bucket)
    {
        var segment = (int)(bucket >> BucketShift);
        if (segment >= _buckets.Length)
        {
            Array.Resize(ref _buckets, Math.Max(_buckets.Length * 2, segment + 1));
        }
        _buckets[segment] ??= new int[1 << BucketShift];
    }

    private ref Entry EntryAt(int slot) => ref _entries[slot >> EntryShift][slot & EntryMask];

    private ref int BucketAt(long bucket)
    {
        var segment = (int)(bucket >> BucketShift);
        if (_buckets[segment] is null)
        {
            EnsureBucket(bucket);
        }
        return ref _buckets[segment][(int)(bucket & BucketMask)];
    }

    private struct Entry
    {
        public Sha256Key Key;
        public long Value;

        /// <summary>The next entry in the bucket's chain (or on the free list) + 1; 0 at the end.</summary>
        public int Next;
    }
}
