using System.Collections.Concurrent;
using System.Net;
using System.Runtime.Versioning;
using System.Text.Json;
using NSec.Cryptography;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Tests.Infrastructure;
using Xunit.Abstractions;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>
/// Durability with the real gateway as a child process (SPEC sections 1, 3 "Nonces and claims"
/// and 6): SIGKILL under load and mid-execution, restart on the same data dir, and prove that
/// nothing answered is lost, no nonce re-opens, the receipt chain continues and still audits.
/// Also the start-up refusals and the data-dir lock as an operator sees them: exit code and stderr.
/// </summary>
public sealed class CrashRecoveryProcessTests : IDisposable
{
    /// <summary>Load tests measure the store, not the per-client rate limit (all clients are 127.0.0.1).</summary>
    private static readonly string[] LoadArgs = ["--OpenExec:RateLimit:PerClientPerSecond=0", "--Logging:LogLevel:Default=Warning"];

    private readonly string _root = TempDir.Create();
    private readonly ITestOutputHelper _output;

    public CrashRecoveryProcessTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => TempDir.Delete(_root);

    [Fact]
    public async Task Sigkill_under_load_loses_no_answered_receipt_reopens_no_nonce_and_the_chain_continues()
    {
        var dataDir = NewDataDir();
        var answered = new ConcurrentDictionary<string, (string Id, string Receipt)>(StringComparer.Ordinal);
        var sent = new ConcurrentBag<string>();
        string gatewayId;
        string keyId;
        Checkpoint witnessed;

        await using (var first = await GatewayProcess.StartAsync(dataDir, LoadArgs))
        {
            var health = await first.HealthAsync();
            gatewayId = health.Str("gateway");
            keyId = health.Str("receipt_key_id");

            using var stop = new CancellationTokenSource();
            var counter = 0;
            async Task SendUntilStopped()
            {
                while (!stop.IsCancellationRequested)
                {
                    var nonce = $"load-{Interlocked.Increment(ref counter)}";
                    sent.Add(nonce);
                    try
                    {
                        using var response = await first.ExecuteAsync("echo", new { n = nonce }, nonce);
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            var body = await Json.ReadAsync(response);
                            answered[nonce] = (body.Str("id"), body.Str("receipt"));
                        }
                    }
                    catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
                    {
                        // Cut off by the kill: no answer, so no promise was made.
                    }
                }
            }

            var senders = Enumerable.Range(0, 16).Select(_ => Task.Run(SendUntilStopped)).ToArray();
            await WaitUntilAsync(() => answered.Count >= 400, TimeSpan.FromSeconds(30), "400 answered requests before the kill");
            // What an outside witness keeps: a signed checkpoint taken under load, just before the crash.
            witnessed = Checkpoint.Parse(StrictJson.Parse(await first.Client.GetStringAsync("/receipts/head")));
            first.KillHard();
            Assert.False(senders.All(s => s.IsCompleted), "the kill must land while requests are still being sent");
            await stop.CancelAsync();
            await Task.WhenAll(senders);
            Assert.NotEqual(0, first.ExitCode);
        }

