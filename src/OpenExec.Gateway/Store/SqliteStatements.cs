using Microsoft.Data.Sqlite;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;
using SQLitePCL;

namespace OpenExec.Gateway.Store;

/// <summary>
/// The writer thread's statements, each compiled once and kept, driven through SQLite's own C
/// API on the writer connection's handle: a write is a bind and a step, with no command, reader,
/// parameter or UTF-8 copy allocated per call (Microsoft.Data.Sqlite allocates all of those on
/// every execution, and they were the largest share of a request's allocations). Strings bind as
/// UTF-16 straight from the .NET string. Parameters are positional (<c>?1</c>, <c>?2</c>, ...).
/// Used only on the writer thread; transactions are the statements <c>BEGIN</c>/<c>COMMIT</c>.
/// </summary>
internal sealed class SqliteStatements(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, SqliteStatement> _statements = new(StringComparer.Ordinal);

    /// <summary>The statement for <paramref name="sql"/>, reset, its parameters still bound from its last use.</summary>
    public SqliteStatement For(string sql)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            statement = new SqliteStatement(connection.Handle!, sql);
            _statements[sql] = statement;
        }
        return statement;
    }

    /// <summary>Runs a statement that takes no parameters and returns no rows.</summary>
    public void Execute(string sql) => For(sql).Run();

    /// <summary>The rowid of the connection's last successful INSERT.</summary>
    public long LastInsertRowId => raw.sqlite3_last_insert_rowid(connection.Handle);

    /// <summary>Rows changed by the connection's last INSERT, UPDATE or DELETE.</summary>
    public int Changes => raw.sqlite3_changes(connection.Handle);

    public void Dispose()
    {
        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }
        _statements.Clear();
    }
}

/// <summary>One compiled statement (see <see cref="SqliteStatements"/>). Errors throw <see cref="SqliteException"/>.</summary>
internal sealed class SqliteStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _stmt;

    public SqliteStatement(sqlite3 db, string sql)
    {
        _db = db;
        // PERSISTENT: kept for the life of the connection, so SQLite allocates it accordingly.
        var rc = raw.sqlite3_prepare_v3(db, sql, raw.SQLITE_PREPARE_PERSISTENT, out _stmt);
        if (rc != raw.SQLITE_OK)
        {
            throw Error(rc);
        }
    }

    /// <summary>Binds text, or SQL NULL for null.</summary>
    public SqliteStatement Bind(int index, string? value)
    {
        var rc = value switch
        {
            null => raw.sqlite3_bind_null(_stmt, index),
            // An empty span would pass a null pointer, which SQLite binds as NULL.
            "" => raw.sqlite3_bind_text(_stmt, index, ""),
            _ => raw.sqlite3_bind_text16(_stmt, index, value.AsSpan()),
        };
        return Checked(rc);
    }

    public SqliteStatement Bind(int index, long value) => Checked(raw.sqlite3_bind_int64(_stmt, index, value));

    /// <summary>Binds a digest as the text of its 64 lowercase hex digits.</summary>
    public SqliteStatement BindHex(int index, in Sha256Digest digest)
    {
        Span<byte> hex = stackalloc byte[Sha256Digest.HexLength];
        digest.WriteHexUtf8(hex);
        return BindUtf8(index, hex);
    }

    /// <summary>Binds a digest as the text of its 64 lowercase hex digits, or SQL NULL for none.</summary>
    public SqliteStatement BindHex(int index, in Sha256Digest? digest)
        => digest is { } value ? BindHex(index, value) : Bind(index, (string?)null);

    /// <summary>Binds a trace id as the text of its 32 lowercase hex digits, or SQL NULL for none.</summary>
    public SqliteStatement BindHex(int index, W3CTraceId? trace)
    {
        if (trace is not { } id)
        {
            return Bind(index, (string?)null);
        }
        Span<byte> hex = stackalloc byte[W3CTraceId.HexLength];
        id.WriteHexUtf8(hex);
        return BindUtf8(index, hex);
    }

    /// <summary>Binds UTF-8 bytes as text (copied by SQLite before this returns).</summary>
    public SqliteStatement BindUtf8(int index, ReadOnlySpan<byte> utf8)
        => utf8.IsEmpty ? Bind(index, "") : Checked(raw.sqlite3_bind_text(_stmt, index, utf8));

    /// <summary>Runs the statement to its end, discarding any rows.</summary>
    public void Run()
    {
        try
        {
            int rc;
            while ((rc = raw.sqlite3_step(_stmt)) == raw.SQLITE_ROW)
            {
            }
            if (rc != raw.SQLITE_DONE)
            {
                throw Error(rc);
            }
        }
        finally
        {
            raw.sqlite3_reset(_stmt);
        }
    }

    /// <summary>Runs the statement and reads its rows; dispose the result to reset the statement.</summary>
    public Rows Query() => new(this);

    public void Dispose() => _stmt.Dispose();

    private SqliteStatement Checked(int rc) => rc == raw.SQLITE_OK ? this : throw Error(rc);

    private SqliteException Error(int rc)
        => new($"SQLite Error {rc}: '{raw.sqlite3_errmsg(_db).utf8_to_string()}'.", rc, raw.sqlite3_extended_errcode(_db));

    /// <summary>The rows of one run of a statement.</summary>
    public readonly struct Rows(SqliteStatement statement) : IDisposable
    {
        /// <summary>Steps to the next row; false at the end.</summary>
        public bool Read()
        {
            var rc = raw.sqlite3_step(statement._stmt);
            return rc switch
            {
                raw.SQLITE_ROW => true,
                raw.SQLITE_DONE => false,
                _ => throw statement.Error(rc),
            };
        }

        public long Int64(int column) => raw.sqlite3_column_int64(statement._stmt, column);

        public bool IsNull(int column) => raw.sqlite3_column_type(statement._stmt, column) == raw.SQLITE_NULL;

        public string? Text(int column) => IsNull(column) ? null : raw.sqlite3_column_text(statement._stmt, column).utf8_to_string();

        public void Dispose() => raw.sqlite3_reset(statement._stmt);
    }
}
