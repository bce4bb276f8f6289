namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// Tests that read the process's allocation count (large-object allocations are only counted
/// process-wide) run with no other test running.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationCountCollection
{
    public const string Name = "allocation counts";
}
