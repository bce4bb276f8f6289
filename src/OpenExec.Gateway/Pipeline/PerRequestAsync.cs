using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace OpenExec.Gateway.Pipeline;

/// <summary>
/// The async method builder of the per-request steps (<c>[AsyncMethodBuilder(typeof(PerRequestAsync&lt;&gt;))]</c>
/// on a method returning <see cref="ValueTask{TResult}"/>): the framework's
/// <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/> with a pool as deep as the requests in
/// flight. That builder keeps one state machine per thread and one per core; with dozens of requests
/// in flight on two cores nearly every request found its cache empty and allocated its state
/// machines anyway (~0.7 KB per proxied request). Here each method's state machines are kept in a
/// shared bounded pool (<see cref="Capacity"/>), so once warm a request allocates none.
/// </summary>
/// <remarks>
/// The same contract as the framework's pooling builder: the returned task is awaited exactly
/// once (its state machine goes back to the pool when its result is read, and a second read throws).
/// The execution context flows as in any async method: each continuation runs in the context
/// captured when the method suspended.
/// </remarks>
internal struct PerRequestAsync<TResult>
{
    /// <summary>
    /// State machines kept per async method (at most ~0.3 MB each): enough for the requests in
    /// flight under heavy load; beyond it (up to MaxConcurrentRequests, 4 096 by default) the
    /// extra ones are allocated and dropped, as with the runtime's builder.
    /// </summary>
    public const int Capacity = 1024;

    /// <summary>Set at the first suspension; null while the method runs synchronously.</summary>
    private PerRequestBox<TResult>? _box;

    private TResult _result;

    private Exception? _exception;

    public static PerRequestAsync<TResult> Create() => default;

    public readonly ValueTask<TResult> Task
        => _box is { } box ? new ValueTask<TResult>(box, box.Version)
            : _exception is { } exception ? ValueTask.FromException<TResult>(exception)
            : new ValueTask<TResult>(_result);

    /// <summary><see cref="Task"/> without its result (a box is the source of both).</summary>
    internal readonly ValueTask ResultlessTask
        => _box is { } box ? new ValueTask(box, box.Version)
            : _exception is { } exception ? ValueTask.FromException(exception)
            : ValueTask.CompletedTask;

    // Runs the first step inline, restoring the caller's execution and synchronization contexts after.
    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
        => default(AsyncValueTaskMethodBuilder<TResult>).Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult(TResult result)
    {
        if (_box is { } box)
        {
            box.SetResult(result);
        }
        else
        {
            _result = result;
        }
    }

    public void SetException(Exception exception)
    {
        if (_box is { } box)
        {
            box.SetException(exception);
        }
        else
        {
            _exception = exception;
        }
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine
        => awaiter.OnCompleted(Suspend(ref stateMachine));

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine
        => awaiter.UnsafeOnCompleted(Suspend(ref stateMachine));

    /// <summary>
    /// Moves the state machine into a pooled box at its first suspension (this builder is then the
    /// one inside the box), and captures the context its continuation runs in.
    /// </summary>
    private Action Suspend<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
    {
        if (_box is null)
        {
            var box = PerRequestBox<TResult, TStateMachine>.Rent();
            _box = box;
            // The copy includes this builder, box set: every later step runs inside the box.
            box.StateMachine = stateMachine;
        }
        _box.Context = ExecutionContext.Capture();
        return _box.MoveNextAction;
    }
}

/// <summary>The same for methods returning a <see cref="ValueTask"/>.</summary>
internal struct PerRequestAsync
{
    private PerRequestAsync<bool> _inner;

    public static PerRequestAsync Create() => default;

    public readonly ValueTask Task => _inner.ResultlessTask;

    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
        => _inner.Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult() => _inner.SetResult(true);

    public void SetException(Exception exception) => _inner.SetException(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine
        => _inner.AwaitOnCompleted(ref awaiter, ref stateMachine);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine
        => _inner.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
}

/// <summary>The task source of a suspended per-request method: its result, its context, its continuation.</summary>
internal abstract class PerRequestBox<TResult> : IValueTaskSource<TResult>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<TResult> _core;

    protected PerRequestBox()
    {
        MoveNextAction = MoveNext;
    }

    /// <summary>The one continuation delegate of this box, for every await.</summary>
    public Action MoveNextAction { get; }

    /// <summary>The execution context the next step runs in (null: the flow was suppressed; run as is).</summary>
    public ExecutionContext? Context { get; set; }

    public short Version => _core.Version;

    public void SetResult(TResult result) => _core.SetResult(result);

    public void SetException(Exception exception) => _core.SetException(exception);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    public TResult GetResult(short token)
    {
        // A stale token (a second await of the same task) or a result not there yet throws here,
        // before anything is given back: the box may already serve another request.
        if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            throw new InvalidOperationException("The operation has not completed");
        }
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            // Read once (its result or its exception): the box goes back to its pool.
            _core.Reset();
            Context = null;
            Return();
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    protected abstract void MoveNext();

    /// <summary>Clears the state machine (its references) and gives the box back to its pool.</summary>
    protected abstract void Return();
}

internal sealed class PerRequestBox<TResult, TStateMachine> : PerRequestBox<TResult>
    where TStateMachine : IAsyncStateMachine
{
    private static readonly ConcurrentQueue<PerRequestBox<TResult, TStateMachine>> Pool = new();
    private static int _pooled;
    private static readonly ContextCallback RunStep = static box => ((PerRequestBox<TResult, TStateMachine>)box!).StateMachine.MoveNext();

    public TStateMachine StateMachine = default!;

    public static PerRequestBox<TResult, TStateMachine> Rent()
    {
        if (Pool.TryDequeue(out var box))
        {
            Interlocked.Decrement(ref _pooled);
            return box;
        }
        return new PerRequestBox<TResult, TStateMachine>();
    }

    protected override void MoveNext()
    {
        if (Context is { } context)
        {
            ExecutionContext.Run(context, RunStep, this);
        }
        else
        {
            StateMachine.MoveNext();
        }
    }

    protected override void Return()
    {
        StateMachine = default!;
        if (Interlocked.Increment(ref _pooled) <= PerRequestAsync<TResult>.Capacity)
        {
            Pool.Enqueue(this);
        }
        else
        {
            Interlocked.Decrement(ref _pooled);
        }
    }
}
