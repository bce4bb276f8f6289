namespace OpenExec.Core.Buffers;

/// <summary>
/// Each thread's writer for a canonical form that is hashed at once and never kept (an action
/// hash, a receipt hash): reused rather than allocated per hash. Rent and return on the same
/// thread, with no await between; a form larger than <see cref="KeepUpTo"/> gives its buffer
/// back to the pool instead of holding it.
/// </summary>
internal static class HashScratch
{
    public const int KeepUpTo = 64 * 1024;

    [ThreadStatic]
    private static PooledBufferWriter? t_writer;

    public static PooledBufferWriter Rent()
    {
        var writer = t_writer;
        if (writer is null)
        {
            return new PooledBufferWriter(1024);
        }
        // Taken while in use: a hash computed inside another's gets a writer of its own.
        t_writer = null;
        return writer;
    }

    public static void Return(PooledBufferWriter writer)
    {
        if (writer.Capacity is > 0 and <= KeepUpTo)
        {
            writer.Clear();
            t_writer = writer;
            return;
        }
        writer.Dispose();
    }
}
