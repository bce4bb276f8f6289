namespace OpenExec.Cli.Infrastructure;

/// <summary>
/// Output files are written beside their destination and moved into place (then the directory
/// is synced), so a reader never sees half a file and a crash never leaves one.
/// </summary>
internal static class AtomicFile
{
    /// <summary>The directory <paramref name="path"/> goes into; it must exist.</summary>
    public static string DirectoryOf(string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw CliException.BadInput("An output file name is empty.");
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return Directory.Exists(directory)
            ? directory
            : throw CliException.BadInput($"The directory {directory} does not exist: create it first.");
    }

    /// <summary>A fresh temporary name beside <paramref name="path"/>.</summary>
    public static string TempBeside(string path)
        => Path.Combine(DirectoryOf(path), $".{Path.GetFileName(Path.GetFullPath(path))}.{Guid.NewGuid():N}.tmp");

    /// <summary>Moves a finished temporary file into place and syncs the directory.</summary>
    public static void MoveIntoPlace(string temp, string path, bool overwrite)
    {
        File.Move(temp, Path.GetFullPath(path), overwrite);
        Core.IO.DirectorySync.Flush(DirectoryOf(path));
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> atomically. An owner-only
    /// file's mode is set at creation, never readable by others even briefly.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, bool ownerOnly, bool overwrite)
    {
        DirectoryOf(path);
        try
        {
            Core.IO.DurableFile.Write(path, bytes, ownerOnly, overwrite);
        }
        catch (IOException e) when (!overwrite && File.Exists(path))
        {
            throw CliException.BadInput($"{path} already exists; not overwritten. Pass --force to replace it.", e);
        }
    }
}
