namespace OpenExec.Cli.Receipts;

/// <summary>One non-empty line of an NDJSON file: its 1-based line number and its exact bytes.</summary>
internal readonly record struct NdjsonLine(long Number, byte[] Bytes);

/// <summary>
/// Reads NDJSON as raw bytes, line by line: no decoding to text before the strict parser sees
/// it, so an invalid byte in an export is found, not silently replaced.
/// </summary>
internal static class NdjsonLines
{
    private const int ChunkSize = 1 << 16;

    public static IEnumerable<NdjsonLine> Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = new byte[ChunkSize];
        var pending = new MemoryStream();
        long number = 0;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            var start = 0;
            int newline;
            while ((newline = Array.IndexOf(buffer, (byte)'\n', start, read - start)) >= 0)
            {
                pending.Write(buffer, start, newline - start);
                number++;
                if (Take(pending) is { } line)
                {
                    yield return new NdjsonLine(number, line);
                }
                start = newline + 1;
            }
            pending.Write(buffer, start, read - start);
        }
        if (Take(pending) is { } last)
        {
            yield return new NdjsonLine(number + 1, last);
        }
    }

    /// <summary>Splits a whole NDJSON answer (a page of an export) into its lines.</summary>
    public static IEnumerable<NdjsonLine> Read(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        foreach (var line in Read(stream))
        {
            yield return line;
        }
    }

    private static byte[]? Take(MemoryStream pending)
    {
        var bytes = pending.ToArray();
        pending.SetLength(0);
        // A blank line (or a trailing "\r" alone) separates nothing: skip it.
        return bytes.AsSpan().Trim("\r \t"u8).IsEmpty ? null : bytes;
    }
}
