namespace OpenExec.Core.IO;

/// <summary>
/// Writes a small file so that a reader never sees half of it and a power cut never loses it
/// once this returns: written beside its destination, flushed to disk, renamed into place, and
/// the rename flushed too (<see cref="DirectorySync"/>).
/// </summary>
public static class DurableFile
{
    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> (its directory must exist). An
    /// owner-only file's mode is set at creation, so it is never readable by others, not even
    /// briefly. Without <paramref name="overwrite"/>, an existing file stays and an
    /// <see cref="IOException"/> says so.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, bool ownerOnly, bool overwrite)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (ownerOnly && !OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite);
            DirectorySync.Flush(directory);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
