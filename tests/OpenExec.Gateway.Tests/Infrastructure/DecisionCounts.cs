using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// What <c>openexec.executions</c> (decision and action) and <c>openexec.denials</c> (code) count
/// while it listens. Meter listeners hear every gateway in the process: use it in
/// <see cref="MeterListenerCollection"/>.
/// </summary>
public sealed class DecisionCounts : IDisposable
{
    private readonly MeterListener _listener = new();

    public DecisionCounts()
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "OpenExec.Gateway" && instrument.Name is "openexec.denials" or "openexec.executions")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            string? decision = null, action = null;
            foreach (var tag in tags)
            {
                switch (instrument.Name, tag.Key)
                {
                    case ("openexec.denials", "openexec.code"):
                        Denials.Enqueue((string)tag.Value!);
                        break;
                    case ("openexec.executions", "openexec.decision"):
                        decision = (string)tag.Value!;
                        break;
                    case ("openexec.executions", "openexec.action"):
                        action = (string)tag.Value!;
                        break;
                }
            }
            if (decision is not null)
            {
                Executions.Enqueue((decision, action));
            }
        });
        _listener.Start();
    }

    /// <summary>Each <c>openexec.executions</c> measurement: its decision and action.</summary>
    public ConcurrentQueue<(string Decision, string? Action)> Executions { get; } = new();

    /// <summary>Each <c>openexec.denials</c> measurement: its code.</summary>
    public ConcurrentQueue<string> Denials { get; } = new();

    public void Dispose() => _listener.Dispose();
}
