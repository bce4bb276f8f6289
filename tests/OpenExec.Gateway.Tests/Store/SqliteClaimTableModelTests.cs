using Microsoft.Data.Sqlite;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// The embedded store's claim table against a model of which nonces and approvals are used:
/// random claims, outcomes, releases and prunes, in transactions that commit or roll back, with
/// the table reopened from its rows now and then. The index in memory must answer as the rows do.
/// </summary>
public sealed class SqliteClaimTableModelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Answers_as_a_model_of_used_nonces_and_approvals_through_rollbacks_prunes_and_reopens(int seed)
    {
        var random = new Random(seed);
        var nonces = Enumerable.Range(0, 40).Select(_ => RandomHex(random)).ToArray();
        var approvals = Enumerable.Range(0, 12).Select(_ => RandomHex(random)).ToArray();
        var dir = TempDir.Create();
        var path = Path.Combine(dir, "claims.db");
        var conn = OpenConnection(path);
        var statements = new SqliteStatements(conn);
        var table = new SqliteClaimTable();
        table.Open(conn);
        try
        {
            // nonce → (approval, done, created): the claims kept, as committed.
            var model = new Dictionary<string, (string? Approval, bool Done, long Created)>();
            var now = 1_000L;
            for (var tx = 0; tx < 600; tx++)
            {
                if (random.Next(15) == 0)
                {
                    statements.Dispose();
                    conn.Dispose();
                    conn = OpenConnection(path);
                    statements = new SqliteStatements(conn);
                    table = new SqliteClaimTable();
                    table.Open(conn);
                    AssertSame(table, statements, model, nonces, approvals);
                }

                var working = new Dictionary<string, (string? Approval, bool Done, long Created)>(model);
                statements.Execute("BEGIN IMMEDIATE");
                var ops = 1 + random.Next(12);
                for (var op = 0; op < ops; op++)
                {
                    now += random.Next(3);
                    var nonce = nonces[random.Next(nonces.Length)];
                    var kind = random.Next(10);
                    if (kind < 5)
                    {
                        var approval = random.Next(3) == 0 ? null : approvals[random.Next(approvals.Length)];
                        var lookupOnly = random.Next(8) == 0;
                        var finished = random.Next(3) == 0;
                        var request = Request(nonce, approval, now, lookupOnly);
                        var result = table.Apply(statements, request, finished ? ("executed", new string('e', 64)) : null);
                        if (working.TryGetValue(nonce, out var held))
                        {
                            Assert.Equal(ClaimStatus.NonceTaken, result.Status);
                            Assert.Equal(held.Done ? NonceStatus.Done : NonceStatus.InProgress, result.Existing.Status);
                        }
                        else if (lookupOnly)
                        {
                            Assert.Equal(ClaimStatus.NotClaimed, result.Status);
                        }
                        else if (approval is not null && working.Values.Any(c => c.Approval == approval))
                        {
                            Assert.Equal(ClaimStatus.ApprovalReused, result.Status);
                        }
                        else
                        {
                            Assert.Equal(ClaimStatus.Claimed, result.Status);
                            working[nonce] = (approval, finished, now);
                        }
                    }
                    else if (kind < 8)
                    {
                        // The pipeline's update names the claim's own approval.
                        var release = random.Next(2) == 0;
                        var approval = working.TryGetValue(nonce, out var held) ? held.Approval : approvals[random.Next(approvals.Length)];
                        table.ApplyUpdate(statements, new ClaimUpdate(nonce, approval, release), Document(nonce));
                        if (working.ContainsKey(nonce))
                        {
                            if (release)
                            {
                                working.Remove(nonce);
                            }
                            else
                            {
                                working[nonce] = held with { Done = true };
                            }
                        }
                    }
                    else
                    {
                        var cutoff = now - random.Next(40);
                        var expected = working.Where(c => c.Value.Done && c.Value.Created < cutoff).Select(c => c.Key).ToList();
                        Assert.Equal(expected.Count, table.Prune(statements, cutoff));
                        foreach (var pruned in expected)
                        {
                            working.Remove(pruned);
                        }
                    }
                    Assert.Equal(working.Count, table.Count);
                }

                if (random.Next(3) == 0)
                {
                    statements.Execute("ROLLBACK");
                    table.RolledBack();
                }
                else
                {
                    statements.Execute("COMMIT");
                    table.Committed();
                    model = working;
                }
                AssertSame(table, statements, model, nonces, approvals);
            }
        }
        finally
        {
            statements.Dispose();
            conn.Dispose();
            SqliteConnection.ClearAllPools();
            TempDir.Delete(dir);
        }
    }

    /// <summary>Every nonce and approval answers as the model says, and the rows are the model's.</summary>
    private static void AssertSame(SqliteClaimTable table, SqliteStatements statements, Dictionary<string, (string? Approval, bool Done, long Created)> model, string[] nonces, string[] approvals)
    {
        Assert.Equal(model.Count, table.Count);
        using (var rows = statements.For("SELECT count(*) FROM claim_log").Query())
        {
            Assert.True(rows.Read());
            Assert.Equal(model.Count, rows.Int64(0));
        }

        // Probed in a transaction of its own that rolls back, so the probe changes nothing.
        statements.Execute("BEGIN IMMEDIATE");
        foreach (var nonce in nonces)
        {
            var result = table.Apply(statements, Request(nonce, null, 0, lookupOnly: true), null);
            if (model.TryGetValue(nonce, out var held))
            {
                Assert.Equal(ClaimStatus.NonceTaken, result.Status);
                Assert.Equal(held.Done ? NonceStatus.Done : NonceStatus.InProgress, result.Existing.Status);
            }
            else
            {
                Assert.Equal(ClaimStatus.NotClaimed, result.Status);
            }
        }
        var probe = new Random(nonces.Length);
        foreach (var approval in approvals)
        {
            var expected = model.Values.Any(c => c.Approval == approval) ? ClaimStatus.ApprovalReused : ClaimStatus.Claimed;
            Assert.Equal(expected, table.Apply(statements, Request(RandomHex(probe), approval, 0, lookupOnly: false), null).Status);
        }
        statements.Execute("ROLLBACK");
        table.RolledBack();
        Assert.Equal(model.Count, table.Count);
    }

    private static ClaimRequest Request(string nonce, string? approval, long nowMs, bool lookupOnly)
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(nowMs);
        return new ClaimRequest(nonce, new string('b', 64), approval, "exec-" + nonce[..8], "echo", "default", now, TimeSpan.FromMinutes(1), lookupOnly);
    }

    private static ReceiptDocument Document(string nonce)
        => new(new ReceiptBody
        {
            ExecId = "exec-" + nonce[..8],
            Gateway = "gw",
            Seq = 1,
            Prev = ReceiptBody.GenesisPrev,
            Tenant = "default",
            Action = "echo",
            Mode = "demo",
            NonceSha256 = nonce,
            RequestSha256 = new string('b', 64),
            Decision = "executed",
            StartedAt = ReceiptTime.Format(DateTimeOffset.UnixEpoch),
            FinishedAt = ReceiptTime.Format(DateTimeOffset.UnixEpoch),
        }, new string('d', 64), new ReceiptBatch(1, 0, []), "kid", "sig");

    private static SqliteConnection OpenConnection(string path)
    {
        var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        conn.Open();
        return conn;
    }

    private static string RandomHex(Random random)
    {
        var bytes = new byte[32];
        random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
