namespace OpenExec.Gateway.Configuration;

/// <summary>Where the gateway's configuration comes from, including the seed's variable names.</summary>
internal static class GatewayConfiguration
{
    /// <summary>The seed's environment variables and the setting each one stands for.</summary>
    private static readonly (string Variable, string Key)[] Aliases =
    [
        ("OPENEXEC_MODE", "OpenExec:Mode"),
        ("CLAWSHIELD_PUBLIC_KEY", "OpenExec:PublicKey"),
        ("CLAWSHIELD_TENANT_ID", "OpenExec:TenantId"),
        ("OPENEXEC_ALLOWED_ACTIONS", "OpenExec:AllowedActions"),
        ("OPENEXEC_DATA_DIR", "OpenExec:DataDir"),
        ("OPENEXEC_REDIS", "ConnectionStrings:Redis"),
    ];

    /// <summary>
    /// Adds <c>OPENEXEC_CONFIG</c> / <c>--config FILE</c> and the aliases on top of ASP.NET Core's
    /// sources, then the command line again so that it keeps the last word.
    /// </summary>
    /// <returns>Every problem with the configuration file and the seed's variables; empty when none.</returns>
    public static IReadOnlyList<string> AddOpenExecSources(this ConfigurationManager configuration, string[] args, IDictionary<string, string?>? environment = null)
    {
        var problems = new List<string>();
        var env = environment ?? Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value, StringComparer.Ordinal);