        await using (var second = await GatewayProcess.StartAsync(dataDir, LoadArgs))
        {
            var health = await second.HealthAsync();
            Assert.Equal(gatewayId, health.Str("gateway"));
            Assert.Equal(keyId, health.Str("receipt_key_id"));

            // Before any new traffic: the ledger as the dead process left it (plus recovered claims).
            var before = await ExportAsync(second);
            var last = before[^1];
            var byExec = before.ToDictionary(d => d.Body.ExecId, StringComparer.Ordinal);
            _output.WriteLine($"sent {sent.Count}, answered {answered.Count}, receipts {before.Count}, recovered as outcome_unknown {before.Count(d => d.Body.Decision == "outcome_unknown")}");
            foreach (var (nonce, (id, receipt)) in answered)
            {
                Assert.True(byExec.TryGetValue(id, out var doc), $"answered request {nonce} ({id}) has no receipt after the crash");
                Assert.Equal(receipt, doc!.Hash);
                Assert.Equal("executed", doc.Body.Decision);
            }
            var head = await Json.ReadAsync(await second.Client.GetAsync("/receipts/head"));
            Assert.Equal(last.Body.Seq, head.GetProperty("seq").GetInt64());
            Assert.Equal(last.Hash, head.Str("hash"));

            // The witnessed checkpoint is authentic and the chain still holds it: no tail was cut.
            var keys = await KeysAsync(second);
            Assert.True(witnessed.Verify(keys), "the checkpoint taken before the crash does not verify with the published keys");
            Assert.Equal(gatewayId, witnessed.Gateway);
            Assert.Equal(keyId, witnessed.Kid);
            Assert.InRange(witnessed.Seq, 1, last.Body.Seq);
            Assert.Equal(witnessed.Hash, before[(int)witnessed.Seq - 1].Hash);

            // The chain continues where it stopped.
            using (var next = await second.ExecuteAsync("echo", new { after = "restart" }, "after-restart-1"))
            {
                Assert.Equal(HttpStatusCode.OK, next.StatusCode);
                var nextBody = (await Json.ReadAsync(next)).GetProperty("receipt_document").GetProperty("body");
                Assert.Equal(last.Body.Seq + 1, nextBody.GetProperty("seq").GetInt64());
                Assert.Equal(last.Hash, nextBody.Str("prev"));
                Assert.Equal(gatewayId, nextBody.Str("gateway"));
            }

            // Every answered request still has its receipt, and its nonce never runs again.
            await ForEachConcurrentlyAsync(answered, 8, async entry =>
            {
                var (nonce, (id, receipt)) = entry;
                using var stored = await second.Client.GetAsync($"/receipts/{id}");
                Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
                Assert.Equal(receipt, (await Json.ReadAsync(stored)).Str("hash"));

                using var replay = await second.ExecuteAsync("echo", new { n = nonce }, nonce);
                Assert.Equal(HttpStatusCode.Conflict, replay.StatusCode);
                var problem = await Json.ReadAsync(replay);
                Assert.Equal("replay_denied", problem.Str("code"));
                var original = problem.GetProperty("original");
                Assert.Equal(id, original.Str("id"));
                Assert.Equal(receipt, original.Str("receipt"));
                Assert.Equal("executed", original.Str("decision"));
            });

            // Requests the kill cut off: each either never got a claim (free) or is settled
            // (executed, or outcome_unknown when its holder died); none is still in progress.
            var unanswered = sent.Where(n => !answered.ContainsKey(n)).ToList();
            await ForEachConcurrentlyAsync(unanswered, 8, async nonce =>
            {
                using var retry = await second.ExecuteAsync("echo", new { n = nonce }, nonce);
                if (retry.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
                var problem = await Json.ReadAsync(retry);
                Assert.True(retry.StatusCode == HttpStatusCode.Conflict, $"{nonce}: {(int)retry.StatusCode} {problem.GetRawText()}");
                Assert.Equal("replay_denied", problem.Str("code"));
                Assert.Contains(problem.GetProperty("original").Str("decision"), new[] { "executed", "outcome_unknown" });
            });

            var chain = await ExportAsync(second);
            var audit = ChainAudit.Audit(chain, await KeysAsync(second));
            Assert.True(audit.Ok, $"chain audit failed: {audit.Failure}");
            Assert.Equal(chain.Count, audit.Count);
            Assert.All(chain, d => Assert.Equal(gatewayId, d.Body.Gateway));
            Assert.All(chain, d => Assert.Equal(keyId, d.Kid));

            // A graceful stop and a third start: same identity, same key, the chain goes on.
            Assert.Equal(0, await second.StopAsync());
        }

        await using var third = await GatewayProcess.StartAsync(dataDir, LoadArgs);
        var thirdHealth = await third.HealthAsync();
        Assert.Equal(gatewayId, thirdHealth.Str("gateway"));
        Assert.Equal(keyId, thirdHealth.Str("receipt_key_id"));
        var tail = (await ExportAsync(third))[^1];
        using var afterStop = await third.ExecuteAsync("echo", new { after = "stop" }, "after-stop-1");
        Assert.Equal(HttpStatusCode.OK, afterStop.StatusCode);
        var afterStopBody = (await Json.ReadAsync(afterStop)).GetProperty("receipt_document").GetProperty("body");
        Assert.Equal(tail.Body.Seq + 1, afterStopBody.GetProperty("seq").GetInt64());
        Assert.Equal(tail.Hash, afterStopBody.Str("prev"));
        var fullChain = await ExportAsync(third);
        Assert.True(ChainAudit.Audit(fullChain, await KeysAsync(third)).Ok);
    }

