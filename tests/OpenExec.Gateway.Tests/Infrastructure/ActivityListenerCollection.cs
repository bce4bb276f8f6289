namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// Activity listeners are process-wide: a test gateway with the OpenTelemetry SDK loaded
/// samples and reshapes the traces of every gateway in the process. Tests that assert on trace
/// context run in this collection, one at a time.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ActivityListenerCollection
{
    public const string Name = "activity listeners";
}
