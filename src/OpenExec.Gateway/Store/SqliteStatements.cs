using Microsoft.Data.Sqlite;

namespace OpenExec.Gateway.Store;

/// <summary>
/// The writer thread's commands, each prepared once and reused: SQLite keeps the compiled
/// statements in the command, so a write costs a bind and a step, not a parse. Used only on the
/// writer thread.
/// </summary>
internal sealed class SqliteStatements(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    /// <summary>The command for <paramref name="sql"/> in <paramref name="tx"/>, with no parameters bound yet.</summary>
    public SqliteCommand For(SqliteTransaction tx, string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }
        command.Transaction = tx;
        command.Parameters.Clear();
        return command;
    }

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }
        _commands.Clear();
    }
}
