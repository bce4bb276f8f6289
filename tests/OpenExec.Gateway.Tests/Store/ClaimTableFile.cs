using Microsoft.Data.Sqlite;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>A claim table opened, as the writer opens it, on a SQLite file of its own; the file goes with it.</summary>
internal sealed class ClaimTableFile : IDisposable
{
    private readonly string _dir = TempDir.Create();
    private readonly SqliteConnection _connection;

    public ClaimTableFile()
    {
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "claims.db"), Pooling = false }.ToString());
        _connection.Open();
        Table.Open(_connection);
        Statements = new SqliteStatements(_connection);
    }

    public SqliteClaimTable Table { get; } = new();

    public SqliteStatements Statements { get; }

    public void Dispose()
    {
        Statements.Dispose();
        _connection.Dispose();
        SqliteConnection.ClearAllPools();
        TempDir.Delete(_dir);
    }
}
