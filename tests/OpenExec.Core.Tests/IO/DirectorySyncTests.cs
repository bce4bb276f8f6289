using OpenExec.Core.IO;

namespace OpenExec.Core.Tests.IO;

public sealed class DirectorySyncTests
{
    [Fact]
    public void FlushesAnExistingDirectory()
    {
        var dir = Directory.CreateTempSubdirectory("openexec-dirsync-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "a"), "x");
            DirectorySync.Flush(dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ReportsADirectoryItCannotFlush()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var missing = Path.Combine(Path.GetTempPath(), "openexec-missing-" + Guid.NewGuid().ToString("N"));
        var file = Path.GetTempFileName();
        try
        {
            Assert.Contains("errno 2", Assert.Throws<IOException>(() => DirectorySync.Flush(missing)).Message);
            // A file is not a directory (ENOTDIR): the call really opened the path as a directory.
            Assert.Contains("errno 20", Assert.Throws<IOException>(() => DirectorySync.Flush(file)).Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
