using System.CommandLine;
using OpenExec.Cli.Infrastructure;

namespace OpenExec.Cli.Commands;

/// <summary><c>openexec hash</c>: the action hash an approval for a request must name (SPEC section 4).</summary>
internal static class HashCommand
{
    public static Command Create(CliContext context)
    {
        var canonical = new Option<bool>("--canonical") { Description = "Also print the ClawShield canonical JSON the hash is taken over (second line)." };
        var request = new ActionRequestOptions();
        var command = new Command(
            "hash",
            "Print the action hash of an /execute call (--payload) or a proxied call (--http): lowercase hex SHA-256 of canonical {\"action\",\"payload\"}.");
        request.AddTo(command);
        command.Options.Add(canonical);
        command.SetGuardedAction(context, async (parseResult, cancellationToken) =>
        {
            var resolved = await request.ResolveAsync(parseResult, cancellationToken).ConfigureAwait(false);
            await context.Out.WriteLineAsync(resolved.Hash).ConfigureAwait(false);
            if (parseResult.GetValue(canonical))
            {
                await context.Out.WriteLineAsync(resolved.CanonicalJson).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
