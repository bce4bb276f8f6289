using System.Diagnostics;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// HttpClient's message for an answer it cannot read quotes the answer ("Received an invalid
/// header line: '...'", an invalid status line, a chunk header): the backend's bytes, which are
/// its result, and SPEC section 7 keeps results out of spans and logs. Such a failure is described
/// without them: in the exception event of the call's client span, and in the gateway's log lines.
/// </summary>
internal static class BackendAnswerText
{
    /// <summary>What is said of such a failure instead of HttpClient's message.</summary>
    public const string Withheld = "The backend's answer is not valid HTTP (the part of it HttpClient quoted is not recorded: it is the backend's answer)";

    private static readonly ActivityListener Listener = new()
    {
        ShouldListenTo = static source => source.Name == "System.Net.Http",
        // Samples nothing itself: the SDK's listener decides (the highest of the listeners' results wins).
        Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.None,
        // An exception.message and exception.stacktrace given here are used instead of the
        // exception's own (whose stacktrace is its ToString(): the messages again).
        ExceptionRecorder = static (Activity _, Exception exception, ref TagList tags) =>
        {
            if (QuotesTheAnswer(exception))
            {
                tags.Add("exception.message", Withheld);
                tags.Add("exception.stacktrace", $"{exception.GetType()}: {Withheld}{Environment.NewLine}{exception.StackTrace}");
            }
        },
    };

    private static int s_listening;

    /// <summary>Makes HttpClient's spans record such failures without the answer's bytes (process-wide, once).</summary>
    public static void ListenToClientSpans()
    {
        if (Interlocked.Exchange(ref s_listening, 1) == 0)
        {
            ActivitySource.AddActivityListener(Listener);
        }
    }

    /// <summary>Whether <paramref name="exception"/> (or one inside it) is HttpClient's refusal of an answer it could not read.</summary>
    public static bool QuotesTheAnswer(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.InvalidResponse } or HttpIOException { HttpRequestError: HttpRequestError.InvalidResponse })
            {
                return true;
            }
        }
        return false;
    }

    /// <summary><paramref name="exception"/> as a log line may carry it: itself, or, when it quotes the answer, one that says so without the quote.</summary>
    public static Exception ForLog(Exception exception)
        => QuotesTheAnswer(exception) ? new HttpRequestException(HttpRequestError.InvalidResponse, Withheld) : exception;
}