    [Theory]
    [InlineData(FrontDoor.Execute)]
    [InlineData(FrontDoor.Proxy)]
    public async Task Sigkill_while_the_backend_runs_the_action_leaves_outcome_unknown_and_never_sends_it_again(FrontDoor frontDoor)
    {
        await using var backend = await SlowBackend.StartAsync(TimeSpan.FromSeconds(20));
        var config = WriteConfig(new
        {
            ReverseProxy = new
            {
                Routes = new Dictionary<string, object>
                {
                    ["slow"] = new
                    {
                        ClusterId = "slow",
                        Match = new { Path = "/slow/{**rest}" },
                        Metadata = new Dictionary<string, string> { ["OpenExec.Action"] = "slow_op", ["OpenExec.ExecutePath"] = "/run" },
                    },
                },
                Clusters = new Dictionary<string, object>
                {
                    ["slow"] = new { Destinations = new Dictionary<string, object> { ["d1"] = new { Address = backend.Address.ToString() } } },
                },
            },
        });
        var dataDir = NewDataDir();
        var args = new[] { "--config", config };
        var payload = new { to = "ops@example.com", amount = 42 };

        await using (var first = await GatewayProcess.StartAsync(dataDir, args))
        {
            var call = SendSlowAsync(first, frontDoor, payload, "n1");
            await backend.FirstCall.WaitAsync(TimeSpan.FromSeconds(15));
            first.KillHard();
            await Assert.ThrowsAnyAsync<Exception>(() => call);
        }
        Assert.Equal(1, backend.Calls);
        Assert.Equal("n1", backend.LastIdempotencyKey);
        Assert.Equal(frontDoor == FrontDoor.Execute ? "/run" : "/slow/send", backend.LastPath);

        await using var second = await GatewayProcess.StartAsync(dataDir, args);
        using var replay = await SendSlowAsync(second, frontDoor, payload, "n1");
        var problem = await Json.ReadAsync(replay);
        Assert.True(replay.StatusCode == HttpStatusCode.Conflict, problem.GetRawText());
        Assert.Equal("replay_denied", problem.Str("code"));
        var original = problem.GetProperty("original");
        Assert.Equal("outcome_unknown", original.Str("decision"));
        var originalId = original.Str("id");

        // The attempt the kill cut off has its receipt, under its own exec id.
        using var stored = await second.Client.GetAsync($"/receipts/{originalId}");
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
        var document = await Json.ReadAsync(stored);
        Assert.Equal(original.Str("receipt"), document.Str("hash"));
        var body = document.GetProperty("body");
        Assert.Equal("outcome_unknown", body.Str("decision"));
        Assert.Equal("slow_op", body.Str("action"));
        Assert.Equal(originalId, body.Str("exec_id"));
        // Its request's trace, as every receipt names it (SPEC section 7).
        Assert.Matches("^[0-9a-f]{32}$", body.Str("trace_id"));

        var chain = await ExportAsync(second);
        var unknown = Assert.Single(chain, d => d.Body.ExecId == originalId);
        Assert.Equal("outcome_unknown", unknown.Body.Decision);
        Assert.True(ChainAudit.Audit(chain, await KeysAsync(second)).Ok);

        // Asked again, and with another payload under the same nonce: still never sent.
        using (var again = await SendSlowAsync(second, frontDoor, payload, "n1"))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
            Assert.Equal(originalId, (await Json.ReadAsync(again)).GetProperty("original").Str("id"));
        }
        using (var other = await SendSlowAsync(second, frontDoor, new { to = "someone@else" }, "n1"))
        {
            Assert.Equal((HttpStatusCode)422, other.StatusCode);
            Assert.Equal("nonce_reused", (await Json.ReadAsync(other)).Str("code"));
        }
        await Task.Delay(200);
        Assert.Equal(1, backend.Calls);
    }

    /// <summary>The two ways an agent invokes a routed action (SPEC sections 3 and 5).</summary>
    public enum FrontDoor
    {
        Execute,
        Proxy,
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task The_signing_key_and_the_data_dir_are_owner_only()
    {
        const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        const UnixFileMode OwnerOnlyDir = OwnerReadWrite | UnixFileMode.UserExecute;

        // A data dir the gateway creates.
        var fresh = NewDataDir();
        await using (var gateway = await GatewayProcess.StartAsync(fresh))
        {
            Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(Path.Combine(fresh, "receipt-signing-key.pem")));
            Assert.Equal(OwnerOnlyDir, File.GetUnixFileMode(fresh));
        }

        // A data dir an operator created world-readable beforehand is tightened.
        var existing = NewDataDir();
        Directory.CreateDirectory(existing, OwnerOnlyDir | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        await using (var gateway = await GatewayProcess.StartAsync(existing))
        {
            Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(Path.Combine(existing, "receipt-signing-key.pem")));
            Assert.Equal(OwnerOnlyDir, File.GetUnixFileMode(existing));
        }
    }

    [Fact]
    public async Task A_start_writes_nothing_outside_the_data_dir_and_warns_of_no_unencrypted_key()
    {
        // YARP's data protection made a key ring at every start: a key file under
        // $HOME/.aspnet and "No XML encryptor configured ... persisted in unencrypted form".
        var home = NewDataDir();
        Directory.CreateDirectory(home);
        await using (var gateway = await GatewayProcess.StartAsync(NewDataDir(), environment: new Dictionary<string, string?> { ["HOME"] = home, ["DOTNET_CLI_HOME"] = home }))
        {
            Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/ready")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { }, "n-home")).StatusCode);
            await gateway.StopAsync();
            Assert.Empty(Directory.EnumerateFileSystemEntries(home, "*", SearchOption.AllDirectories));
            Assert.DoesNotContain("XmlKeyManager", gateway.StandardOutput + gateway.StandardError, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("OPENEXEC_MODE", "bogus", "OpenExec:Mode", "OPENEXEC_MODE")]
    [InlineData("OpenExec__Mode", "bogus", "OpenExec:Mode", "'bogus'")]
    public async Task An_unknown_mode_refuses_to_start_naming_the_setting(string variable, string value, string named, string alsoNamed)
    {
        var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), environment: new Dictionary<string, string?> { [variable] = value });
        await using (exit)
        {
            Assert.True(exit.ExitCode == 2, exit.Output);
            Assert.Contains(named, exit.StandardError, StringComparison.Ordinal);
            Assert.Contains(alsoNamed, exit.StandardError, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Otlp_headers_the_exporter_cannot_read_refuse_to_start_without_printing_them()
    {
        // The exporter threw as the host started: an unhandled ArgumentException, SIGABRT (134).
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), environment: new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4317",
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "api-key=s3cret-value,s3cret-tail",
        });
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("OTEL_EXPORTER_OTLP_HEADERS cannot be read by the OTLP exporter", exit.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", exit.StandardOutput + exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_otlp_timeout_of_zero_refuses_to_start_naming_it()
    {
        // HttpClient refused the exporter's zero timeout as the host started: an unhandled
        // ArgumentOutOfRangeException, SIGABRT (134).
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), environment: new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:1",
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "0",
        });
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("OTEL_EXPORTER_OTLP_TIMEOUT is '0'", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clawshield_mode_without_a_public_key_refuses_to_start_naming_it()
    {
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), environment: new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_TENANT_ID"] = "tenant-001",
        });
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("CLAWSHIELD_PUBLIC_KEY", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clawshield_mode_with_an_rsa_key_refuses_to_start_naming_it()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), environment: new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_TENANT_ID"] = "tenant-001",
            ["CLAWSHIELD_PUBLIC_KEY"] = rsa.ExportSubjectPublicKeyInfoPem(),
        });
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("CLAWSHIELD_PUBLIC_KEY", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clawshield_mode_without_a_tenant_refuses_to_start_naming_it()
    {
        using var governance = Core.Crypto.ReceiptSigningKey.Generate();
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), environment: new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_PUBLIC_KEY"] = governance.ExportPublicPem(),
        });
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("CLAWSHIELD_TENANT_ID", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_mode_on_a_network_address_refuses_to_start_naming_the_override()
    {
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), ["--urls", "http://0.0.0.0:0"]);
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("OpenExec:AllowDemoOnNetwork", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_route_without_action_metadata_refuses_to_start_naming_the_route()
    {
        var config = WriteConfig(new
        {
            ReverseProxy = new
            {
                Routes = new Dictionary<string, object> { ["bare_route"] = new { ClusterId = "c1", Match = new { Path = "/bare/{**rest}" } } },
                Clusters = new Dictionary<string, object> { ["c1"] = new { Destinations = new Dictionary<string, object> { ["d1"] = new { Address = "http://127.0.0.1:9/" } } } },
            },
        });
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), ["--config", config]);
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("bare_route", exit.StandardError, StringComparison.Ordinal);
        Assert.Contains("OpenExec.Action", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_route_naming_an_undefined_cluster_refuses_to_start_naming_both()
    {
        var config = WriteConfig(new
        {
            ReverseProxy = new
            {
                Routes = new Dictionary<string, object>
                {
                    ["orphan_route"] = new { ClusterId = "no_such_cluster", Match = new { Path = "/orphan/{**rest}" }, Metadata = new Dictionary<string, string> { ["OpenExec.Action"] = "orphan_op" } },
                },
                Clusters = new Dictionary<string, object>(),
            },
        });
        // Through OPENEXEC_CONFIG this time, the other way to name the file.
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), environment: new Dictionary<string, string?> { ["OPENEXEC_CONFIG"] = config });
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("orphan_route", exit.StandardError, StringComparison.Ordinal);
        Assert.Contains("no_such_cluster", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_start_up_problem_is_reported_at_once()
    {
        var config = WriteConfig(new
        {
            ReverseProxy = new
            {
                Routes = new Dictionary<string, object> { ["bare_route"] = new { ClusterId = "missing_cluster", Match = new { Path = "/bare/{**rest}" } } },
            },
        });
        await using var exit = await GatewayProcess.RunToExitAsync(NewDataDir(), ["--config", config], new Dictionary<string, string?> { ["OPENEXEC_MODE"] = "bogus" });
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("OPENEXEC_MODE", exit.StandardError, StringComparison.Ordinal);
        Assert.Contains("bare_route", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_process_on_the_same_data_dir_refuses_to_start_and_the_first_keeps_serving()
    {
        var dataDir = NewDataDir();
        await using (var first = await GatewayProcess.StartAsync(dataDir))
        {
            await using (var second = await GatewayProcess.RunToExitAsync(dataDir))
            {
                Assert.True(second.ExitCode == 2, second.Output);
                Assert.Contains("OpenExec:DataDir", second.StandardError, StringComparison.Ordinal);
                Assert.Contains("in use by another gateway process", second.StandardError, StringComparison.Ordinal);
            }

            using var stillServing = await first.ExecuteAsync("echo", new { msg = "still here" }, "lock-1");
            Assert.Equal(HttpStatusCode.OK, stillServing.StatusCode);
            var chain = await ExportAsync(first);
            Assert.Single(chain);
            Assert.True(ChainAudit.Audit(chain, await KeysAsync(first)).Ok);

            // A killed holder leaves no stale lock behind: the kernel releases it with the process.
            first.KillHard();
        }
        await using var next = await GatewayProcess.StartAsync(dataDir);
        using var replay = await next.ExecuteAsync("echo", new { msg = "still here" }, "lock-1");
        Assert.Equal(HttpStatusCode.Conflict, replay.StatusCode);
    }

    [Theory]
    [InlineData("")]
    [InlineData("gw-12")]
    [InlineData("gw-\u0000\u0000\u0000")]
    public async Task A_damaged_gateway_id_refuses_to_start_instead_of_forking_the_chain(string damaged)
    {
        // A power cut can leave a file empty or torn. Starting anyway would begin a second chain
        // under another name, and the receipts written so far would drop out of "this gateway's chain".
        var dataDir = NewDataDir();
        await using (var gateway = await GatewayProcess.StartAsync(dataDir))
        {
            using var executed = await gateway.ExecuteAsync("echo", new { msg = "before" }, "id-1");
            Assert.Equal(HttpStatusCode.OK, executed.StatusCode);
            Assert.Equal(0, await gateway.StopAsync());
        }
        var idFile = Path.Combine(dataDir, "gateway-id");
        var id = File.ReadAllText(idFile);
        File.WriteAllText(idFile, damaged.Replace("gw-12", id[..5], StringComparison.Ordinal));

        await using var exit = await GatewayProcess.RunToExitAsync(dataDir);
        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.Contains("gateway-id", exit.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_data_dir_whose_ledger_was_moved_aside_refuses_to_start_instead_of_forking_the_chain()
    {
        // The damaged-store advice once read as "move the database aside": with gateway-id kept,
        // the next start began the same chain again at seq 1, a second receipt at every seq.
        var dataDir = NewDataDir();
        string gatewayId;
        await using (var gateway = await GatewayProcess.StartAsync(dataDir))
        {
            gatewayId = (await gateway.HealthAsync()).Str("gateway");
            using var executed = await gateway.ExecuteAsync("echo", new { msg = "before" }, "ledger-1");
            Assert.Equal(HttpStatusCode.OK, executed.StatusCode);
            Assert.Equal(0, await gateway.StopAsync());
        }
        var aside = Path.Combine(_root, "aside");
        Directory.CreateDirectory(aside);
        foreach (var file in Directory.GetFiles(dataDir, "openexec.db*"))
        {
            File.Move(file, Path.Combine(aside, Path.GetFileName(file)));
        }

        await using (var exit = await GatewayProcess.RunToExitAsync(dataDir))
        {
            Assert.True(exit.ExitCode == 2, exit.Output);
            Assert.StartsWith("OpenExec Gateway refused to start: invalid configuration", exit.StandardError, StringComparison.Ordinal);
            Assert.Contains($"'{Path.Combine(dataDir, "openexec.db")}' is missing", exit.StandardError, StringComparison.Ordinal);
            Assert.Contains("Restore the data dir from its latest backup", exit.StandardError, StringComparison.Ordinal);
            Assert.Contains("move the whole data dir aside", exit.StandardError, StringComparison.Ordinal);
        }
        Assert.Empty(Directory.GetFiles(dataDir, "openexec.db*"));

        // Restored, the chain continues where it stopped; the used nonce stays used.
        foreach (var file in Directory.GetFiles(aside))
        {
            File.Move(file, Path.Combine(dataDir, Path.GetFileName(file)));
        }
        await using (var restored = await GatewayProcess.StartAsync(dataDir))
        {
            Assert.Equal(gatewayId, (await restored.HealthAsync()).Str("gateway"));
            var head = await Json.ReadAsync(await restored.Client.GetAsync("/receipts/head"));
            Assert.Equal(1, head.GetProperty("seq").GetInt64());
            using var next = await restored.ExecuteAsync("echo", new { msg = "after" }, "ledger-2");
            var body = (await Json.ReadAsync(next)).GetProperty("receipt_document").GetProperty("body");
            Assert.Equal(2, body.GetProperty("seq").GetInt64());
            Assert.Equal(head.Str("hash"), body.Str("prev"));
            using var replay = await restored.ExecuteAsync("echo", new { msg = "before" }, "ledger-1");
            Assert.Equal(HttpStatusCode.Conflict, replay.StatusCode);
            Assert.Equal(0, await restored.StopAsync());
        }

        // The whole data dir moved aside: a new chain under a new gateway id.
        Directory.Move(dataDir, Path.Combine(_root, "data-aside"));
        await using var fresh = await GatewayProcess.StartAsync(dataDir);
        Assert.NotEqual(gatewayId, (await fresh.HealthAsync()).Str("gateway"));
    }

    [Fact]
    public async Task Under_concurrent_load_one_signature_serves_a_batch_of_receipts()
    {
        const int Clients = 64;
        const int Requests = 2000;
        await using var gateway = await GatewayProcess.StartAsync(NewDataDir(), LoadArgs);

        var documents = new ConcurrentBag<JsonElement>();
        var next = 0;
        async Task Client()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) <= Requests)
            {
                using var response = await gateway.ExecuteAsync("echo", new { i }, $"batch-{i}");
                var body = await Json.ReadAsync(response);
                Assert.True(response.StatusCode == HttpStatusCode.OK, body.GetRawText());
                documents.Add(body.GetProperty("receipt_document"));
            }
        }
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => Task.Run(Client)));

        Assert.Equal(Requests, documents.Count);
        var sizes = documents.Select(d => d.GetProperty("batch").GetProperty("size").GetInt32()).ToList();
        _output.WriteLine($"batch sizes: max {sizes.Max()}, receipts in batches of more than one {sizes.Count(size => size > 1)} of {Requests}");
        Assert.Contains(sizes, size => size > 1);
        var signatures = documents.Select(d => d.Str("signature")).Distinct(StringComparer.Ordinal).Count();
        Assert.True(signatures < Requests, $"{signatures} signatures for {Requests} receipts: no batch was shared");

        var chain = await ExportAsync(gateway);
        Assert.Equal(Requests, chain.Count);
        var audit = ChainAudit.Audit(chain, await KeysAsync(gateway));
        Assert.True(audit.Ok, $"chain audit failed: {audit.Failure}");
        // Members of one batch share the signature and each proves its inclusion in that root.
        Assert.Contains(chain, d => d.Batch.Size > 1 && d.Batch.Path.Count > 0);
    }

    /// <summary><c>slow_op</c> through <c>/execute</c>, or as a proxied <c>POST /slow/send</c> with an <c>Idempotency-Key</c>.</summary>
    private static Task<HttpResponseMessage> SendSlowAsync(GatewayProcess gateway, FrontDoor frontDoor, object payload, string nonce)
    {
        if (frontDoor == FrontDoor.Execute)
        {
            return gateway.ExecuteAsync("slow_op", payload, nonce);
        }
        var request = new HttpRequestMessage(HttpMethod.Post, "/slow/send")
        {
            Content = new StringContent(JsonSerializer.Serialize(payload), System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", nonce);
        return gateway.Client.SendAsync(request);
    }

    private string NewDataDir() => Path.Combine(_root, "data-" + Guid.NewGuid().ToString("N")[..8]);

    private string WriteConfig(object config)
    {
        var path = Path.Combine(_root, $"config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }

    /// <summary>GET /receipts?limit=10000, every line read strictly, in chain order.</summary>
    private static async Task<List<ReceiptDocument>> ExportAsync(GatewayProcess gateway)
    {
        var ndjson = await gateway.Client.GetStringAsync("/receipts?limit=10000");
        return ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => ReceiptDocument.Parse(StrictJson.Parse(line))).ToList();
    }

    /// <summary>The published receipt keys, read as an outside auditor would: raw Ed25519 from base64url <c>x</c>.</summary>
    private static async Task<Func<string, PublicKey?>> KeysAsync(GatewayProcess gateway)
    {
        var keys = await Json.ReadAsync(await gateway.Client.GetAsync("/.well-known/openexec-keys"));
        var byKid = new Dictionary<string, PublicKey>(StringComparer.Ordinal);
        foreach (var key in keys.GetProperty("keys").EnumerateArray())
        {
            Assert.Equal("OKP", key.Str("kty"));
            Assert.Equal("Ed25519", key.Str("crv"));
            var raw = System.Buffers.Text.Base64Url.DecodeFromChars(key.Str("x"));
            byKid[key.Str("kid")] = PublicKey.Import(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey);
        }
        return kid => byKid.GetValueOrDefault(kid);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    private static Task ForEachConcurrentlyAsync<T>(IEnumerable<T> items, int parallelism, Func<T, Task> body)
        => Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (item, _) => await body(item));
}
