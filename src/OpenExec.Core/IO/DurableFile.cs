using System.Runtime.InteropServices;

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
            BeforePlacing?.Invoke(full);
            if (overwrite)
            {
                File.Move(temp, full, overwrite: true);
            }
            else
            {
                PlaceNew(temp, full);
            }
            DirectorySync.Flush(directory);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Test seam: called with the destination once the file is written, before it is placed.</summary>
    internal static Action<string>? BeforePlacing;

    /// <summary>
    /// Places <paramref name="temp"/> at <paramref name="full"/> only if nothing is there, in one
    /// step. File.Move without overwrite checks for the destination and then renames (which
    /// replaces), so two writers could both succeed, the second replacing the first's file. A
    /// hard link is created only where no entry exists, atomically; where the file system has no
    /// hard links, File.Move is the fallback.
    /// </summary>
    private static void PlaceNew(string temp, string full)
    {
        if (!OperatingSystem.IsWindows())
        {
            int result;
            try
            {
                result = Link(temp, full);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                result = -1;
            }
            if (result == 0)
            {
                return; // The temporary name is removed by the caller.
            }
            if (Marshal.GetLastPInvokeError() == AlreadyExists)
            {
                throw new IOException($"The file '{full}' already exists.");
            }
        }
        // Windows' MoveFileEx without REPLACE_EXISTING fails when the destination exists.
        File.Move(temp, full, overwrite: false);
    }

    private const int AlreadyExists = 17; // EEXIST, on Linux and macOS alike

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string created);
}
