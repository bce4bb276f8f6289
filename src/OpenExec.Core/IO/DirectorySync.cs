using System.Runtime.InteropServices;

namespace OpenExec.Core.IO;

/// <summary>
/// Makes a rename durable. A file written, flushed to disk and renamed into place can still
/// vanish at a power cut until its directory entry reaches the disk: on Linux that takes an
/// fsync of the directory itself, which .NET has no API for. Elsewhere this does nothing
/// (Windows commits the rename with the file system's own journal).
/// </summary>
public static class DirectorySync
{
    private const int ReadOnly = 0;          // O_RDONLY
    private const int DirectoryOnly = 0x10000; // O_DIRECTORY (Linux)

    /// <summary>Flushes <paramref name="directory"/>'s entries to disk; throws <see cref="IOException"/> when that fails.</summary>
    public static void Flush(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        int fd;
        try
        {
            fd = Open(directory, ReadOnly | DirectoryOnly);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A C library without these entry points: nothing more this process can do.
            return;
        }
        if (fd < 0)
        {
            throw new IOException($"Could not open directory '{directory}' to flush it (errno {Marshal.GetLastPInvokeError()})");
        }
        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"Could not flush directory '{directory}' to disk (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
}
