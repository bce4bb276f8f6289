namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// The system clock moved by <see cref="Offset"/>, which a test may change at any time, forward or
/// back: a gateway whose wall clock steps (a VM resumed, NTP, libfaketime) while Redis's does not.
/// Its timestamps (intervals) stay the system's, as a stepped wall clock leaves them.
/// </summary>
internal sealed class SteppedClock : TimeProvider
{
    private long _offsetTicks;

    public TimeSpan Offset
    {
        get => TimeSpan.FromTicks(Volatile.Read(ref _offsetTicks));
        set => Volatile.Write(ref _offsetTicks, value.Ticks);
    }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
}
