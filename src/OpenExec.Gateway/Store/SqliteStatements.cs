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

    /// <summary>
    /// The command for <paramref name="sql"/> in <paramref name="tx"/>. Its parameters keep the
    /// previous values: set every one with <see cref="Bind"/>, which reuses the parameter objects.
    /// </summary>
    public SqliteCommand For(SqliteTransaction tx, string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }
        command.Transaction = tx;
        return command;
    }

    /// <summary>Sets a parameter of a command from <see cref="For"/> (null binds SQL NULL).</summary>
    public static void Bind(SqliteCommand command, string name, object? value)
    {
        var parameters = command.Parameters;
        var index = parameters.IndexOf(name);
        if (index >= 0)
        {
            parameters[index].Value = value ?? DBNull.Value;
        }
        else
        {
            parameters.AddWithValue(name, value ?? DBNull.Value);
        }
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
