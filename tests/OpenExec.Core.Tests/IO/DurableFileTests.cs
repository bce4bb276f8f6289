using OpenExec.Core.IO;

namespace OpenExec.Core.Tests.IO;

public sealed class DurableFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "openexec-durable-tests-" + Guid.NewGuid().ToString("N"));

    private const int Rounds = 100;

    public DurableFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// Without overwrite, exactly one of two writers placing the file at the same moment creates it,
    /// and the other is told it exists: the receipt-signing key relies on it (the loser loads the
    /// winner's key). File.Move(overwrite: false) checks and then renames, so both could "win",
    /// the second replacing the first's file.
    /// </summary>
    [Fact]
    public void Without_overwrite_exactly_one_of_two_simultaneous_writers_creates_the_file()
    {
        using var bothReady = new Barrier(2);
        Action<string> hold = destination =>
        {
            if (destination.StartsWith(_dir, StringComparison.Ordinal))
            {
                bothReady.SignalAndWait(TimeSpan.FromSeconds(10));
            }
        };
        DurableFile.BeforePlacing += hold;
        try
        {
            for (var round = 0; round < Rounds; round++)
            {
                var path = Path.Combine(_dir, $"f{round}");
                var winners = new System.Collections.Concurrent.ConcurrentBag<byte>();
                var writers = Enumerable.Range(0, 2).Select(i => new Thread(() =>
                {
                    try
                    {
                        DurableFile.Write(path, [(byte)i], ownerOnly: true, overwrite: false);
                        winners.Add((byte)i);
                    }
                    catch (IOException)
                    {
                        // Lost the race: the file exists.
                    }
                })).ToList();
                writers.ForEach(t => t.Start());
                writers.ForEach(t => t.Join());

                var winner = Assert.Single(winners);
                Assert.Equal([winner], File.ReadAllBytes(path));
            }
        }
        finally
        {
            DurableFile.BeforePlacing -= hold;
        }
        // No temporary file left behind by the losers.
        Assert.Equal(Rounds, Directory.GetFiles(_dir).Length);
    }

    [Fact]
    public void Without_overwrite_an_existing_file_is_kept_and_the_writer_told()
    {
        var path = Path.Combine(_dir, "kept");
        File.WriteAllBytes(path, [1]);

        Assert.Throws<IOException>(() => DurableFile.Write(path, [2], ownerOnly: false, overwrite: false));

        Assert.Equal([1], File.ReadAllBytes(path));
    }
}
