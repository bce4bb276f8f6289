using System.Runtime.CompilerServices;
using OpenExec.Gateway.Pipeline;

namespace OpenExec.Gateway.Tests.Pipeline;

/// <summary>
/// The per-request steps' async builder: results, exceptions and the execution context behave as
/// in any async method, and with many requests in flight their state machines are reused.
/// </summary>
public sealed class PerRequestAsyncTests
{
    private static readonly AsyncLocal<string?> Ambient = new();

    [Fact]
    public async Task A_method_that_never_suspends_returns_its_result()
    {
        Assert.Equal(42, await Immediate(41));
        await Assert.ThrowsAsync<ArgumentException>(async () => await Immediate(-1));
        await ImmediateVoid();
    }

    [Fact]
    public async Task A_method_that_suspends_returns_its_result_and_its_exception()
    {
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(i + 1, await AfterYield(i));
            var thrown = await Assert.ThrowsAsync<ArgumentException>(async () => await AfterYield(-1 - i));
            Assert.Equal($"n={-1 - i}", thrown.Message);
            await AfterYieldVoid();
        }
    }

    [Fact]
    public async Task The_execution_context_flows_into_the_method_and_not_back_out()
    {
        Ambient.Value = "caller";
        var seen = await ReadAmbientAfterDelay();
        Assert.Equal("caller|inner", seen);
        Assert.Equal("caller", Ambient.Value);
    }

    [Fact]
    public void State_machines_are_reused_with_hundreds_in_flight()
    {
        var ours = BytesPerSuspendedCall(static (gate, n) => AfterGate(gate, n));
        var framework = BytesPerSuspendedCall(static (gate, n) => AfterGateFrameworkPooling(gate, n));
        // The framework's pooling builder keeps one state machine per thread and one per core, so
        // with 300 in flight nearly every call allocates its own (a Debug build also allocates the
        // state machine's class itself, ~64 bytes, under either builder).
        Assert.True(framework - ours >= 64, $"{ours:F1} bytes per call against {framework:F1} with the framework's pooling builder");
    }

    /// <summary>Bytes this thread allocates per call with 300 calls suspended at once, once warm.</summary>
    private static double BytesPerSuspendedCall(Func<Gate, int, ValueTask<int>> call)
    {
        const int inFlight = 300;
        var gate = new Gate(inFlight);
        var tasks = new ValueTask<int>[inFlight];
        var wrong = 0;
        void Round()
        {
            for (var i = 0; i < inFlight; i++)
            {
                tasks[i] = call(gate, i);
            }
            gate.Open();
            for (var i = 0; i < inFlight; i++)
            {
                // Counted, not asserted here: the assertion itself would allocate.
                wrong += ReadAgain(tasks[i]) == i * 2 ? 0 : 1;
            }
        }
        Round();
        Round();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var r = 0; r < 10; r++)
        {
            Round();
        }
        var perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / (10.0 * inFlight);
        Assert.Equal(0, wrong);
        return perCall;
    }

    [Fact]
    public async Task A_result_read_twice_throws_and_leaves_the_reused_state_machine_alone()
    {
        var gate = new Gate(2);
        var first = AfterGate(gate, 1);
        gate.Open();
        Assert.Equal(2, await first);
        // The same state machine now serves the next call.
        var second = AfterGate(gate, 5);
        Assert.Throws<InvalidOperationException>(() => ReadAgain(first));
        gate.Open();
        Assert.Equal(10, await second);
    }

    /// <summary>Reads a completed task's result (once more).</summary>
    private static int ReadAgain(ValueTask<int> task) => task.GetAwaiter().GetResult();

    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    private static async ValueTask<int> Immediate(int n)
    {
        await Task.CompletedTask;
        return n < 0 ? throw new ArgumentException($"n={n}") : n + 1;
    }

    [AsyncMethodBuilder(typeof(PerRequestAsync))]
    private static async ValueTask ImmediateVoid() => await Task.CompletedTask;

    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    private static async ValueTask<int> AfterYield(int n)
    {
        await Task.Yield();
        return n < 0 ? throw new ArgumentException($"n={n}") : n + 1;
    }

    [AsyncMethodBuilder(typeof(PerRequestAsync))]
    private static async ValueTask AfterYieldVoid() => await Task.Yield();

    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    private static async ValueTask<string?> ReadAmbientAfterDelay()
    {
        await Task.Delay(20).ConfigureAwait(false);
        var seen = Ambient.Value;
        Ambient.Value = "inner";
        await Task.Yield();
        return $"{seen}|{Ambient.Value}";
    }

    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    private static async ValueTask<int> AfterGate(Gate gate, int n)
    {
        await gate;
        return n * 2;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<int> AfterGateFrameworkPooling(Gate gate, int n)
    {
        await gate;
        return n * 2;
    }

    /// <summary>An awaitable that holds every continuation until opened, then runs them inline.</summary>
    private sealed class Gate(int capacity) : ICriticalNotifyCompletion
    {
        private readonly List<Action> _waiting = new(capacity);

        public bool IsCompleted => false;

        public Gate GetAwaiter() => this;

        public void GetResult()
        {
        }

        public void OnCompleted(Action continuation) => _waiting.Add(continuation);

        public void UnsafeOnCompleted(Action continuation) => _waiting.Add(continuation);

        public void Open()
        {
            // The continuations run to their end inline and never wait here again.
            foreach (var continuation in _waiting)
            {
                continuation();
            }
            _waiting.Clear();
        }
    }
}
