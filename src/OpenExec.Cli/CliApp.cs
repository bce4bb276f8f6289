using System.CommandLine;
using System.CommandLine.Invocation;
using OpenExec.Cli.Commands;
using OpenExec.Cli.Infrastructure;
using OpenExec.Cli.Receipts;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli;

/// <summary>
/// The <c>openexec</c> command line. <see cref="RunAsync"/> is the whole program: Program.cs
/// passes the console, tests pass their own writers and clock.
/// </summary>
public static class CliApp
{
    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code (see <c>--help</c>).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        using var context = new CliContext(stdout, stderr, time ?? TimeProvider.System);
        var root = BuildRootCommand(context);
        // No response files: '@file' is how curl names a body file, and '--body @form.txt'
        // expanded as arguments would mint an approval for different bytes.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Action is ParseErrorAction)
        {
            // Usage errors get exit code 2 (the parser's default is 1, which here means "verification failed").
            foreach (var error in parsed.Errors)
            {
                await stderr.WriteLineAsync($"openexec: {error.Message}").ConfigureAwait(false);
            }
            await stderr.WriteLineAsync($"Run '{string.Join(' ', CommandPath(parsed))} --help' for usage.").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        var configuration = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            await stderr.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    internal static RootCommand BuildRootCommand(CliContext context)
    {
        var root = new RootCommand(
            "openexec: keys, approvals and receipts for the OpenExec Gateway.\n"
            + "Exit codes: 0 ok, 1 verification failed, 2 usage or bad input (a gateway's 401 for a missing or wrong --token counts as bad input), "
            + "3 network or a gateway's other refusal.");
        root.Subcommands.Add(KeygenCommand.Create(context));
        root.Subcommands.Add(ApproveCommand.Create(context));
        root.Subcommands.Add(HashCommand.Create(context));
        root.Subcommands.Add(ReceiptsCommand.Create(context));
        return root;
    }

    /// <summary>Runs <paramref name="action"/>, turning every error a user can cause into one stderr line and its exit code.</summary>
    internal static void SetGuardedAction(this Command command, CliContext context, Func<ParseResult, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            try
            {
                return await action(parseResult, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (Describe(e, cancellationToken) is { } failure)
            {
                await context.Err.WriteLineAsync($"{string.Join(' ', CommandPath(parseResult))}: {failure.Message}").ConfigureAwait(false);
                return failure.ExitCode;
            }
        });
    }

    private static (int ExitCode, string Message)? Describe(Exception e, CancellationToken cancellationToken) => e switch
    {
        CliException cli => (cli.ExitCode, cli.Message),
        OperationCanceledException when cancellationToken.IsCancellationRequested => (ExitCodes.Canceled, "interrupted."),
        StrictJsonException json => (ExitCodes.BadInput, $"invalid JSON ({json.Code}): {json.Message}"),
        KeyFormatException key => (ExitCodes.BadInput, key.Message),
        ApprovalFormatException approval => (ExitCodes.BadInput, approval.Message),
        ReceiptFormatException receipt => (ExitCodes.BadInput, receipt.Message),
        FileNotFoundException file => (ExitCodes.BadInput, $"file not found: {file.FileName ?? file.Message}"),
        DirectoryNotFoundException directory => (ExitCodes.BadInput, directory.Message),
        UnauthorizedAccessException access => (ExitCodes.BadInput, access.Message),
        IOException io => (ExitCodes.BadInput, io.Message),
        HttpRequestException http => (ExitCodes.Network, http.Message),
        // File APIs given an empty name (an unset shell variable) and the like.
        ArgumentException argument => (ExitCodes.BadInput, argument.Message),
        _ => null,
    };

    private static IEnumerable<string> CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Add(result.Command is RootCommand ? "openexec" : result.Command.Name);
        }
        names.Reverse();
        return names;
    }
}
