namespace OpenExec.Cli.Infrastructure;

/// <summary>A problem the user can fix: printed as one sentence on stderr, ending the command with <see cref="ExitCode"/>.</summary>
internal sealed class CliException : Exception
{
    public CliException(int exitCode, string message) : base(message) => ExitCode = exitCode;

    public CliException(int exitCode, string message, Exception innerException) : base(message, innerException) => ExitCode = exitCode;

    public CliException() : this(ExitCodes.BadInput, "Invalid input") { }

    public CliException(string message) : this(ExitCodes.BadInput, message) { }

    public CliException(string message, Exception innerException) : this(ExitCodes.BadInput, message, innerException) { }

    public int ExitCode { get; }

    public static CliException BadInput(string message, Exception? inner = null) =>
        inner is null ? new(ExitCodes.BadInput, message) : new(ExitCodes.BadInput, message, inner);

    public static CliException Network(string message, Exception? inner = null) =>
        inner is null ? new(ExitCodes.Network, message) : new(ExitCodes.Network, message, inner);
}