        var (file, flagProblem, flagArgs) = FindConfigArgument(args);
        if (flagProblem is not null)
        {
            // A file named on the command line that cannot be read is refused; so is one not
            // named at all (a "--config $UNSET" that left "--config" last or empty: the defaults,
            // demo mode, would run) and a second one (it would be skipped without a word).
            return [flagProblem];
        }
        if (file is not null && env.TryGetValue("OPENEXEC_CONFIG", out var both) && !string.IsNullOrWhiteSpace(both)
            && !string.Equals(FullPath(both), FullPath(file), StringComparison.Ordinal))
        {
            // One file is read: the other one's settings would silently not be in force.
            return [$"OPENEXEC_CONFIG ('{both}') and --config ('{file}') name two configuration files: one JSON configuration file is read; give one of them (or merge them into one)"];
        }
        if (file is null && env.TryGetValue("OPENEXEC_CONFIG", out var f) && f is not null)
        {
            if (string.IsNullOrWhiteSpace(f))
            {
                // As "--config" with no file: an unset shell variable (OPENEXEC_CONFIG=$FILE)
                // would start on the defaults, demo mode and no routes.
                return ["OPENEXEC_CONFIG is set but empty: name one JSON configuration file, or unset it"];
            }
            file = f;
        }
        IConfiguration? fileValues = null;
        if (!string.IsNullOrWhiteSpace(file))
        {
            try
            {
                configuration.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
                fileValues = new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false).Build();
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException or UnauthorizedAccessException)
            {
                problems.Add($"OPENEXEC_CONFIG / --config: '{file}' could not be read as a JSON configuration file: {(ex.InnerException ?? ex).Message}");
            }
        }

        var commandLineArgs = args.Where((a, i) => !flagArgs.Contains(i)).ToArray();
        var commandLine = new ConfigurationBuilder().AddCommandLine(commandLineArgs).Build();
        var aliased = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (variable, key) in Aliases)
        {
            if (!env.TryGetValue(variable, out var value) || value is null)
            {
                continue;
            }
            if (key == "OpenExec:AllowedActions")
            {
                // Empty it would allow every action; an entry that is no action name never
                // matches. Named as the operator set it, as every seed variable is.
                var allowListProblems = OpenExecOptions.AllowListProblems(value, variable, "unset it").ToList();
                if (allowListProblems.Count > 0)
                {
                    problems.AddRange(allowListProblems);
                    continue;
                }
            }
            else if (string.IsNullOrWhiteSpace(value))
            {
                // Set but empty, as an unset shell or compose variable leaves it: read as unset it
                // would quietly run what the operator did not ask for (OPENEXEC_MODE= runs demo
                // mode without approvals; OPENEXEC_REDIS= gives each instance its own nonces;
                // OPENEXEC_DATA_DIR= keeps them in the working directory). Fail closed.
                problems.Add($"{variable} is set but empty: give it a value, or unset it");
                continue;
            }
            aliased[key] = value;
            if (Conflict(variable, key, value, env, fileValues, file, commandLine) is { } conflict)
            {
                problems.Add(conflict);
            }
        }
        if (aliased.Count > 0)
        {
            configuration.AddInMemoryCollection(aliased);
        }
        configuration.AddCommandLine(commandLineArgs);
        problems.AddRange(OverriddenHostVariables(configuration, env, aliased));
        return problems;
    }

    /// <summary>
    /// The host's <c>ASPNETCORE_</c>/<c>DOTNET_</c> variables rank below <c>appsettings.json</c>:
    /// <c>DOTNET_OpenExec__Mode=clawshield</c> lost to the shipped <c>"Mode": "demo"</c> and the
    /// gateway ran in demo mode without a word (as <c>DataDir</c> did). A gateway setting named so
    /// and not in force is refused, naming the variable (never its value).
    /// </summary>
    private static IEnumerable<string> OverriddenHostVariables(IConfiguration configuration, IDictionary<string, string?> env, Dictionary<string, string?> aliased)
    {
        foreach (var (name, value) in env)
        {
            var prefix = name.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) ? "ASPNETCORE_".Length
                : name.StartsWith("DOTNET_", StringComparison.OrdinalIgnoreCase) ? "DOTNET_".Length
                : 0;
            if (prefix == 0 || string.IsNullOrWhiteSpace(value))
            {
                continue;
            }
            var key = name[prefix..].Replace("__", ":", StringComparison.Ordinal);
            if (!(key.StartsWith("OpenExec:", StringComparison.OrdinalIgnoreCase) || key.StartsWith("ConnectionStrings:", StringComparison.OrdinalIgnoreCase))
                || aliased.ContainsKey(key))
            {
                // Not a gateway setting, or one a seed variable sets (its conflicts are named above).
                continue;
            }
            var effective = configuration[key];
            if (effective is not null && !SameSetting(key, value, effective))
            {
                yield return $"{name} is not in force: {key} is set to another value where it ranks higher (appsettings.json, an OpenExec__ variable, the configuration file or the command line); set {name[prefix..]} (without the prefix) instead";
            }
        }
    }

    /// <summary>
    /// A seed variable and another name of its setting (its environment variable, with or without
    /// the host's <c>ASPNETCORE_</c>/<c>DOTNET_</c> prefix, the configuration file's key, or the
    /// command line's) set to values that mean different things: one of them is silently not in
    /// force (the seed's wins, or the command line's over it),
    /// e.g. an image's <c>OPENEXEC_DATA_DIR=/data</c> under a deployment's
    /// <c>OpenExec__DataDir=/state</c>, whose store would then live in the container. Names only,
    /// never values (a connection string holds a password).
    /// </summary>
    private static string? Conflict(string variable, string key, string value, IDictionary<string, string?> env, IConfiguration? fileValues, string? file, IConfiguration commandLine)
    {
        static string Unprefixed(string name)
            => name.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) ? name["ASPNETCORE_".Length..]
                : name.StartsWith("DOTNET_", StringComparison.OrdinalIgnoreCase) ? name["DOTNET_".Length..]
                : name;
        var others = env
            .Where(e => string.Equals(Unprefixed(e.Key).Replace("__", ":", StringComparison.Ordinal), key, StringComparison.OrdinalIgnoreCase))
            .Select(e => (Name: e.Key, Value: e.Value, Winner: variable))
            .Append((Name: $"{key} in {file}", Value: fileValues?[key], Winner: variable))
            .Append((Name: $"--{key} on the command line", Value: commandLine[key], Winner: "the command line"));
        foreach (var (name, other, winner) in others)
        {
            if (!string.IsNullOrWhiteSpace(other) && !SameSetting(key, value, other))
            {
                return $"{variable} and {name} are both set, to different values: set one of them ({winner} would win)";
            }
        }
        return null;
    }

    /// <summary>Whether two values of a setting mean the same: as the gateway reads each setting.</summary>
    private static bool SameSetting(string key, string a, string b)
    {
        (a, b) = (a.Trim(), b.Trim());
        return key switch
        {
            "OpenExec:Mode" => string.Equals(a, b, StringComparison.OrdinalIgnoreCase),
            "OpenExec:DataDir" => string.Equals(FullPath(a), FullPath(b), StringComparison.Ordinal),
            "OpenExec:AllowedActions" => OpenExecOptions.Entries(a).ToHashSet(StringComparer.Ordinal).SetEquals(OpenExecOptions.Entries(b)),
            // PEM: the same blocks, whatever the line breaks (written out, or as the "\n" the key
            // reader takes for one).
            "OpenExec:PublicKey" => string.Equals(PemText(a), PemText(b), StringComparison.Ordinal),
            _ => string.Equals(a, b, StringComparison.Ordinal),
        };
    }

    private static string PemText(string pem)
        => string.Concat(OpenExec.Core.Crypto.Ed25519PublicKeys.WithLineBreaks(pem).Where(c => !char.IsWhiteSpace(c)));

    private static string FullPath(string path)
    {
        try
        {
            return Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        }
        catch (ArgumentException)
        {
            return path; // refused later, as a data dir that cannot be opened
        }
    }

    /// <summary>
    /// The file <c>--config FILE</c> (or <c>--config=FILE</c>) names, or the problem with the flag,
    /// and the positions of the arguments that make it up. The flag is read as ASP.NET Core's
    /// command line reads a key: in any letter case and with <c>--</c> or <c>/</c>; otherwise
    /// <c>--Config FILE</c> or <c>/config FILE</c> became a setting named Config that nothing reads,
    /// and the gateway started on the defaults (demo mode). An argument that is a value (the one
    /// after a key without '=', as in <c>--OpenExec:DataDir /config</c>) is never the flag.
    /// </summary>
    private static (string? File, string? Problem, HashSet<int> Positions) FindConfigArgument(string[] args)
    {
        string? file = null;
        var positions = new HashSet<int>();
        for (var i = 0; i < args.Length; i++)
        {
            if (!IsConfigFlag(args[i], out var named))
            {
                if (CommandLineArguments.TakesNextAsValue(args[i]))
                {
                    i++; // its value
                }
                continue;
            }
            positions.Add(i);
            if (named is null && i + 1 < args.Length)
            {
                positions.Add(++i);
                named = args[i];
            }
            if (string.IsNullOrWhiteSpace(named))
            {
                return (null, "--config names no file: give --config FILE (one JSON configuration file), or leave the flag out", positions);
            }
            if (file is not null)
            {
                return (null, $"--config is given more than once ('{file}', '{named}'): one JSON configuration file is read; merge them into one", positions);
            }
            file = named;
        }
        return (file, null, positions);
    }

    /// <summary>Whether <paramref name="arg"/> is the config flag; <paramref name="inline"/> is its <c>=FILE</c> part, if any.</summary>
    internal static bool IsConfigFlag(string arg, out string? inline)
    {
        inline = null;
        var name = arg.StartsWith("--", StringComparison.Ordinal) ? arg.AsSpan(2) : arg.StartsWith('/') ? arg.AsSpan(1) : [];
        var equals = name.IndexOf('=');
        if (!(equals < 0 ? name : name[..equals]).Equals("config", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        if (equals >= 0)
        {
            inline = name[(equals + 1)..].ToString();
        }
        return true;
    }
}
