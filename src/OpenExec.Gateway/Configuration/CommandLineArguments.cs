namespace OpenExec.Gateway.Configuration;

/// <summary>
/// The command line, checked before ASP.NET Core's command-line configuration reads it (the host
/// and <see cref="GatewayConfiguration.AddOpenExecSources"/> both do). That reader takes a switch
/// without '=' and the argument after it as one setting, whatever the argument is, and skips what
/// it cannot read without a word: <c>--verbose --OpenExec:Mode=clawshield</c> set "verbose" and
/// ran demo mode, without approvals; <c>--help --urls URL</c> served on the default address.
/// </summary>
internal static class CommandLineArguments
{
    /// <summary>What <c>--help</c>, <c>-h</c> or <c>-?</c> prints; nothing is started.</summary>
    public const string Usage = """
        OpenExec Gateway: an execution boundary for AI agents (approvals, one-time nonces, signed receipts).

        Usage: dotnet OpenExec.Gateway.dll [--key=value | --key value]...

        Configuration is ordinary ASP.NET Core configuration; sources, lowest precedence first:
          appsettings.json beside the binary   demo mode, data dir ./data, http://127.0.0.1:5000
          environment variables                OpenExec__Mode=clawshield, OpenExec__DataDir=/data
          one JSON file                        OPENEXEC_CONFIG=FILE or --config FILE
          the seed's variables                 OPENEXEC_MODE, CLAWSHIELD_PUBLIC_KEY, CLAWSHIELD_TENANT_ID,
                                               OPENEXEC_ALLOWED_ACTIONS, OPENEXEC_DATA_DIR, OPENEXEC_REDIS
          the command line                     --OpenExec:Mode=clawshield --urls http://127.0.0.1:6000

        A value that begins with '-' is given after '=' (--key=-1). A setting given twice with
        different meanings (a seed variable and its OpenExec:* name) is refused.
        Every setting, its default and its range: README.md, section "Configuration".

        Exit status: 0 after a shutdown (or this help), 2 when start-up is refused (reasons on stderr).
        """;

    /// <summary>Whether the command line asks for the usage: <c>--help</c>, <c>-h</c> or <c>-?</c> anywhere.</summary>
    public static bool AsksForHelp(IEnumerable<string> args) => args.Any(a => a is "--help" or "-h" or "-?");

    /// <summary>
    /// Every argument the command-line configuration would misread or skip, each named (a value
    /// only by its key or position: it may be a secret). Empty when none.
    /// </summary>
    public static IReadOnlyList<string> Problems(IReadOnlyList<string> args)
    {
        var problems = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg.Length == 0)
            {
                continue; // an empty argument ("$UNSET") sets nothing and loses nothing
            }
            if (arg.StartsWith("--", StringComparison.Ordinal) || arg.StartsWith('/'))
            {
                if (!TakesNextAsValue(arg))
                {
                    continue;
                }
                if (i + 1 == args.Count)
                {
                    // The config flag alone is refused by the configuration file's own check, with its own words.
                    if (!GatewayConfiguration.IsConfigFlag(arg, out _))
                    {
                        problems.Add(arg.StartsWith('/')
                            // A path given alone ("/etc/openexec.json") reads as a switch, not a file.
                            ? $"argument {i + 1} begins with '/', which the command line reads as a switch (/key value), and has no value, so it would be skipped: to give a configuration file, use --config FILE (or OPENEXEC_CONFIG=FILE)"
                            : $"'{arg}' is the last argument and has no value, so it would be skipped: give {arg}=VALUE, or leave it out");
                    }
                    continue;
                }
                var next = args[i + 1];
                if (IsSwitch(next))
                {
                    problems.Add($"'{arg}' has no '=', so it would take the argument after it, {DescribeValue(next, i + 1)}, as its value and that argument's own setting would be lost: give {arg}=VALUE (a value that begins with '-' too), or leave {arg} out");
                }
                i++; // its value
            }
            else if (arg.StartsWith('-'))
            {
                problems.Add($"argument {i + 1} is a single-dash switch, which the gateway does not read: give settings as --key=value or --key value; --help shows how");
            }
            else if (arg.IndexOf('=', StringComparison.Ordinal) <= 0)
            {
                // key=value without a prefix is a setting to the command line; a word without '=' is not.
                problems.Add($"argument {i + 1} is neither a setting (--key=value, key=value) nor the value of a --key before it, so it would be skipped: give it as --key=value");
            }
        }
        return problems;
    }

    /// <summary>
    /// Whether <paramref name="arg"/> is a key without '=' (<c>--key</c>, <c>/key</c>), which the
    /// command line gives the argument after it as its value, whatever that argument is.
    /// </summary>
    internal static bool TakesNextAsValue(string arg)
        => (arg.StartsWith("--", StringComparison.Ordinal) || arg.StartsWith('/')) && !arg.Contains('=', StringComparison.Ordinal);

    /// <summary>
    /// Whether an argument in a value's place is itself a switch: it begins with '-' (a value
    /// that does is given after '='), or it is a <c>/key=value</c> setting. A value such as
    /// <c>/var/lib/openexec</c> is a path, not a switch.
    /// </summary>
    private static bool IsSwitch(string arg)
    {
        if (arg.StartsWith('-'))
        {
            return true;
        }
        if (!arg.StartsWith('/'))
        {
            return false;
        }
        var equals = arg.IndexOf('=', StringComparison.Ordinal);
        var slash = arg.IndexOf('/', 1);
        return equals > 1 && (slash < 0 || slash > equals);
    }

    /// <summary>
    /// An argument in a value's place, as a problem names it: a --key=value setting up to its '=',
    /// anything else only by its position. It may be the value meant: a token that begins with
    /// '--', or a base64 one that begins with '/' and ends in '=' padding (it reads as /key=value).
    /// </summary>
    private static string DescribeValue(string arg, int index)
        => arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is > 2 and var equals
            ? $"'{arg[..equals]}=…' (argument {index + 1})"
            : $"argument {index + 1}";
}
