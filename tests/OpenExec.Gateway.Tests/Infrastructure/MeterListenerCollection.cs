namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// Meter listeners are process-wide and hear every gateway in the process: tests that count
/// measurements run with no other test running.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeterListenerCollection
{
    public const string Name = "meter listeners";
}
