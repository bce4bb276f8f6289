using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Pipeline;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>Settings the gateway cannot use are refused at start-up, each naming its setting, never thrown.</summary>
public sealed class StartupRefusalTests : IDisposable
{
    private readonly List<string> _dirs = [];

    public void Dispose() => _dirs.ForEach(TempDir.Delete);

    private IReadOnlyList<string> Refused(string[] settings, IDictionary<string, string?>? environment = null)
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        environment ??= new Dictionary<string, string?>();
        // A data dir of the test's own, unless the test sets the seed's variable for it.
        string[] dataDirSetting = environment.ContainsKey("OPENEXEC_DATA_DIR") ? [] : [$"--OpenExec:DataDir={dataDir}"];
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", .. dataDirSetting, .. settings], out var problems, environment);
        Assert.Null(app);
        Assert.NotEmpty(problems);
        return problems;
    }

    [Theory]
    [InlineData("OpenExec:MaxConcurrentRequests", "abc")]
    [InlineData("OpenExec:AllowAnyTenant", "yes")]
    [InlineData("OpenExec:BackendTimeout", "30s")]
    [InlineData("OpenExec:Telemetry:Enabled", "yes")]
    // Read by the host, Kestrel and the OpenTelemetry exporter, which skipped them without a word.
    [InlineData("shutdownTimeoutSeconds", "abc")]
    [InlineData("shutdownTimeoutSeconds", "-5")]
    [InlineData("Kestrel:EndpointDefaults:Protocols", "Bogus")]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT", "foo")]
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "foo")]
    [InlineData("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "ftp://127.0.0.1:4318/v1/metrics")]
    public void A_setting_of_the_wrong_type_is_a_problem_naming_it(string setting, string value)
    {
        var problems = Refused([$"--{setting}={value}"]);
        Assert.Contains(problems, p => p.Contains(setting, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("OpenExec:AllowedAction", "echo")] // the allow-list misspelt: every action would run
    [InlineData("OpenExec:Mdoe", "clawshield")] // demo mode would run
    [InlineData("OpenExec:RateLimit:PerSecond", "5")]
    [InlineData("OpenExec:RateLimits:PerClientPerSecond", "5")]
    [InlineData("OpenExec:Telemetry:Enable", "true")]
    public void A_misspelt_setting_is_refused_naming_it(string setting, string value)
    {
        var problems = Refused([$"--{setting}={value}"]);
        var problem = Assert.Single(problems);
        Assert.StartsWith($"{setting.Split(':')[0]}:{setting.Split(':')[1]}", problem, StringComparison.Ordinal);
        Assert.Contains("is not a setting", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Settings_are_matched_whatever_their_case_and_keys_beginning_with_an_underscore_are_set_aside()
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--openexec:datadir={dataDir}", "--OPENEXEC:RATELIMIT:PERCLIENTPERSECOND=7", "--OpenExec:telemetry:enabled=false",
            "--OpenExec:_comment=JSON files have no comments", "--OpenExec:_AllowedActions=set aside"], out var problems, new Dictionary<string, string?>());
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
    }

    [Theory]
    [InlineData("OPENEXEC_MODE", "demo", "OpenExec__Mode", "clawshield")]
    [InlineData("OPENEXEC_DATA_DIR", "/data", "OPENEXEC__DATADIR", "/state")]
    [InlineData("OPENEXEC_REDIS", "127.0.0.1:6379", "ConnectionStrings__Redis", "127.0.0.1:6380")]
    [InlineData("OPENEXEC_DATA_DIR", "/data", "ASPNETCORE_OpenExec__DataDir", "/state")] // the host strips the prefix
    public void A_seed_variable_and_its_setting_set_to_different_values_are_refused(string seed, string seedValue, string setting, string settingValue)
    {
        // One of them is silently not in force: the mode an operator asked for, or the data dir
        // that holds the used nonces.
        var problems = Refused([], new Dictionary<string, string?> { [seed] = seedValue, [setting] = settingValue });
        var problem = Assert.Single(problems);
        Assert.StartsWith($"{seed} and {setting} are both set, to different values", problem, StringComparison.Ordinal);
        Assert.DoesNotContain(settingValue, problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_public_key_given_by_the_seed_variable_and_by_its_setting_starts_whatever_its_line_breaks()
    {
        // The key reader takes a written-out "\n" for a line break (a PEM in a one-line variable);
        // the comparison of the two settings did not, and refused one key as two.
        using var governance = new Governance();
        var oneLine = governance.PublicPem.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
        Assert.DoesNotContain('\n', oneLine);
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}"], out var problems, new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_TENANT_ID"] = "tenant-001",
            ["CLAWSHIELD_PUBLIC_KEY"] = oneLine,
            ["OpenExec__PublicKey"] = governance.PublicPem,
        });
        Assert.True(app is not null, string.Join("; ", problems));
        app.Services.GetRequiredService<GatewayIdentity>();
        await app.DisposeAsync();

        using var other = new Governance();
        var refused = Refused([], new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_TENANT_ID"] = "tenant-001",
            ["CLAWSHIELD_PUBLIC_KEY"] = oneLine,
            ["OpenExec__PublicKey"] = other.PublicPem,
        });
        Assert.Contains(refused, p => p.StartsWith("CLAWSHIELD_PUBLIC_KEY and OpenExec__PublicKey are both set, to different values", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("DOTNET_OpenExec__Mode", "clawshield", "OpenExec:Mode")]
    [InlineData("ASPNETCORE_OpenExec__Mode", "clawshield", "OpenExec:Mode")]
    [InlineData("ASPNETCORE_OpenExec__DataDir", "/srv/openexec-state", "OpenExec:DataDir")]
    public void A_host_prefixed_setting_that_appsettings_overrides_is_refused_naming_it(string variable, string value, string key)
    {
        // The host's prefixed variables rank below appsettings.json, whose "Mode": "demo" won:
        // clawshield was asked for and demo mode ran, without approvals and without a word.
        var problems = Refused([], new Dictionary<string, string?> { [variable] = value });

        var problem = Assert.Single(problems);
        Assert.StartsWith($"{variable} is not in force: {key} is set to another value", problem, StringComparison.Ordinal);
        Assert.DoesNotContain(value, problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_prefixed_setting_that_nothing_overrides_starts()
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}"], out var problems, new Dictionary<string, string?> { ["DOTNET_OpenExec__Mode"] = "DEMO" });
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
    }

    [Fact]
    public void A_seed_variable_and_the_command_lines_setting_with_different_values_are_refused()
    {
        // An image's entrypoint with --OpenExec:DataDir=/state would silently beat the
        // deployment's OPENEXEC_DATA_DIR=/data.
        var problems = Refused(["--OpenExec:DataDir=/state"], new Dictionary<string, string?> { ["OPENEXEC_DATA_DIR"] = "/data" });
        var problem = Assert.Single(problems);
        Assert.Equal("OPENEXEC_DATA_DIR and --OpenExec:DataDir on the command line are both set, to different values: set one of them (the command line would win)", problem);
    }

    [Theory]
    [InlineData("OPENEXEC_MODE", "")] // demo mode, without approvals, would run
    [InlineData("OPENEXEC_MODE", " ")]
    [InlineData("OPENEXEC_REDIS", "")] // each instance would keep its own nonces
    [InlineData("OPENEXEC_DATA_DIR", "")] // the nonces would be kept in the working directory
    [InlineData("CLAWSHIELD_PUBLIC_KEY", "")]
    [InlineData("CLAWSHIELD_TENANT_ID", "\r")]
    [InlineData("OPENEXEC_CONFIG", "")] // the defaults would run: demo mode, no routes
    public void A_seed_variable_set_but_empty_is_refused_rather_than_read_as_unset(string variable, string value)
    {
        var problems = Refused([], new Dictionary<string, string?> { [variable] = value });
        var problem = Assert.Single(problems);
        Assert.StartsWith($"{variable} is set but empty", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_seed_variable_set_but_empty_is_named_in_one_start()
    {
        var problems = Refused([], new Dictionary<string, string?> { ["OPENEXEC_MODE"] = "", ["OPENEXEC_REDIS"] = "", ["OPENEXEC_DATA_DIR"] = "/data", ["OpenExec__DataDir"] = "/state" });
        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("OPENEXEC_MODE is set but empty", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("OPENEXEC_REDIS is set but empty", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("OPENEXEC_DATA_DIR and OpenExec__DataDir are both set", StringComparison.Ordinal));
    }

    [Fact]
    public void A_seed_variable_and_the_configuration_files_setting_with_different_values_are_refused()
    {
        var dir = TempDir.Create();
        _dirs.Add(dir);
        var file = Path.Combine(dir, "settings.json");
        File.WriteAllText(file, """{"OpenExec": {"DataDir": "/state"}}""");
        var problems = Refused(["--config", file], new Dictionary<string, string?> { ["OPENEXEC_DATA_DIR"] = "/data" });
        Assert.Contains(problems, p => p.StartsWith($"OPENEXEC_DATA_DIR and OpenExec:DataDir in {file} are both set", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("OPENEXEC_DATA_DIR", "{dir}", "OpenExec__DataDir", "{dir}")]
    [InlineData("OPENEXEC_DATA_DIR", "{dir}", "OpenExec__DataDir", "{dir}/")]
    [InlineData("OPENEXEC_DATA_DIR", "{dir}", "OpenExec__DataDir", "")] // blanked, as compose and Kubernetes blank a variable
    [InlineData("OPENEXEC_MODE", "demo", "OpenExec__Mode", " Demo")]
    [InlineData("OPENEXEC_ALLOWED_ACTIONS", "echo,add", "OpenExec__AllowedActions", "add, echo")]
    public async Task A_seed_variable_and_its_setting_that_mean_the_same_start(string seed, string seedValue, string setting, string settingValue)
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var environment = new Dictionary<string, string?> { [seed] = seedValue.Replace("{dir}", dataDir, StringComparison.Ordinal), [setting] = settingValue.Replace("{dir}", dataDir, StringComparison.Ordinal) };
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}"], out var problems, environment);
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
    }

    [Fact]
    public void Every_setting_of_the_wrong_type_is_named_in_one_start()
    {
        // The binder stops at the first: an operator fixed one setting per start.
        var problems = Refused(["--OpenExec:MaxConcurrentRequests=abc", "--OpenExec:ClockSkew=zz", "--OpenExec:RateLimit:PerClientPerSecond=many"]);
        foreach (var setting in new[] { "OpenExec:MaxConcurrentRequests", "OpenExec:ClockSkew", "OpenExec:RateLimit:PerClientPerSecond" })
        {
            Assert.Contains(problems, p => p.Contains(setting, StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("\"\"")]
    [InlineData("\" \"")]
    public void An_allow_list_set_but_empty_is_refused_rather_than_allowing_every_action(string value)
    {
        var dir = TempDir.Create();
        _dirs.Add(dir);
        var file = Path.Combine(dir, "allow.json");
        File.WriteAllText(file, """{"OpenExec": {"AllowedActions": """ + value + "}}");
        var problems = Refused(["--config", file]);
        Assert.Contains(problems, p => p.Contains("OpenExec:AllowedActions is set but empty", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData(" , ")]
    [InlineData(",")]
    public void The_seed_allow_list_variable_set_but_empty_is_refused_too(string value)
    {
        // An unset shell variable (OPENEXEC_ALLOWED_ACTIONS=$ACTIONS) must not open every action;
        // named as it was set, as every other seed variable is (not as OpenExec:AllowedActions).
        var problems = Refused([], new Dictionary<string, string?> { ["OPENEXEC_ALLOWED_ACTIONS"] = value });
        var problem = Assert.Single(problems);
        Assert.Equal("OPENEXEC_ALLOWED_ACTIONS is set but empty, which would allow every action: name the actions (comma-separated), or unset it to allow all", problem);
    }

    [Theory]
    [InlineData("echo;add", "echo;add")]
    [InlineData("echo, send email", "send email")]
    public void An_allow_list_entry_that_is_no_action_name_is_refused_naming_the_seed_variable(string value, string named)
    {
        // It could never match: every action would be refused, with no word of why.
        var problems = Refused([], new Dictionary<string, string?> { ["OPENEXEC_ALLOWED_ACTIONS"] = value });
        var problem = Assert.Single(problems);
        Assert.StartsWith($"OPENEXEC_ALLOWED_ACTIONS names '{named}', which is not an action name", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--OpenExec:AllowedActions=echo;add", "OpenExec:AllowedActions names 'echo;add'")]
    [InlineData("--OpenExec:AllowedActions= , ", "OpenExec:AllowedActions is set but empty")]
    public void An_allow_list_setting_that_is_empty_or_no_action_name_is_refused_naming_the_setting(string setting, string problem)
    {
        var problems = Refused([setting]);
        Assert.Contains(problems, p => p.StartsWith(problem, StringComparison.Ordinal));
    }

    [Fact]
    public void A_configuration_file_that_is_missing_or_not_json_is_a_problem_naming_it()
    {
        var missing = Refused([], new Dictionary<string, string?> { ["OPENEXEC_CONFIG"] = "/nonexistent/openexec.json" });
        Assert.Contains(missing, p => p.Contains("OPENEXEC_CONFIG", StringComparison.Ordinal) && p.Contains("/nonexistent/openexec.json", StringComparison.Ordinal));

        var dir = TempDir.Create();
        _dirs.Add(dir);
        var broken = Path.Combine(dir, "broken.json");
        File.WriteAllText(broken, """{"OpenExec": {"Mode": "demo",""");
        var invalid = Refused(["--config", broken]);
        Assert.Contains(invalid, p => p.Contains("--config", StringComparison.Ordinal) && p.Contains(broken, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--config")]
    [InlineData("--config=")]
    [InlineData("--config| ")]
    public void A_config_flag_that_names_no_file_is_refused_rather_than_starting_on_the_defaults(string flags)
    {
        // "--config $CONFIG" with CONFIG unset: the clawshield file it meant would be skipped and
        // the gateway would start in demo mode.
        var problems = Refused(flags.Split('|'));
        Assert.Contains(problems, p => p.Contains("--config names no file", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--Config|FILE")]
    [InlineData("--CONFIG=FILE")]
    [InlineData("/config|FILE")]
    [InlineData("/Config=FILE")]
    public void The_config_flag_is_read_in_any_letter_case_and_with_a_slash_as_the_command_line_reads_keys(string flags)
    {
        // --Config FILE was a setting named Config that nothing read: the clawshield file it named
        // was skipped and the gateway started in demo mode. A file it cannot read shows it is read.
        var dir = TempDir.Create();
        _dirs.Add(dir);
        var broken = Path.Combine(dir, "clawshield.json");
        File.WriteAllText(broken, """{"OpenExec": {"Mode": "clawshield",""");
        var problems = Refused(flags.Replace("FILE", broken, StringComparison.Ordinal).Split('|'));
        Assert.Contains(problems, p => p.Contains(broken, StringComparison.Ordinal) && p.Contains("could not be read", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--OpenExec:TenantId|/config")]
    [InlineData("/OpenExec:TenantId|/config")]
    public async Task A_value_that_reads_like_the_config_flag_is_the_value_of_the_key_before_it(string args)
    {
        // "--OpenExec:DataDir /config" (a volume at /config) names a data dir, not a configuration file.
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", .. args.Split('|')], out var problems, new Dictionary<string, string?>());
        Assert.True(app is not null, string.Join("; ", problems));
        Assert.Equal(args.Split('|')[1], app.Configuration["OpenExec:TenantId"]);
        app.Services.GetRequiredService<GatewayIdentity>();
        await app.DisposeAsync();
    }

    [Fact]
    public void A_config_file_named_both_by_the_variable_and_by_the_flag_is_refused_unless_it_is_the_same_file()
    {
        // The variable's file was dropped without a word when the flag was given.
        var dir = TempDir.Create();
        _dirs.Add(dir);
        var fromEnv = Path.Combine(dir, "clawshield.json");
        var fromFlag = Path.Combine(dir, "tools.json");
        File.WriteAllText(fromEnv, """{"OpenExec": {"Mode": "clawshield"}}""");
        File.WriteAllText(fromFlag, """{"OpenExec": {"Mode": "demo"}}""");

        var problems = Refused(["--config", fromFlag], new Dictionary<string, string?> { ["OPENEXEC_CONFIG"] = fromEnv });
        Assert.Contains(problems, p => p.Contains("OPENEXEC_CONFIG", StringComparison.Ordinal) && p.Contains(fromEnv, StringComparison.Ordinal) && p.Contains(fromFlag, StringComparison.Ordinal));

        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        using var same = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--config", fromFlag], out var none, new Dictionary<string, string?> { ["OPENEXEC_CONFIG"] = fromFlag }) as IDisposable;
        Assert.NotNull(same);
        Assert.Empty(none);
    }

    [Theory]
    [InlineData("OTEL_TRACES_EXPORTER", "none")]
    [InlineData("OTEL_METRICS_EXPORTER", "console")]
    [InlineData("OTEL_LOGS_EXPORTER", "otlp,console")]
    public void A_signal_exporter_other_than_otlp_is_refused_rather_than_ignored(string variable, string value)
    {
        // The SDK does not read these: OTEL_TRACES_EXPORTER=none still exported every trace.
        var problems = Refused([$"--{variable}={value}", "--OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317"]);
        Assert.Contains(problems, p => p.StartsWith($"{variable} is '{value}', which the gateway does not support", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_signal_exporter_of_otlp_starts()
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--OTEL_TRACES_EXPORTER=otlp", "--OTEL_METRICS_EXPORTER= OTLP"], out var problems, new Dictionary<string, string?>());
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
    }

    [Fact]
    public void A_second_config_file_is_refused_rather_than_silently_ignored()
    {
        var dir = TempDir.Create();
        _dirs.Add(dir);
        var first = Path.Combine(dir, "first.json");
        var second = Path.Combine(dir, "second.json");
        File.WriteAllText(first, """{"OpenExec": {"Mode": "demo"}}""");
        File.WriteAllText(second, """{"OpenExec": {"Mode": "clawshield"}}""");
        var problems = Refused(["--config", first, "--config", second]);
        Assert.Contains(problems, p => p.Contains("--config is given more than once", StringComparison.Ordinal) && p.Contains(second, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_data_dir_last_run_with_redis_is_refused_without_redis_until_moved_back_on_purpose()
    {
        // A deployment that lost OPENEXEC_REDIS: the nonces this data dir used are in Redis, and
        // the embedded store would take them for free.
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        string[] args = ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}"];
        var none = new Dictionary<string, string?>();
        await StartedAndStoppedAsync(GatewayApp.Build([.. args, "--ConnectionStrings:Redis=127.0.0.1:1"], out _, none));

        Assert.Null(GatewayApp.Build(args, out var problems, none));
        Assert.Contains(problems, p => p.Contains("OPENEXEC_REDIS", StringComparison.Ordinal) && p.Contains(GatewayIdentity.RedisStoreMarker, StringComparison.Ordinal));

        // With Redis again it starts; and moved back on purpose (the marker deleted), so does the embedded store.
        await StartedAndStoppedAsync(GatewayApp.Build([.. args, "--ConnectionStrings:Redis=127.0.0.1:1"], out _, none));
        File.Delete(Path.Combine(dataDir, GatewayIdentity.RedisStoreMarker));
        await StartedAndStoppedAsync(GatewayApp.Build(args, out _, none));

        static async Task StartedAndStoppedAsync(WebApplication? app)
        {
            Assert.NotNull(app);
            // Resolved, so that the container releases the data dir's lock when disposed.
            app.Services.GetRequiredService<GatewayIdentity>();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public void A_data_dir_run_with_redis_before_the_marker_existed_is_refused_without_redis()
    {
        // Versions before the marker, run with Redis, made a ledger of receipts and no claim table
        // at all (their claims were in Redis alone); started without OPENEXEC_REDIS, the embedded
        // store took every nonce they had used for free.
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        using (GatewayIdentity.Open(dataDir, null))
        {
        }
        using (var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, GatewayIdentity.LedgerFile)};Pooling=False"))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE receipts(gateway TEXT NOT NULL, seq INTEGER NOT NULL, exec_id TEXT NOT NULL, hash TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY(gateway, seq));
                CREATE TABLE signing_keys(kid TEXT PRIMARY KEY, public_key TEXT NOT NULL);
                INSERT INTO receipts VALUES('gw', 1, 'ex', 'h', '{}');
                """;
            cmd.ExecuteNonQuery();
        }
        string[] args = ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}"];

        Assert.Null(GatewayApp.Build(args, out var problems, new Dictionary<string, string?>()));
        Assert.Contains(problems, p => p.Contains("run with the Redis store by an earlier version", StringComparison.Ordinal) && p.Contains("OPENEXEC_REDIS", StringComparison.Ordinal));
    }

    /// <summary>
    /// A data dir with one of its chain's two halves removed: the id without its ledger would sign
    /// the chain's seqs again under the same id (a fork) and run its used nonces again; the ledger
    /// without its id would start a second chain in it, and every receipt signed before would stop
    /// verifying (its key then listed under the new id). With Redis the ledger is in the data dir too.
    /// </summary>
    [Theory]
    [InlineData("", "openexec.db*")]
    [InlineData("--ConnectionStrings:Redis=127.0.0.1:1", "openexec.db*")]
    [InlineData("", "gateway-id")]
    [InlineData("--ConnectionStrings:Redis=127.0.0.1:1", "gateway-id")]
    public async Task A_data_dir_with_its_gateway_id_or_its_ledger_removed_is_refused(string redis, string removed)
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        string[] args = ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", .. redis.Length > 0 ? [redis] : Array.Empty<string>()];
        var none = new Dictionary<string, string?>();
        var first = GatewayApp.Build(args, out var problems, none);
        Assert.True(first is not null, string.Join("; ", problems));
        first.Services.GetRequiredService<GatewayIdentity>();
        await first.DisposeAsync();
        var (idPath, ledger) = (Path.Combine(dataDir, "gateway-id"), Path.Combine(dataDir, "openexec.db"));
        Assert.True(new FileInfo(ledger).Length > 0 || File.Exists(ledger + "-wal"));
        foreach (var file in Directory.GetFiles(dataDir, removed))
        {
            File.Delete(file);
        }

        Assert.Null(GatewayApp.Build(args, out problems, none));
        var problem = Assert.Single(problems);
        Assert.Contains(removed == "gateway-id"
            ? $"the data dir's ledger '{ledger}' was opened under a gateway id, but '{idPath}', which names its chain, is missing"
            : $"'{idPath}' names this data dir's receipt chain, but its ledger '{ledger}' is missing", problem, StringComparison.Ordinal);
        Assert.Equal(removed != "gateway-id", File.Exists(idPath));
    }

    [Fact]
    public async Task A_shared_directory_holding_others_files_is_refused_as_data_dir_and_left_as_it_was()
    {
        // Made owner-only, /tmp-like directories locked their other users out (and lost the sticky bit).
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var shared = TempDir.Create();
        _dirs.Add(shared);
        const UnixFileMode Sticky = (UnixFileMode)0b1_111_111_111;
        File.SetUnixFileMode(shared, Sticky);
        File.WriteAllText(Path.Combine(shared, "someone-elses.txt"), "x");
        var none = new Dictionary<string, string?>();

        Assert.Null(GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={shared}"], out var problems, none));
        Assert.Contains(problems, p => p.Contains($"OpenExec:DataDir '{shared}' is a shared directory", StringComparison.Ordinal) && p.Contains("someone-elses.txt", StringComparison.Ordinal));
        Assert.Equal(Sticky, File.GetUnixFileMode(shared));

        // A directory of its own inside it starts, owner-only; so does a shared one with nothing else in it.
        var own = Path.Combine(shared, "openexec");
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={own}"], out problems, none);
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(own));
        var empty = TempDir.Create();
        _dirs.Add(empty);
        File.SetUnixFileMode(empty, Sticky);
        app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={empty}"], out problems, none);
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(empty));
    }

    [Fact]
    public async Task A_receipt_key_path_that_is_a_directory_or_no_key_is_refused_naming_it_and_leaves_the_data_dir_free()
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var notAKey = Path.Combine(dataDir, "not-a-key.pem");
        File.WriteAllText(notAKey, "hello");
        var none = new Dictionary<string, string?>();
        foreach (var (path, said) in new[] { (dataDir, $"OpenExec:ReceiptKeyPath '{dataDir}' is a directory: name the key's PEM file"), (notAKey, $"OpenExec:ReceiptKeyPath '{notAKey}': The receipt-signing key is not") })
        {
            Assert.Null(GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", $"--OpenExec:ReceiptKeyPath={path}"], out var problems, none));
            Assert.Contains(problems, p => p.Contains(said, StringComparison.Ordinal));
        }

        // The refusals released the data dir's lock: the same process starts on it.
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}"], out var again, none);
        Assert.True(app is not null, string.Join("; ", again));
        await app.DisposeAsync();
    }

    [Fact]
    public async Task A_new_data_dir_whose_first_start_ended_before_its_store_opened_starts_again()
    {
        // A first start killed (or a power cut) between writing the gateway id and opening the
        // store: no ledger was removed, and the data dir must start.
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        using (GatewayIdentity.Open(dataDir, configuredKeyPath: null))
        {
        }
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}"], out var problems, new Dictionary<string, string?>());
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
    }

    [Fact]
    public void Audit_tokens_given_as_one_plain_value_are_refused_rather_than_ignored()
    {
        var problems = Refused(["--OpenExec:AuditTokens=s3cret"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:AuditTokens:0", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("abortConnect=false")]
    [InlineData("password=s3cret,ssl=false")]
    [InlineData(",")]
    public void A_redis_configuration_that_names_no_endpoint_is_refused_naming_the_setting(string configuration)
    {
        // It parses, but connecting threw "No endpoints specified" once start-up had begun: a crash
        // with a stack trace instead of a refusal naming the setting.
        var problems = Refused([], new Dictionary<string, string?> { ["OPENEXEC_REDIS"] = configuration });
        Assert.Contains(problems, p => p.Contains("ConnectionStrings:Redis (OPENEXEC_REDIS)", StringComparison.Ordinal) && p.Contains("endpoint", StringComparison.Ordinal));
    }

    [Theory]
    // A password with a comma: its rest was read as a host, resolved and logged on every retry.
    [InlineData("127.0.0.1:6379,password=abc,SECRETPART", 3)]
    [InlineData("127.0.0.1:6379,password=abc,SECRETPART:", 3)]
    // ... or with a comma and an '=': the parser's refusal quoted the rest as an option name.
    [InlineData("127.0.0.1:6379,password=abc,SECRETPART=x", 3)]
    [InlineData("SECRETPART,127.0.0.1:6379", 1)]
    [InlineData("127.0.0.1:6379,127.0.0.1:SECRETPART", 2)]
    public void A_redis_configuration_element_that_is_neither_an_option_nor_host_and_port_is_refused_by_position_never_quoted(string configuration, int element)
    {
        var problems = Refused([], new Dictionary<string, string?> { ["OPENEXEC_REDIS"] = configuration });
        var problem = Assert.Single(problems);
        Assert.StartsWith($"ConnectionStrings:Redis (OPENEXEC_REDIS): element {element} of the comma-separated string", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETPART", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("abc", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void An_empty_receipt_key_path_is_refused_rather_than_read_as_unset(string empty)
    {
        // OpenExec__ReceiptKeyPath=$KEY with KEY unset: a rotated gateway signed with its old key again.
        var problem = Assert.Single(Refused([$"--OpenExec:ReceiptKeyPath={empty}"]));
        Assert.StartsWith("OpenExec:ReceiptKeyPath is set but empty", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Route")]
    [InlineData("clusterz")]
    public void A_misspelt_reverse_proxy_section_is_refused_naming_it(string section)
    {
        // YARP reads Routes and Clusters only: the gateway started with no routes, and every
        // call of the tool API was a 404.
        var problem = Assert.Single(Refused([$"--ReverseProxy:{section}:r:ClusterId=c"]));
        Assert.StartsWith($"ReverseProxy:{section} is not a setting YARP reads", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_receipt_key_pasted_where_its_file_path_goes_is_refused_without_printing_it()
    {
        using var key = OpenExec.Core.Crypto.ReceiptSigningKey.Generate();
        var pem = key.ExportPrivatePem();
        var problems = Refused([$"--OpenExec:ReceiptKeyPath={pem}"]);
        var problem = Assert.Single(problems);
        Assert.StartsWith("OpenExec:ReceiptKeyPath holds a PEM key, not a file path", problem, StringComparison.Ordinal);
        Assert.DoesNotContain(pem.Split('\n')[1].Trim(), string.Join("\n", problems), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://svcuser:PASSWORD@127.0.0.1:5100/", "http://***@127.0.0.1:5100/")]
    [InlineData("http://127.0.0.1:5100/?api_key=PASSWORD", "http://127.0.0.1:5100/?***")]
    [InlineData("127.0.0.1:5100/x#PASSWORD", "127.0.0.1:5100/x#***")]
    public void A_backend_address_refused_for_its_credentials_is_named_without_them(string address, string shown)
    {
        var problems = Refused(
        [
            "--ReverseProxy:Routes:r:ClusterId=c",
            "--ReverseProxy:Routes:r:Match:Path=/tools/{**rest}",
            "--ReverseProxy:Routes:r:Metadata:OpenExec.Action=tool",
            $"--ReverseProxy:Clusters:c:Destinations:d:Address={address}",
        ]);
        Assert.Contains(problems, p => p.Contains($"Address '{shown}' must be", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.Contains("PASSWORD", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("OTEL_EXPORTER_OTLP_PROTOCOL", "http")]
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")]
    [InlineData("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC")]
    public void An_otlp_protocol_the_exporter_does_not_speak_is_refused_rather_than_nothing_exported(string setting, string value)
    {
        var problems = Refused([$"--OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", $"--{setting}={value}"]);
        Assert.Contains(problems, p => p.StartsWith($"{setting} is '{value}'; use grpc or http/protobuf", StringComparison.Ordinal));
        // The exporter trims the value (an env file's trailing space): so does the check.
        Assert.DoesNotContain(Refused([$"--OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", $"--{setting}=http/protobuf ", "--OpenExec:Mode=nonsense"]), p => p.Contains(setting, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("OTEL_EXPORTER_OTLP_TIMEOUT", "0")] // HttpClient refused it as the host started: exit 134
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0")]
    [InlineData("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "-5")] // skipped by the exporter without a word
    [InlineData("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "10s")]
    [InlineData("OTEL_EXPORTER_OTLP_TIMEOUT", "1.5")]
    [InlineData("OTEL_EXPORTER_OTLP_TIMEOUT", "+500")]
    [InlineData("OTEL_EXPORTER_OTLP_TIMEOUT", " 500")]
    [InlineData("OTEL_EXPORTER_OTLP_TIMEOUT", "2147483648")]
    public void An_otlp_timeout_the_exporter_cannot_use_is_refused_naming_it(string setting, string value)
    {
        var problems = Refused([$"--OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", $"--{setting}={value}"]);
        var problem = Assert.Single(problems);
        Assert.Equal($"{setting} is '{value}'; use a whole number of milliseconds from 1 to 2147483647 (e.g. 10000), digits only", problem);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("3000")]
    [InlineData("2147483647")]
    [InlineData("   ")] // read as unset
    public void An_otlp_timeout_the_exporter_reads_is_not_refused(string value)
    {
        foreach (var setting in new[] { "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT" })
        {
            Assert.DoesNotContain(Refused([$"--OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", $"--{setting}={value}", "--OpenExec:Mode=nonsense"]), p => p.Contains(setting, StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "api-key", "pair 1 has no '='")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "garbage", "pair 1 has no '='")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret,tail", "pair 2 has no '='")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret%2Ctail", "pair 2 has no '='")] // decoded before it is split
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret,,x=1", "pair 2 has no '='")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret,x=1, api-key =s3cret2", "pairs 1 and 3 name the same header")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "User-Agent=s3cret", "pair 1 sets User-Agent")]
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key", "pair 1 has no '='")]
    [InlineData("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "s3cret", "pair 1 has no '='")]
    [InlineData("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x=1,s3cret", "pair 2 has no '='")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "=s3cret", "pair 1 has no header name")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "api key=s3cret", "pair 1's name is no HTTP header name")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "x=1,api-key=s3cret%0D%0AX-Evil:1", "pair 2's value holds a line break")]
    [InlineData("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x(y)=s3cret", "pair 1's name is no HTTP header name")]
    // Taken at start, then every export failed without a word: HttpClient refuses NUL as the header
    // is added, and anything outside ASCII as the request is sent.
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "k=s3cret%00b", "pair 1's value holds a line break or NUL")]
    [InlineData("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x=1,k=s3cret%00", "pair 2's value holds a line break or NUL")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "k=caf%C3%A9s3cret", "pair 1's value holds a character outside ASCII")]
    [InlineData("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x=1,k=s3cret\u00e9", "pair 2's value holds a character outside ASCII")]
    [InlineData("OTEL_EXPORTER_OTLP_HEADERS", "k=s3cret%C2%A0x", "pair 1's value holds a character outside ASCII")] // a non-breaking space inside the value
    public void Otlp_headers_the_exporter_cannot_read_are_refused_without_printing_them(string setting, string value, string reason)
    {
        // The exporter threw as the host started: an unhandled ArgumentException, exit 134.
        var problems = Refused([$"--OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", $"--{setting}={value}"]);
        var problem = Assert.Single(problems);
        Assert.StartsWith($"{setting} cannot be read by the OTLP exporter: {reason}", problem, StringComparison.Ordinal);
        Assert.DoesNotContain(value, problem, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("api-key=s3cret")]
    [InlineData(" api-key = s3cret , tenant=t1 ")]
    [InlineData("Authorization=Bearer%20s3cret")]
    [InlineData("api-key=abc==")] // the first '=' splits; base64 padding stays in the value
    [InlineData("api-key=s3cret,")] // a trailing ',' ends the list
    [InlineData("user-agent=mine")] // only User-Agent spelt exactly so collides with the exporter's
    [InlineData("%zz=1")] // an escape that is none stays as it is
    [InlineData("   ")] // read as unset
    // Control characters HttpClient sends (a reviewer's collector got them), and what the exporter trims.
    [InlineData("k=a%09b")]
    [InlineData("k=a%7Fb")]
    [InlineData("k=a%01b")]
    [InlineData("k=s3cret%0A")]
    [InlineData("k=s3cret%C2%A0")]
    public void Otlp_headers_the_exporter_reads_are_not_refused(string value)
    {
        foreach (var setting in new[] { "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS" })
        {
            Assert.DoesNotContain(Refused([$"--OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", $"--{setting}={value}", "--OpenExec:Mode=nonsense"]), p => p.Contains(setting, StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("OpenExec:MaxApprovalLifetime", "24")] // meant as hours, read as 24 days
    [InlineData("OpenExec:NonceRetention", "30")]
    [InlineData("OpenExec:BackendTimeout", " 5 ")]
    [InlineData("OpenExec:ClockSkew", "5")]
    public void A_time_span_given_as_a_bare_number_is_refused_naming_the_unit_it_would_get(string setting, string value)
    {
        var problems = Refused([$"--{setting}={value}"]);
        var number = value.Trim();
        Assert.Contains(problems, p => p.StartsWith($"{setting} is '{number}', a bare number, which would be read as {number} days", StringComparison.Ordinal));

        // Written out, the same settings are not refused for their form; nor is zero, zero in any unit.
        Assert.DoesNotContain(Refused([$"--{setting}=01:00:00", "--OpenExec:Mode=nonsense"]), p => p.Contains("bare number", StringComparison.Ordinal));
        Assert.DoesNotContain(Refused([$"--{setting}=0", "--OpenExec:Mode=nonsense"]), p => p.Contains("bare number", StringComparison.Ordinal));
        Assert.DoesNotContain(Refused([$"--{setting}= ", "--OpenExec:Mode=nonsense"]), p => p.Contains("bare number", StringComparison.Ordinal));
    }

    [Fact]
    public void A_backend_timeout_of_zero_is_refused_saying_it_must_be_above_zero()
    {
        var problems = Refused(["--OpenExec:BackendTimeout=00:00:00"]);
        Assert.Contains("OpenExec:BackendTimeout must be above 00:00:00 and at most 01:00:00", problems);
    }

    [Fact]
    public void An_otlp_endpoint_refused_at_start_up_is_named_without_its_credentials()
    {
        var problems = Refused(["--OTEL_EXPORTER_OTLP_ENDPOINT=collector.example:4317?api_key=PASSWORD"]);
        Assert.Contains(problems, p => p.StartsWith("OTEL_EXPORTER_OTLP_ENDPOINT is 'collector.example:4317?***'", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.Contains("PASSWORD", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-1.00:00:00")]
    [InlineData("3000000.00:00:00")] // aborted the process on the store's first prune (a date before year 1)
    [InlineData("36501.00:00:00")]
    public void A_nonce_retention_of_zero_or_less_or_of_more_than_a_century_is_refused_in_demo_mode_too(string retention)
    {
        var problems = Refused([$"--OpenExec:NonceRetention={retention}"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:NonceRetention", StringComparison.Ordinal));
    }

    [Fact]
    public void A_route_run_by_execute_with_transforms_is_refused_by_name()
    {
        // /execute calls the cluster directly: a credential header set by a transform would reach
        // the backend on proxied calls only.
        var problems = Refused([
            "--ReverseProxy:Routes:mail:ClusterId=tools", "--ReverseProxy:Routes:mail:Match:Path=/v1/send",
            "--ReverseProxy:Routes:mail:Metadata:OpenExec.Action=send_email", "--ReverseProxy:Routes:mail:Metadata:OpenExec.ExecutePath=/v1/send",
            "--ReverseProxy:Routes:mail:Transforms:0:RequestHeader=Authorization", "--ReverseProxy:Routes:mail:Transforms:0:Set=Bearer tool-key",
            "--ReverseProxy:Clusters:tools:Destinations:d1:Address=http://127.0.0.1:9"]);
        Assert.Contains(problems, p => p.Contains("ReverseProxy:Routes:mail", StringComparison.Ordinal) && p.Contains("Transforms", StringComparison.Ordinal));
    }

    private static string[] RouteWith(string route, bool passThrough, string settings)
        => [
            $"--ReverseProxy:Routes:{route}:ClusterId=tools", $"--ReverseProxy:Routes:{route}:Match:Path=/v1/{route}",
            passThrough ? $"--ReverseProxy:Routes:{route}:Metadata:OpenExec.PassThrough=true" : $"--ReverseProxy:Routes:{route}:Metadata:OpenExec.Action={route}",
            "--ReverseProxy:Clusters:tools:Destinations:d1:Address=http://127.0.0.1:9",
            .. settings.Split('|', StringSplitOptions.RemoveEmptyEntries).Select(setting => $"--ReverseProxy:Routes:{route}:{setting}"),
        ];

    [Theory]
    // Middleware the gateway does not run: every call failed with a 500.
    [InlineData(false, "CorsPolicy=Default", "CorsPolicy is set")]
    [InlineData(false, "AuthorizationPolicy=Default", "AuthorizationPolicy is set")]
    [InlineData(false, "Timeout=00:00:02", "Timeout is set")]
    // The gateway's own limits, undone for one route or silently not applied.
    [InlineData(false, "RateLimiterPolicy=Disable", "RateLimiterPolicy is set")]
    [InlineData(true, "MaxRequestBodySize=10", "MaxRequestBodySize is set")]
    // Delivered twice: the body held back for 100-continue left the request re-sendable.
    [InlineData(false, "Transforms:0:RequestHeader=Expect|Transforms:0:Set=100-continue", "sets the request header 'Expect'")]
    [InlineData(false, "Transforms:0:RequestHeader=Transfer-Encoding|Transforms:0:Set=chunked", "sets the request header 'Transfer-Encoding'")]
    [InlineData(false, "Transforms:0:ClientCert=Expect", "sets the request header 'Expect'")]
    // Another request than the approved one.
    [InlineData(false, "Transforms:0:RequestHeader=X-HTTP-Method-Override|Transforms:0:Set=DELETE", "sets the request header 'X-HTTP-Method-Override'")]
    [InlineData(false, "Transforms:0:HttpMethodChange=POST|Transforms:0:Set=DELETE", "'HttpMethodChange' transform: an action route forwards the method and query the approval covers")]
    [InlineData(false, "Transforms:0:QueryValueParameter=amount|Transforms:0:Set=999", "'QueryValueParameter' transform: an action route")]
    // A whole answer read as one that broke off.
    [InlineData(false, "Transforms:0:ResponseHeader=Content-Length|Transforms:0:Set=5", "sets the response header 'Content-Length'")]
    // A pass-through read made a write, or sent to an action's path, unchecked.
    [InlineData(true, "Transforms:0:HttpMethodChange=GET|Transforms:0:Set=POST", "'HttpMethodChange' transform: a pass-through route forwards reads as the agent sent them")]
    [InlineData(true, "Transforms:0:PathPattern=/v1/send", "'PathPattern' transform: a pass-through route")]
    [InlineData(true, "Transforms:0:QueryRemoveParameter=dry_run", "'QueryRemoveParameter' transform: a pass-through route")]
    [InlineData(true, "Transforms:0:RequestHeader=X-HTTP-Method-Override|Transforms:0:Set=DELETE", "sets the request header 'X-HTTP-Method-Override'")]
    public void A_route_setting_the_gateway_cannot_honour_or_a_transform_that_changes_what_is_checked_is_refused_by_name(bool passThrough, string settings, string expected)
    {
        var problems = Refused(RouteWith("r", passThrough, settings));

        Assert.Contains(problems, p => p.Contains("ReverseProxy:Routes:r", StringComparison.Ordinal) && p.Contains(expected, StringComparison.Ordinal));
    }

    private static string[] PassThroughBeside(string passThroughMatch, string actionMatch)
        => [
            "--ReverseProxy:Clusters:tools:Destinations:d1:Address=http://127.0.0.1:9",
            "--ReverseProxy:Clusters:docs:Destinations:d1:Address=http://127.0.0.1:10",
            .. passThroughMatch.Contains("ClusterId=", StringComparison.Ordinal) ? Array.Empty<string>() : ["--ReverseProxy:Routes:reads:ClusterId=tools"],
            "--ReverseProxy:Routes:reads:Metadata:OpenExec.PassThrough=true",
            "--ReverseProxy:Routes:export:ClusterId=tools", "--ReverseProxy:Routes:export:Metadata:OpenExec.Action=export",
            .. passThroughMatch.Split('|', StringSplitOptions.RemoveEmptyEntries).Select(m => $"--ReverseProxy:Routes:reads:{m}"),
            .. actionMatch.Split('|', StringSplitOptions.RemoveEmptyEntries).Select(m => $"--ReverseProxy:Routes:export:{m}"),
        ];

    [Theory]
    // Ordered before the action route: it takes the action's GETs.
    [InlineData("Match:Path=/v1/{**rest}", "Match:Path=/v1/export|Order=1")]
    // As specific, and chosen by a header the agent sends.
    [InlineData("Match:Path=/v1/export|Match:Headers:0:Name=X-Read|Match:Headers:0:Values:0=1", "Match:Path=/v1/export")]
    // The action route needs a header the agent can leave out.
    [InlineData("Match:Path=/v1/{**rest}", "Match:Path=/v1/export|Match:Headers:0:Name=X-Mode|Match:Headers:0:Values:0=real")]
    [InlineData("Match:Path=/v1/{**rest}", "Match:Path=/v1/export|Match:Hosts:0=tools.example")]
    // Hosts never keep them apart: the agent sends the Host it likes.
    [InlineData("Match:Path=/{**rest}|Match:Hosts:0=docs.example", "Match:Path=/v1/export/{id}|Match:Hosts:0=tools.example")]
    // A parameter with a default may be left out, as an optional one may.
    [InlineData("Match:Path=/v1/export|Match:Methods:0=GET", "Match:Path=/v1/export/{id=all}|Match:Methods:0=GET")]
    // A backend runs its GET handler for a HEAD.
    [InlineData("Match:Path=/v1/export|Match:Methods:0=HEAD", "Match:Path=/v1/export|Match:Methods:0=GET")]
    public void A_pass_through_route_an_agent_could_choose_over_an_action_route_is_refused_by_name(string passThroughMatch, string actionMatch)
    {
        // A GET the operator made an action reached its backend unchecked when the agent added a
        // header (or left one out): routing picked the pass-through.
        var problems = Refused(PassThroughBeside(passThroughMatch, actionMatch));

        Assert.Contains(problems, p => p.Contains("ReverseProxy:Routes:reads (a pass-through) can take requests of action route 'export'", StringComparison.Ordinal));
    }

    [Fact]
    public void Two_action_routes_routing_cannot_choose_between_are_refused_by_name()
    {
        // Every request both matched failed with a 500 and no problem body (AmbiguousMatchException).
        var problems = Refused([
            "--ReverseProxy:Clusters:tools:Destinations:d1:Address=http://127.0.0.1:9",
            "--ReverseProxy:Routes:a:ClusterId=tools", "--ReverseProxy:Routes:a:Match:Path=/v1/send", "--ReverseProxy:Routes:a:Metadata:OpenExec.Action=send_a",
            "--ReverseProxy:Routes:b:ClusterId=tools", "--ReverseProxy:Routes:b:Match:Path=/v1/send/", "--ReverseProxy:Routes:b:Match:Methods:0=POST", "--ReverseProxy:Routes:b:Metadata:OpenExec.Action=send_b"]);

        Assert.Contains(problems, p => p.Contains("and ReverseProxy:Routes:", StringComparison.Ordinal) && p.Contains("match the same requests", StringComparison.Ordinal));
    }

    [Theory]
    // The literal path is more specific: the action route wins every request both match.
    [InlineData("Match:Path=/v1/{**rest}", "Match:Path=/v1/export")]
    // No method in common.
    [InlineData("Match:Path=/v1/{**rest}", "Match:Path=/v1/{**rest}|Match:Methods:0=POST|Order=1")]
    // No path in common.
    [InlineData("Match:Path=/v1/reports/{id}", "Match:Path=/v1/export/{id}")]
    // Another backend altogether: nothing of the action's can be reached through it.
    [InlineData("ClusterId=docs|Match:Path=/{**rest}", "Match:Path=/v1/export/{id}|Match:Hosts:0=tools.example")]
    public async Task A_pass_through_beside_an_action_route_that_always_wins_is_accepted(string passThroughMatch, string actionMatch)
        => await AssertStartsAsync(PassThroughBeside(passThroughMatch, actionMatch));

    /// <summary>The gateway builds with these settings (nothing refused), and is disposed.</summary>
    private async Task AssertStartsAsync(string[] settings)
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", .. settings], out var problems);
        try
        {
            Assert.True(app is not null, string.Join("\n", problems));
        }
        finally
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("Version=3")]
    [InlineData("Version=2|VersionPolicy=RequestVersionOrHigher")]
    public void A_cluster_asking_for_HTTP3_is_refused_by_name(string settings)
    {
        // HTTP/3 connections bypass the filter that stops HTTP/2's silent re-sends.
        var problems = Refused(RouteWith("r", passThrough: false, "").Concat(settings.Split('|').Select(s => $"--ReverseProxy:Clusters:tools:HttpRequest:{s}")).ToArray());

        Assert.Contains(problems, p => p.Contains("ReverseProxy:Clusters:tools:HttpRequest asks for HTTP/3", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true, "Transforms:0:RequestHeader=Authorization|Transforms:0:Set=Bearer read-key|Transforms:1:ResponseHeaderRemove=Server")]
    [InlineData(false, "Transforms:0:PathRemovePrefix=/v1|Transforms:1:RequestHeader=Authorization|Transforms:1:Set=Bearer tool-key")]
    public async Task Header_transforms_and_an_action_routes_path_transforms_are_accepted(bool passThrough, string settings)
        => await AssertStartsAsync(RouteWith("r", passThrough, settings));

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void An_empty_audit_token_is_refused_by_name(string token)
    {
        var problems = Refused(["--OpenExec:AuditTokens:0=good-token", $"--OpenExec:AuditTokens:1={token}"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:AuditTokens:1 is empty", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("good-token ")]
    [InlineData("good-token\r")]
    [InlineData(" good-token")]
    public void An_audit_token_with_surrounding_whitespace_is_refused_by_name(string token)
    {
        // The presented bearer token is read trimmed: this one could never match, and every
        // auditor holding it would get 401 with nothing saying why.
        var problems = Refused(["--OpenExec:AuditTokens:0=other-token", $"--OpenExec:AuditTokens:1={token}"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:AuditTokens:1 begins or ends with whitespace", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("67108865")]
    public void A_buffered_response_limit_outside_1_KiB_to_64_MiB_is_refused(string bytes)
    {
        var problems = Refused([$"--OpenExec:MaxBufferedResponse={bytes}"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:MaxBufferedResponse", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("1024")]
    [InlineData("67108864")]
    public async Task A_buffered_response_limit_at_either_end_of_its_range_is_accepted(string bytes)
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", $"--OpenExec:MaxBufferedResponse={bytes}"], out var problems, new Dictionary<string, string?>());
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
    }

    [Fact]
    public void A_damaged_pem_block_beside_a_good_key_is_refused()
    {
        using var governance = new Governance();
        using var other = new Governance();
        var good = governance.PublicPem;
        var damaged = other.PublicPem.Replace("MC", "M#", StringComparison.Ordinal);
        var problems = Refused([], governance.Environment(publicKeys: good + "\n" + damaged));
        Assert.Contains(problems, p => p.Contains("CLAWSHIELD_PUBLIC_KEY", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("tenant-001\r")]
    [InlineData(" tenant-001")]
    [InlineData("tenant-001 ")]
    public void A_tenant_with_surrounding_whitespace_is_refused_rather_than_refusing_every_approval(string tenant)
    {
        // From an env file saved with CRLF: compared exactly, no approval's tenant would match.
        using var governance = new Governance();
        var problems = Refused([], governance.Environment(tenant: tenant));
        Assert.Contains(problems, p => p.Contains("CLAWSHIELD_TENANT_ID", StringComparison.Ordinal) && p.Contains("whitespace", StringComparison.Ordinal));
    }

    /// <summary>
    /// Every sample users copy starts a gateway as the README says (the ClawShield samples with
    /// CLAWSHIELD_PUBLIC_KEY from the environment), and names only settings that exist: the
    /// binder ignores an unknown key, so a misspelt one would silently run the default.
    /// </summary>
    [Theory]
    [InlineData("appsettings.sample.json")]
    [InlineData("config/clawshield.json")]
    [InlineData("config/production-proxy.json")]
    [InlineData("config/sample-tools.json")]
    public async Task Each_sample_configuration_starts_a_gateway_and_names_only_real_settings(string sample)
    {
        var file = Path.Combine(RepositoryRoot(), sample);
        Assert.True(File.Exists(file), $"{sample} is missing");
        var written = new ConfigurationBuilder().AddJsonFile(file).Build();

        var unknown = written.GetSection(OpenExecOptions.Section).AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null && !SettingExists(typeof(OpenExecOptions), kv.Key.Split(':')) && kv.Key != "Telemetry:Enabled")
            .Select(kv => "OpenExec:" + kv.Key).ToList();
        Assert.True(unknown.Count == 0, $"{sample} names settings that do not exist: {string.Join(", ", unknown)}");
        var sections = written.GetChildren().Select(c => c.Key).Except(["OpenExec", "ReverseProxy", "Logging", "ConnectionStrings"]).ToList();
        Assert.True(sections.Count == 0, $"{sample} has unknown sections: {string.Join(", ", sections)}");

        using var governance = new Governance();
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--config", file], out var problems,
            new Dictionary<string, string?> { ["CLAWSHIELD_PUBLIC_KEY"] = governance.PublicPem });
        Assert.True(app is not null, $"{sample}: " + string.Join("; ", problems));
        try
        {
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var client = new HttpClient { BaseAddress = new Uri(address) };
            using var health = JsonDocument.Parse(await client.GetStringAsync("/health"));
            Assert.Equal(written["OpenExec:Mode"] ?? "demo", health.RootElement.GetProperty("exec_mode").GetString());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>
    /// The README's configuration table gives each setting's default: each one the code has must
    /// be the code's (an operator sizing a deployment reads the table, not the code). Settings
    /// without one (null, empty) must say so rather than show a value.
    /// </summary>
    [Fact]
    public void The_readme_gives_each_setting_the_default_of_the_code()
    {
        var readme = File.ReadAllLines(Path.Combine(RepositoryRoot(), "README.md"));
        var checkedRows = 0;
        foreach (var (name, value) in Settings(new OpenExecOptions(), "OpenExec:"))
        {
            var row = readme.SingleOrDefault(line => line.StartsWith($"| `{name}` |", StringComparison.Ordinal));
            Assert.True(row is not null, $"README's configuration table has no row for {name}");
            // A row of the configuration table gives the default in its third column; a setting in
            // a table of two columns (telemetry's) says "default `...`" in its text.
            var cells = row.Split('|');
            var shown = cells.Length >= 5 ? cells[3].Trim() : row[(row.IndexOf("default ", StringComparison.Ordinal) is var at and >= 0 ? at + "default ".Length : 0)..];
            var expected = value switch
            {
                null => null,
                string[] { Length: 0 } => null,
                bool b => b ? "true" : "false",
                TimeSpan t => t.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
                IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
            if (expected is null)
            {
                Assert.True(shown.StartsWith('—') || shown.StartsWith("none", StringComparison.Ordinal) || shown.StartsWith("unset", StringComparison.Ordinal) || shown.StartsWith("generated", StringComparison.Ordinal),
                    $"README shows {name}'s default as {shown}; the code has none");
            }
            else
            {
                Assert.True(shown.StartsWith($"`{expected}`", StringComparison.Ordinal), $"README shows {name}'s default as {shown}; the code's is {expected}");
            }
            checkedRows++;
        }
        Assert.True(checkedRows >= 15, $"only {checkedRows} settings read");

        static IEnumerable<(string Name, object? Value)> Settings(object options, string prefix)
        {
            foreach (var property in options.GetType().GetProperties().Where(p => p.CanWrite))
            {
                var value = property.GetValue(options);
                if (property.PropertyType.Namespace == typeof(OpenExecOptions).Namespace && property.PropertyType.IsClass)
                {
                    foreach (var nested in Settings(value!, $"{prefix}{property.Name}:"))
                    {
                        yield return nested;
                    }
                }
                else
                {
                    yield return ($"{prefix}{property.Name}", value);
                }
            }
        }
    }

    /// <summary>appsettings.sample.json says it shows every setting with its default: each must be the code's.</summary>
    [Fact]
    public void The_full_sample_shows_every_setting_with_the_default_of_the_code()
    {
        var file = Path.Combine(RepositoryRoot(), "appsettings.sample.json");
        var text = File.ReadAllText(file);
        var written = new ConfigurationBuilder().AddJsonFile(file).Build().GetSection(OpenExecOptions.Section);
        var bound = written.Get<OpenExecOptions>() ?? new OpenExecOptions();
        var defaults = new OpenExecOptions();
        foreach (var property in typeof(OpenExecOptions).GetProperties().Where(p => p.CanWrite))
        {
            Assert.True(text.Contains($"\"{property.Name}\":", StringComparison.Ordinal),
                $"appsettings.sample.json leaves out OpenExec:{property.Name}");
            Assert.True(JsonSerializer.Serialize(property.GetValue(defaults)) == JsonSerializer.Serialize(property.GetValue(bound)),
                $"appsettings.sample.json shows OpenExec:{property.Name} as {JsonSerializer.Serialize(property.GetValue(bound))}, the code's default is {JsonSerializer.Serialize(property.GetValue(defaults))}");
        }
        Assert.False(written.GetValue<bool>("Telemetry:Enabled"));
    }

    private static bool SettingExists(Type type, string[] path)
    {
        var property = type.GetProperty(path[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        if (property is null || !property.CanWrite)
        {
            return false;
        }
        if (path.Length == 1)
        {
            return true;
        }
        // AuditTokens:0, ...; RateLimit:PerClientPerSecond.
        return property.PropertyType.IsArray ? path.Length == 2 && int.TryParse(path[1], out _) : SettingExists(property.PropertyType, path[1..]);
    }

    private static string RepositoryRoot()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OpenExec.Gateway.sln")))
        {
            root = root.Parent;
        }
        Assert.NotNull(root);
        return root.FullName;
    }
}
